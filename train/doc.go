// Package train trains EAGLE-3 drafts as speculators' scripts/train.py does
// (training-spec §4 and §6): it reads prepared rows and the verifier's
// hidden-state files (hs_{i}.safetensors), splits them positionally into
// training and validation rows, packs them into rows of --total-seq-len
// tokens with the multipack LPT sampler, and runs the model/eagle3 forward
// and backward under Muon (2-D weights) and AdamW (the rest) or AdamW
// alone, with a warmup schedule, gradient clipping at 1.0 and per-epoch
// checkpoints in the layout of §6.4.
//
// Checkpoints are directories written under a temporary name and renamed
// into place, with a manifest of file sizes and SHA-256 sums written last, so
// a crash never leaves a directory that looks complete. Besides the files
// vLLM reads (config.json, model.safetensors in bf16), a checkpoint keeps
// the fp32 master weights and optimizer moments and the scheduler step
// (safetensors), and the data position, so a resumed run continues bit for
// bit where the uninterrupted one would be. Resume takes the newest
// checkpoint whose manifest checks out and reports the ones that do not.
//
// Progress goes to a log (one line per logged step), metrics.jsonl and
// TensorBoard event files; a PNG of the loss and per-step accuracy curves
// is drawn at the end.
package train
