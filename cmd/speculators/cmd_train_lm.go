package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/internal/atomicfile"
	"github.com/speculators-go/speculators/lmtrain"
	"github.com/speculators-go/speculators/model/llama"
	"github.com/speculators-go/speculators/tokenizer"
)

func init() { commands = append(commands, newTrainLMCmd) }

func newTrainLMCmd() *cobra.Command {
	var (
		modelCfg, tokDir, output, ckptDir, sep string
		inputs, valid                          []string
		o                                      lmtrain.Options
		seqLen, batchTokens                    int
		seed                                   uint64
		resume                                 bool
	)
	cmd := &cobra.Command{
		Use:   "train-lm --model-config JSON|DIR --tokenizer DIR --input FILE... --output DIR",
		Short: "Pretrain a small Llama model from scratch on the CPU (builds the bundled verifier)",
		Long: `Train a Llama-architecture causal LM (config.json given by --model-config:
hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
num_key_value_heads, vocab_size = the tokenizer's size, rope_theta, ...) on
text files split into documents at --doc-sep. Each step packs --batch-tokens
positions of whole documents (cut at --seq-len) with document-masked
attention and positions restarting per document; AdamW (betas 0.9, 0.95),
linear warm-up and cosine decay to --min-lr, gradient clipping at 1.

Progress lines give loss, learning rate, gradient norm and tokens/s. Every
--checkpoint-every steps the validation loss (--valid) is printed and the
full state (weights, moments, data cursor) is written atomically to
--checkpoint-dir; --resume continues from it. At the end --output holds a
Hugging Face model: config.json, model.safetensors (bf16),
generation_config.json, tokenizer.json, tokenizer_config.json, which is
reloaded with the verifier runtime as a check.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if modelCfg == "" || tokDir == "" || len(inputs) == 0 || output == "" {
				return &usageError{errors.New("train-lm: need --model-config, --tokenizer, --input and --output")}
			}
			if o.Steps <= 0 || seqLen <= 1 || batchTokens < seqLen || o.LR <= 0 || o.Warmup < 0 {
				return &usageError{errors.New("train-lm: need --steps > 0, --seq-len > 1, --batch-tokens ≥ --seq-len, --lr > 0")}
			}
			log := cmd.ErrOrStderr()
			o.Log, o.Clip = log, 1
			if ckptDir == "" {
				ckptDir = filepath.Join(output, "checkpoint")
			}
			tok, err := tokenizer.LoadDir(tokDir)
			if err != nil {
				return err
			}
			cfgMap, cfg, err := loadTrainConfig(modelCfg, tok, seqLen)
			if err != nil {
				return err
			}
			d, err := lmtrain.DimsOf(cfg)
			if err != nil {
				return err
			}
			docs, err := lmtrain.LoadDocs(tok, inputs, sep, seqLen)
			if err != nil {
				return err
			}
			var vp *lmtrain.Packer
			if len(valid) > 0 {
				vd, err := lmtrain.LoadDocs(tok, valid, sep, seqLen)
				if err != nil {
					return err
				}
				vp = &lmtrain.Packer{Docs: vd, T: batchTokens, Seed: 0}
			}
			var ntok int
			for _, d := range docs {
				ntok += len(d)
			}
			m, err := lmtrain.New(d, batchTokens, seed)
			if err != nil {
				return err
			}
			var nparam int
			for _, p := range m.Params {
				nparam += len(p.W)
			}
			fmt.Fprintf(log, "train-lm: %d parameters; %d documents, %d tokens; %d tokens per step, %d steps (%.2f epochs)\n",
				nparam, len(docs), ntok, batchTokens, o.Steps, float64(o.Steps*batchTokens)/float64(ntok))
			tr := lmtrain.NewTrainer(m, &lmtrain.Packer{Docs: docs, T: batchTokens, Seed: seed}, vp, o)
			if resume {
				ok, err := tr.LoadCheckpoint(ckptDir)
				if err != nil {
					return err
				}
				if ok {
					fmt.Fprintf(log, "train-lm: resumed at step %d from %s\n", tr.Step, ckptDir)
				}
			}
			start := time.Now()
			if err := tr.Run(ckptDir); err != nil {
				return err
			}
			vl, err := tr.Eval()
			if err != nil {
				return err
			}
			if err := m.SaveHF(output, cfgMap); err != nil {
				return err
			}
			if err := writeGenerationConfig(output, tok); err != nil {
				return err
			}
			for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
				if err := copyModelFile(filepath.Join(tokDir, f), filepath.Join(output, f)); err != nil {
					return err
				}
			}
			if err := checkSaved(output, docs[0]); err != nil {
				return err
			}
			fmt.Fprintf(log, "train-lm: done: %d steps in %s, valid loss %.4f (uniform %.4f) -> %s\n",
				tr.Step, time.Since(start).Round(time.Second), vl, math.Log(float64(d.V)), output)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelCfg, "model-config", "", "config.json (or a directory holding one) giving the model sizes")
	f.StringVar(&tokDir, "tokenizer", "", "directory with tokenizer.json and tokenizer_config.json")
	f.StringSliceVar(&inputs, "input", nil, "training text files")
	f.StringSliceVar(&valid, "valid", nil, "validation text files")
	f.StringVar(&output, "output", "", "output model directory")
	f.StringVar(&ckptDir, "checkpoint-dir", "", "resumable state directory (default OUTPUT/checkpoint)")
	f.StringVar(&sep, "doc-sep", "<|endoftext|>", "document separator in the input text")
	f.IntVar(&o.Steps, "steps", 1000, "optimizer steps")
	f.IntVar(&o.Warmup, "warmup", 50, "warm-up steps")
	f.IntVar(&seqLen, "seq-len", 256, "maximum tokens per document")
	f.IntVar(&batchTokens, "batch-tokens", 4096, "packed tokens per step")
	f.Float64Var(&o.LR, "lr", 2e-3, "peak learning rate")
	f.Float64Var(&o.MinLR, "min-lr", 1e-4, "final learning rate")
	f.Float64Var(&o.WeightDecay, "weight-decay", 0.1, "AdamW weight decay on 2-D weights")
	f.IntVar(&o.CheckpointEvery, "checkpoint-every", 100, "steps between checkpoints (0 = none)")
	f.IntVar(&o.LogEvery, "log-every", 10, "steps between progress lines")
	f.Uint64Var(&seed, "seed", 1, "initialisation and data-order seed")
	f.BoolVar(&resume, "resume", false, "continue from --checkpoint-dir when it holds a state")
	return cmd
}

// loadTrainConfig reads the model config, fills the token ids and dtype from
// the tokenizer, checks vocab_size against it and resolves it.
func loadTrainConfig(path string, tok *tokenizer.Tokenizer, seqLen int) (map[string]any, *llama.Config, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "config.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(b) > 1<<20 {
		return nil, nil, fmt.Errorf("train-lm: %s: larger than 1 MiB", path)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("train-lm: %s: %w", path, err)
	}
	if bos := tok.BOS(); bos >= 0 {
		m["bos_token_id"] = bos
	}
	if eos := tok.EOS(); eos >= 0 {
		m["eos_token_id"] = eos
	}
	if _, ok := m["max_position_embeddings"]; !ok {
		m["max_position_embeddings"] = seqLen
	}
	m["torch_dtype"] = "bfloat16"
	nb, err := json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := llama.ParseConfig(nb, path)
	if err != nil {
		return nil, nil, err
	}
	if cfg.VocabSize != tok.VocabSize() {
		return nil, nil, fmt.Errorf("train-lm: %s: vocab_size %d, tokenizer has %d", path, cfg.VocabSize, tok.VocabSize())
	}
	return m, cfg, nil
}

func writeGenerationConfig(dir string, tok *tokenizer.Tokenizer) error {
	g := map[string]any{"do_sample": false, "transformers_version": "4.46.0"}
	if bos := tok.BOS(); bos >= 0 {
		g["bos_token_id"] = bos
	}
	eos := []int{}
	if e := tok.EOS(); e >= 0 {
		eos = append(eos, e)
	}
	if p := tok.Pad(); p >= 0 && (len(eos) == 0 || p != eos[0]) {
		eos = append(eos, p)
		g["pad_token_id"] = p
	}
	g["eos_token_id"] = eos
	return lmtrain.WriteJSON(filepath.Join(dir, "generation_config.json"), g)
}

func copyModelFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.Write(dst, 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// checkSaved reloads the saved model with the verifier runtime and runs one
// document through it.
func checkSaved(dir string, doc []int32) error {
	m, err := llama.Load(dir)
	if err != nil {
		return fmt.Errorf("train-lm: saved model does not load: %w", err)
	}
	out, err := m.NewState(1).ForwardSeq(0, doc, llama.ForwardOptions{Logits: llama.LogitsAll})
	if err != nil {
		return fmt.Errorf("train-lm: saved model forward: %w", err)
	}
	for _, v := range out.Logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("train-lm: saved model gives non-finite logits")
		}
	}
	return nil
}
