// Package validate checks a speculators checkpoint directory against the
// whole contract of format-spec §6-7: the config schema, the tensor names,
// shapes and dtypes the config implies, the d2t/t2d vocabulary mapping,
// what vLLM needs to load the draft, the canonical bytes Python writes, a
// NaN/Inf scan, and a warning for weights that look untrained.
//
// Every finding names the config key, tensor or file it is about. Errors
// are contract violations (vLLM or the Python library would reject the
// checkpoint or misread it, or it breaks a rule of format-spec §7); warnings
// are legal but suspicious.
//
// Two error classes concern bytes rather than meaning: a config.json that is
// not exactly json.dumps(indent=2, sort_keys=True) with Python float repr
// (§7.1), and a safetensors header that is not what Python's writer makes
// (§7.9: metadata {"format":"pt"} first, descending dtype then name, compact
// JSON, space padding). vLLM would load such files, but §7 makes them rules
// and `speculators resave` rewrites them canonically. The format "pt"
// metadata matters beyond bytes: transformers rejects other formats, and
// its older releases reject files without metadata.
//
// # Untrained-weight heuristics
//
// A tensor gets a warning when:
//   - every element is zero (any tensor; a trained weight or bias is never
//     exactly zero throughout);
//   - a weight with at least 1024 elements (not a norm) has the statistics of a
//     fresh initialisation, measured on up to 2^20 evenly spaced elements:
//     normal(0, σ) for σ = initializer_range (HF _init_weights, 0.02 by
//     default) or σ = 1 (nn.Embedding's default): std within 5% of σ, mean
//     within 0.05σ of 0 and excess kurtosis within 0.25 of 0; or PyTorch's
//     nn.Linear default kaiming_uniform(a=√5), uniform on ±1/√fan_in:
//     std within 5% of bound/√3, excess kurtosis within 0.25 of -1.2 and no
//     sampled element beyond the bound (plus bf16 rounding).
//
// With 2^20 samples the standard error of the kurtosis is about 0.005, so a
// fresh init never escapes these bands, while trained weights drift in scale
// and grow heavy tails (positive kurtosis) within a few hundred steps.
// RMSNorm weights that are exactly all ones are not flagged: that is their
// init, but also what a norm that is not trained (a converted checkpoint's
// input_norm, a frozen layer) legitimately holds.
package validate
