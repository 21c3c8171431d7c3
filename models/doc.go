// Package models holds the bundled verifier, models/fortune-llama: a
// 7.9M-parameter Llama (8 layers, hidden 256) trained by this project (scripts/build_verifier.sh) on
// the Debian fortunes as ChatML conversations, with its own 2048-token BPE
// tokenizer. It is the verifier of `speculators quickstart`. The package has
// no code; its tests check the committed model.
package models
