package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/train"
)

func init() { commands = append(commands, newTrainCmd) }

func newTrainCmd() *cobra.Command {
	o := train.Defaults()
	var (
		specType                                    string
		hiddenAct                                   string
		noNormBeforeResidual, noNormBeforeFC        bool
		noNormOutput, noEmbedGrad, noResume, noPlot bool
	)
	cmd := &cobra.Command{
		Use:   "train --verifier-name-or-path DIR --data-path DIR --save-path DIR [flags]",
		Short: "Train an EAGLE-3 draft model on prepared data and verifier hidden states",
		Long: `train trains an EAGLE-3 draft for a verifier, as speculators' scripts/train.py
does, with the same flag names and defaults (training-spec §6.1).

Inputs under --data-path: the prepared rows ("speculators prepare", or the
data-*.arrow shards of prepare_data.py), hidden_states/hs_{i}.safetensors for
row i (hidden_states [seq, A+1, H] and token_ids), and the draft vocabulary:
--d2t-path/--t2d-path, else d2t.npy and t2d.npy, else token_freq.pt with
--draft-vocab-size (the mapping is then built and cached there). Without a
mapping the draft uses the verifier's whole vocabulary.

The first int(N·--train-data-ratio) rows train, the rest validate. Rows are
shuffled per epoch and packed into sequences of --total-seq-len tokens
(multipack LPT). Each step runs --ttt-steps training-time-test steps,
clips the gradient norm at 1.0 and steps Muon (2-D weights, lr --muon-lr,
10×--lr by default) and AdamW (the rest), or AdamW alone with
--optimizer adamw, under a linear (or cosine) warmup schedule.

Writes under --save-path: <epoch>/ checkpoints (config.json and a bf16
model.safetensors that "vllm serve" loads, optimizer and scheduler state,
training_state.json, train_command.txt, val_metrics.json, manifest.json),
epoch{E}_end and checkpoint_best links, train_command.txt, metrics.jsonl,
tensorboard/ event files and training_curves.png. Checkpoints are written
to a temporary directory and renamed, and resume (on by default) picks the
newest one whose manifest checks out. Ctrl-C saves the exact position;
re-running the same command continues bit for bit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.VerifierPath == "" {
				return &usageError{errors.New("train: --verifier-name-or-path is required")}
			}
			if specType != "eagle3" {
				return &usageError{fmt.Errorf("train: --speculator-type %q: only eagle3 is supported", specType)}
			}
			if hiddenAct != "silu" {
				return &usageError{fmt.Errorf("train: --draft-hidden-act %q: only silu is supported", hiddenAct)}
			}
			if noNormBeforeResidual {
				o.Draft.NormBeforeResidual = false
			}
			if noNormBeforeFC || o.Draft.FCNorm && !cmd.Flags().Changed("norm-before-fc") {
				o.Draft.NormBeforeFC = false
			}
			if noNormOutput {
				o.Draft.NormOutput = false
			}
			if noEmbedGrad {
				o.Draft.EmbedRequiresGrad = false
			}
			if noResume {
				o.Resume = false
			}
			o.NoPlot = noPlot
			if o.Draft.TargetLayerIDs != nil && len(o.Draft.TargetLayerIDs) == 0 {
				o.Draft.TargetLayerIDs = nil
			}
			stderr := cmd.ErrOrStderr()
			o.Log = stderr
			o.Command = trainCommand(os.Args)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sum, err := train.Run(ctx, o)
			if errors.Is(err, train.ErrInterrupted) {
				return &exitError{code: 130, err: err}
			}
			if err != nil {
				return err
			}
			if o.DryRun {
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trained %d steps over %d epochs: %d tokens at %.0f tokens/s; best validation loss %.4f (epoch %d); checkpoints in %s\n",
				sum.Steps, sum.Epochs, sum.TrainTokens, sum.TokensPerSecond, sum.BestValLoss, sum.BestEpoch, o.SavePath)
			if sum.LastVal != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "validation: loss %.4f, full_acc_0 %.3f, acceptance length estimate %.3f\n",
					sum.LastVal["loss_epoch"], sum.LastVal["full_acc_0_epoch"], sum.LastVal["acceptance_length_epoch"])
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.VerifierPath, "verifier-name-or-path", "", "verifier model directory (config.json, *.safetensors)")
	f.StringVar(&specType, "speculator-type", "eagle3", "speculator algorithm (eagle3)")
	f.StringVar(&o.FromPretrained, "from-pretrained", "", "start from this eagle3 checkpoint's weights")
	f.BoolVar(&o.DryRun, "dry-run", false, "save the initialised draft (bf16) to --save-path and exit")
	f.IntVar(&o.Draft.NumLayers, "num-layers", o.Draft.NumLayers, "draft decoder layers")
	f.StringVar(&o.Draft.Arch, "draft-arch", o.Draft.Arch, "draft decoder architecture: llama or qwen3")
	f.StringVar(&hiddenAct, "draft-hidden-act", "silu", "draft MLP activation (silu)")
	f.StringVar(&o.DataPath, "data-path", o.DataPath, "prepared data folder")
	f.StringVar(&o.HiddenStatesPath, "hidden-states-path", "", "hidden-state folder (default <data-path>/hidden_states)")
	f.StringVar(&o.SavePath, "save-path", o.SavePath, "checkpoint folder")
	f.IntVar(&o.Draft.DraftVocabSize, "draft-vocab-size", 0, "draft vocabulary size (default: the mapping's, else the verifier's)")
	f.StringVar(&o.TokenFreqPath, "token-freq-path", "", "token frequencies (default <data-path>/token_freq.pt)")
	f.StringVar(&o.D2TPath, "d2t-path", "", "draft-to-target mapping d2t.npy")
	f.StringVar(&o.T2DPath, "t2d-path", "", "target-to-draft mask t2d.npy")
	f.IntSliceVar(&o.Draft.TargetLayerIDs, "target-layer-ids", nil, "verifier aux layer ids, without the last layer (default 2,n/2,n-3)")
	f.BoolVar(&o.Draft.NormBeforeResidual, "norm-before-residual", true, "use the normalised hidden state as layer 0's residual")
	f.BoolVar(&noNormBeforeResidual, "no-norm-before-residual", false, "")
	f.BoolVar(&o.Draft.NormBeforeFC, "norm-before-fc", true, "RMSNorm over the concatenated aux states before fc")
	f.BoolVar(&noNormBeforeFC, "no-norm-before-fc", false, "")
	f.BoolVar(&o.Draft.FCNorm, "fc-norm", false, "one RMSNorm per aux state before fc (instead of --norm-before-fc)")
	f.BoolVar(&o.Draft.NormOutput, "norm-output", true, "carry the normalised output to the next TTT step")
	f.BoolVar(&noNormOutput, "no-norm-output", false, "")
	f.BoolVar(&o.Draft.EmbedRequiresGrad, "embed-requires-grad", false, "train the token embedding")
	f.BoolVar(&noEmbedGrad, "no-embed-requires-grad", false, "")
	f.IntVar(&o.Draft.TTTSteps, "ttt-steps", o.Draft.TTTSteps, "training-time-test steps (speculative tokens)")
	f.Float64Var(&o.StepLossDecay, "ttt-step-loss-decay", o.StepLossDecay, "loss weight γ^k of TTT step k")
	f.StringVar(&o.LossFn, "loss-fn", o.LossFn, `loss: kl_div, rkl, jsd, ce, tv, nla, lk_hybrid, or JSON weights like {"ce":0.1,"tv":0.9}`)
	f.IntVar(&o.Draft.SlidingWindow, "sliding-window", o.Draft.SlidingWindow, "sliding attention window (0: full attention)")
	f.IntSliceVar(&o.Draft.FullAttentionIndices, "full-attention-indices", nil, "draft layers with full attention")
	f.Float64Var(&o.CheckpointFreq, "checkpoint-freq", o.CheckpointFreq, "save every N epochs; below 1, also every that fraction of an epoch")
	f.BoolVar(&o.SaveBest, "save-best", false, "keep only the checkpoint with the best validation loss")
	f.IntVar(&o.Epochs, "epochs", o.Epochs, "training epochs")
	f.IntVar(&o.MaxSteps, "max-steps", 0, "stop after this many steps in total (0: no limit)")
	f.Float64Var(&o.Optim.LR, "lr", o.Optim.LR, "AdamW learning rate")
	f.StringVar(&o.Optim.Type, "optimizer", o.Optim.Type, "muon (Muon on 2-D weights, AdamW on the rest) or adamw")
	f.Float64Var(&o.Optim.WeightDecay, "weight-decay", o.Optim.WeightDecay, "AdamW weight decay")
	f.Float64Var(&o.Optim.MuonLR, "muon-lr", 0, "Muon learning rate (default 10×--lr)")
	f.Float64Var(&o.Optim.MuonMomentum, "muon-momentum", o.Optim.MuonMomentum, "Muon momentum")
	f.Float64Var(&o.Optim.MuonWeightDecay, "muon-weight-decay", o.Optim.MuonWeightDecay, "Muon weight decay")
	f.IntVar(&o.Optim.MuonNSSteps, "muon-ns-steps", o.Optim.MuonNSSteps, "Muon Newton-Schulz iterations")
	f.StringVar(&o.Optim.MuonAdjustLR, "muon-adjust-lr-fn", o.Optim.MuonAdjustLR, "match_rms_adamw or original")
	f.StringVar(&o.Scheduler, "scheduler-type", o.Scheduler, "learning-rate schedule: linear, cosine or none")
	f.IntVar(&o.WarmupSteps, "scheduler-warmup-steps", -1, "warmup steps (default: total/100, or --scheduler-warmup-ratio)")
	f.Float64Var(&o.WarmupRatio, "scheduler-warmup-ratio", 0, "warmup as a fraction of the total steps")
	f.IntVar(&o.TotalSteps, "scheduler-total-steps", 0, "schedule length (default epochs × batches per epoch)")
	f.Float64Var(&o.CosineCycles, "scheduler-num-cosine-cycles", o.CosineCycles, "cosine cycles")
	f.IntVar(&o.TotalSeqLen, "total-seq-len", o.TotalSeqLen, "tokens per packed training sequence")
	f.Float64Var(&o.TrainDataRatio, "train-data-ratio", o.TrainDataRatio, "fraction of rows used for training; the rest validate")
	f.Float64Var(&o.NoiseStd, "noise-std", o.NoiseStd, "half-width of the uniform noise added to aux hidden states")
	f.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the draft initialisation and the noise")
	f.IntVar(&o.LogFreq, "log-freq", o.LogFreq, "log every N steps")
	f.BoolVar(&o.Resume, "resume-from-checkpoint", true, "resume from the newest complete checkpoint in --save-path")
	f.BoolVar(&noResume, "no-resume-from-checkpoint", false, "start fresh even if --save-path has checkpoints")
	f.BoolVar(&noPlot, "no-plot", false, "skip training_curves.png")
	for _, n := range []string{"no-norm-before-residual", "no-norm-before-fc", "no-norm-output", "no-embed-requires-grad"} {
		f.Lookup(n).Hidden = true
	}
	return cmd
}

// trainCommand is train_command.txt: provenance header lines, then the
// shell-quoted command line (format-spec §8).
func trainCommand(argv []string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Timestamp: %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00"))
	sha := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				sha = s.Value
			}
		}
	}
	fmt.Fprintf(&b, "# Git SHA: %s\n", sha)
	fmt.Fprintf(&b, "# World size: 1\n")
	fmt.Fprintf(&b, "# speculators-go: %s\n", version)
	fmt.Fprintf(&b, "# go: %s\n", runtime.Version())
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	b.WriteString(strings.Join(q, " "))
	b.WriteByte('\n')
	return []byte(b.String())
}

// shellQuote quotes s as Python's shlex.quote does.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}
