package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/speculators-go/speculators/vocab"
)

func init() { commands = append(commands, newVocabCmd) }

func newVocabCmd() *cobra.Command {
	var (
		freqPath, modelPath, outPath string
		draftSize, verifierSize      int
	)
	cmd := &cobra.Command{
		Use:   "vocab --token-freq FILE --draft-vocab-size N (--target-vocab-size V | --target-model-path DIR) --output-path OUT",
		Short: "Choose the draft vocabulary from token frequencies (d2t.npy, t2d.npy)",
		Long: `vocab picks the draft model's vocabulary: the N most frequent supervised
tokens of the prepared data (ties go to the smaller id; if fewer than N
distinct tokens were seen, the smallest unused ids fill the rest), exactly as
speculators' build_vocab_mapping.py does.

--token-freq is the token_freq.pt that "speculators prepare" (or speculators'
prepare_data.py) writes, or a JSON object {"token_id": count}.
The verifier vocabulary size V comes from --target-vocab-size or from
vocab_size in DIR/config.json (text_config.vocab_size for VLMs).

Writes OUT/d2t.npy (int64 offsets: verifier id = i + d2t[i]) and OUT/t2d.npy
(bool membership mask over the verifier vocabulary), in NumPy's .npy format.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if freqPath == "" || outPath == "" || draftSize == 0 {
				return &usageError{errors.New("vocab: --token-freq, --draft-vocab-size and --output-path are required")}
			}
			if (verifierSize == 0) == (modelPath == "") {
				return &usageError{errors.New("vocab: give exactly one of --target-vocab-size and --target-model-path")}
			}
			if modelPath != "" {
				v, err := vocab.VerifierVocabSize(modelPath)
				if err != nil {
					return err
				}
				verifierSize = v
			}
			freq, err := vocab.ReadTokenFreq(freqPath)
			if err != nil {
				return err
			}
			m, err := vocab.Build(freq, draftSize, verifierSize)
			if err != nil {
				return err
			}
			if err := m.Save(outPath); err != nil {
				return err
			}
			var covered, total int64
			for id, n := range freq {
				total += n
				if m.T2D[id] {
					covered += n
				}
			}
			pct := 0.0
			if total > 0 {
				pct = 100 * float64(covered) / float64(total)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "draft vocabulary: %d of %d verifier tokens; %d distinct tokens seen; covers %.2f%% of %d supervised tokens\nwrote %s/d2t.npy and %s/t2d.npy\n",
				draftSize, verifierSize, len(freq), pct, total, outPath, outPath)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&freqPath, "token-freq", "", "token frequency file (token_freq.pt or JSON)")
	f.IntVar(&draftSize, "draft-vocab-size", 0, "draft vocabulary size N")
	f.IntVar(&verifierSize, "target-vocab-size", 0, "verifier vocabulary size V")
	f.StringVar(&modelPath, "target-model-path", "", "verifier model directory (reads vocab_size from config.json)")
	f.StringVar(&outPath, "output-path", "", "output directory for d2t.npy and t2d.npy")
	return cmd
}
