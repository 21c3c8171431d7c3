// Package config reads and writes the config.json of a speculators checkpoint
// (format-spec §2-3): typed configs for the eagle3, peagle, dflash, dspark and
// mtp algorithms, the greedy proposal, the verifier block and the draft's
// transformer_layer_config (llama, qwen3, or any HF decoder config).
//
// Writing is byte-identical to what the Python library writes, because
// transformers saves configs with json.dumps(obj, indent=2, sort_keys=True)
// plus a newline; MarshalPython reproduces that writer exactly (ensure_ascii
// escapes, Python float repr, integers kept as integers). Keys that this
// package does not know are kept and written back unchanged, and a key that
// was absent stays absent, so Load followed by Save reproduces a
// Python-written file byte for byte.
package config
