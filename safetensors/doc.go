// Package safetensors reads and writes the safetensors checkpoint format
// (single files and Hugging Face sharded directories).
//
// Reading memory-maps the file and validates the header as hostile input
// with the same rules as the Rust reference implementation (huggingface/
// safetensors), plus a few stricter ones (duplicate names, unknown dtypes).
// Tensors are decoded lazily, one at a time.
//
// Writing is streaming (a tensor's bytes may come from a callback, so a
// checkpoint larger than memory can be written) and produces the same bytes
// as Python's safetensors.torch.save_file; sharded directories get the same
// file names, shard split and model.safetensors.index.json as transformers'
// save_pretrained. Every file is written under a temporary name, fsynced and
// renamed, so a crash never leaves a file that looks complete.
package safetensors
