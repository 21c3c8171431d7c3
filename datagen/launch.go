package datagen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/speculators-go/speculators/config"
)

// LaunchOptions describe a vLLM server for hidden-state extraction
// (training-spec §2.2, speculators' scripts/launch_vllm.py).
type LaunchOptions struct {
	Model            string   // model directory or Hub id, passed to vllm serve
	NumLayers        int      // N; 0 reads num_hidden_layers from Model/config.json
	TargetLayerIDs   []int    // aux ids; nil uses [2, N/2, N-3]
	IncludeLastLayer bool     // append N to custom ids (the default ids always end with N)
	HiddenStatesPath string   // the file connector's shared_storage_path
	Python           string   // interpreter (default python3)
	VLLMArgs         []string // forwarded after the generated flags
}

// NumHiddenLayers reads num_hidden_layers from a model directory's
// config.json (text_config's for multimodal models).
func NumHiddenLayers(dir string) (int, error) {
	p := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("datagen: %w", err)
	}
	var cfg struct {
		N          *int `json:"num_hidden_layers"`
		TextConfig *struct {
			N *int `json:"num_hidden_layers"`
		} `json:"text_config"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return 0, fmt.Errorf("datagen: %s: %w", p, err)
	}
	n := cfg.N
	if cfg.TextConfig != nil && cfg.TextConfig.N != nil {
		n = cfg.TextConfig.N
	}
	if n == nil || *n < 1 || *n > 10000 {
		return 0, fmt.Errorf("datagen: %s: no valid num_hidden_layers", p)
	}
	return *n, nil
}

// CaptureLayers returns the ids vLLM captures: [2, N/2, N-3, N] by
// default; custom ids get N appended unless present or includeLast is off.
func CaptureLayers(n int, target []int, includeLast bool) ([]int, error) {
	if target == nil {
		return []int{2, n / 2, n - 3, n}, nil
	}
	out := append([]int(nil), target...)
	has := false
	for _, id := range out {
		if id < 0 || id > n {
			return nil, fmt.Errorf("datagen: layer id %d outside [0, %d]", id, n)
		}
		has = has || id == n
	}
	if includeLast && !has {
		out = append(out, n)
	}
	return out, nil
}

// LaunchCommand returns the argv of the vllm serve command, with the
// speculative and KV-transfer configs serialised as Python's json.dumps
// does (", " and ": " separators, insertion order).
func LaunchCommand(o LaunchOptions) ([]string, error) {
	if o.Model == "" {
		return nil, errors.New("datagen: no model")
	}
	n := o.NumLayers
	if n == 0 {
		var err error
		if n, err = NumHiddenLayers(o.Model); err != nil {
			return nil, fmt.Errorf("%w (give the layer count with --num-layers for a model that is not a local directory)", err)
		}
	}
	ids, err := CaptureLayers(n, o.TargetLayerIDs, o.IncludeLastLayer)
	if err != nil {
		return nil, err
	}
	path := o.HiddenStatesPath
	if path == "" {
		path = filepath.Join(os.TempDir(), "hidden_states")
	}
	py := o.Python
	if py == "" {
		py = "python3"
	}
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = strconv.Itoa(id)
	}
	spec := `{"method": "extract_hidden_states", "num_speculative_tokens": 1, "draft_model_config": {"hf_config": {"eagle_aux_hidden_state_layer_ids": [` +
		strings.Join(strs, ", ") + `]}}}`
	kv := `{"kv_connector": "ExampleHiddenStatesConnector", "kv_role": "kv_producer", "kv_connector_extra_config": {"shared_storage_path": ` +
		string(config.AppendPyString(nil, path, true)) + `}}`
	argv := []string{py, "-m", "vllm.entrypoints.cli.main", "serve", o.Model, "--speculative_config", spec, "--kv_transfer_config", kv}
	return append(argv, o.VLLMArgs...), nil
}

// ShellQuote joins argv for a POSIX shell.
func ShellQuote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
		}) < 0 {
			out[i] = a
		} else {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(out, " ")
}
