// Package convert turns research checkpoints of speculative-decoding drafts
// into the speculators format (format-spec §5): EAGLE-3 (SafeAILab,
// SpecForge, NVIDIA, AngelSlim), EAGLE-1/HASS (historical eagle form), z-lab
// DFlash, and native MTP heads of Qwen3-Next/Qwen3.5 verifiers; and stitches
// a finetuned MTP head back into its verifier.
//
// Sources are Hugging Face directories (or hub ids already in the local
// cache) holding model.safetensors, sharded safetensors with an index, or
// PyTorch pytorch_model.bin / *.pt files, read with the restricted unpickler
// of package pytorch. Renames are tables of patterns (Rule). Every source
// tensor is either mapped into the output or dropped with a logged reason;
// a tensor the converter cannot place, or a required tensor that is missing,
// is an error naming it — never a random initialisation.
//
// Conversion streams: each output tensor is a list of byte ranges of source
// tensors (Output, Piece), written through the safetensors streaming writer
// in 128 KiB chunks, so memory stays near one chunk whatever the model size.
//
// Shape legend: H hidden, V verifier vocabulary, Vd draft vocabulary, A aux
// layers, Hq heads*head_dim, Hkv kv_heads*head_dim, I intermediate, E experts.
package convert
