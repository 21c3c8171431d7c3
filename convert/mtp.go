package convert

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// MTPRules rename a native MTP head (Qwen3-Next, Qwen3.5) to the speculators
// mtp layout (format-spec §5.3 step 2, in order).
var MTPRules = []Rule{
	{"mtp.fc.weight", "mtp_layers.0.input_proj.weight"},
	{"mtp.norm.weight", "mtp_layers.0.final_layernorm.weight"},
	{"mtp.pre_fc_norm_hidden.", "mtp_layers.0.hidden_layernorm."},
	{"mtp.pre_fc_norm_embedding.", "mtp_layers.0.token_layernorm."},
	{"mtp.layers.0.", "mtp_layers.0."},
}

var expertRE = regexp.MustCompile(`^(.+\.experts)\.(\d+)\.(gate_proj|up_proj|down_proj)\.weight$`)

// mtpDroppedConfigKeys are bookkeeping keys not carried into
// transformer_layer_config.
var mtpDroppedConfigKeys = []string{"architectures", "auto_map", "transformers_version", "_name_or_path", "torch_dtype", "dtype"}

// mtp extracts the MTP head of a verifier checkpoint (format-spec §5.3).
// Only mtp.* tensors are read; the rest of the verifier is out of scope.
func (j *job) mtp() error {
	steps, err := intOr(j.opts.Kwargs, "num_speculative_steps", 3)
	if err != nil {
		return err
	}
	if steps < 1 {
		return fmt.Errorf("num_speculative_steps %d, must be >= 1", steps)
	}
	j.ignored = func(n string) bool { return !strings.HasPrefix(n, "mtp.") }
	var names []string
	for _, n := range j.src.Names() {
		if strings.HasPrefix(n, "mtp.") {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("no mtp.* tensors: %s has no native MTP head", j.srcDir)
	}
	renamed := map[string]*Tensor{}
	from := map[string]string{}
	for _, n := range names {
		to, _ := Apply(MTPRules, n)
		if strings.HasPrefix(n, "mtp.layers.") && !strings.HasPrefix(n, "mtp.layers.0.") {
			return fmt.Errorf("%s: only one MTP layer (num_nextn_predict_layers 1) is supported", n)
		}
		t, _ := j.src.Tensor(n)
		renamed[to] = t
		from[to] = n
	}
	outs, err := fuseExperts(renamed)
	if err != nil {
		return err
	}
	j.outs = outs
	inv := Invert(MTPRules)
	j.origin = func(out string) string { o, _ := Apply(inv, out); return o }
	for _, o := range outs {
		if o.DType.IsFloat() {
			j.dtype = o.DType // the Python converter casts to the first float dtype
			break
		}
	}
	for _, o := range outs {
		if o.DType.IsFloat() && o.DType != j.dtype {
			j.logf("warning: mixed float dtypes (%s and %s); writing %s", o.DType, j.dtype, j.dtype)
			break
		}
	}

	layer := j.srcCfg
	if tc, ok := j.srcCfg["text_config"].(map[string]any); ok {
		layer = tc
	}
	l := map[string]any{}
	for k, v := range layer {
		if !slices.Contains(mtpDroppedConfigKeys, k) {
			l[k] = v
		}
	}
	if _, err := matchHidden(l, j.verCfg, "source"); err != nil {
		return err
	}
	if n, ok, err := getInt(l, "num_nextn_predict_layers"); err == nil && ok && n != 1 {
		return fmt.Errorf("num_nextn_predict_layers %d: only 1 is supported", n)
	}
	j.cfg = map[string]any{
		"architectures":            []any{"MTPDraftModel"},
		"auto_map":                 map[string]any{"": "config.MTPSpeculatorConfig"},
		"num_nextn_predict_layers": 1,
		"speculators_config":       speculatorsConfig("mtp", steps, j.opts.Verifier, verifierArchitectures(j.verCfg, []any{})),
		"speculators_model_type":   "mtp",
		"tie_word_embeddings":      false,
		"transformer_layer_config": l,
	}
	return nil
}

// fuseExperts stacks per-expert gate/up/down projections into
// <prefix>.gate_up_proj [E, 2I, H] (gate rows before up rows for each
// expert) and <prefix>.down_proj [E, H, I] (§5.3 step 3); other tensors pass
// through. Output order is by name.
func fuseExperts(in map[string]*Tensor) ([]Output, error) {
	type expert struct{ gate, up, down *Tensor }
	groups := map[string]map[int]*expert{}
	var outs []Output
	for _, name := range sortedNames(in) {
		t := in[name]
		m := expertRE.FindStringSubmatch(name)
		if m == nil {
			outs = append(outs, whole(name, t))
			continue
		}
		e, err := strconv.Atoi(m[2])
		if err != nil || e > 1<<16 {
			return nil, fmt.Errorf("%s: bad expert index", name)
		}
		if groups[m[1]] == nil {
			groups[m[1]] = map[int]*expert{}
		}
		g := groups[m[1]]
		if g[e] == nil {
			g[e] = &expert{}
		}
		switch m[3] {
		case "gate_proj":
			g[e].gate = t
		case "up_proj":
			g[e].up = t
		case "down_proj":
			g[e].down = t
		}
	}
	for _, prefix := range sortedNames(groups) {
		g := groups[prefix]
		idx := make([]int, 0, len(g))
		for e := range g {
			idx = append(idx, e)
		}
		sort.Ints(idx)
		for i, e := range idx {
			if i != e {
				return nil, fmt.Errorf("%s: Non-contiguous expert indices %v (want 0..%d)", prefix, idx, len(idx)-1)
			}
		}
		var gu, down Output
		for _, e := range idx {
			x := g[e]
			if x.gate == nil || x.up == nil || x.down == nil {
				return nil, fmt.Errorf("%s.%d: expert lacks one of gate_proj, up_proj, down_proj", prefix, e)
			}
			first := g[0]
			for _, p := range [][2]*Tensor{{x.gate, first.gate}, {x.up, first.gate}, {x.down, first.down}} {
				if len(p[0].Shape) != 2 || !slices.Equal(p[0].Shape, p[1].Shape) || p[0].DType != p[1].DType {
					return nil, fmt.Errorf("%s: expert %d tensor %s is %s %v, expert 0 has %s %v", prefix, e, p[0].Name, p[0].DType, p[0].Shape, p[1].DType, p[1].Shape)
				}
			}
			gu.Pieces = append(gu.Pieces, Piece{x.gate, 0, x.gate.NumBytes()}, Piece{x.up, 0, x.up.NumBytes()})
			down.Pieces = append(down.Pieces, Piece{x.down, 0, x.down.NumBytes()})
		}
		E := int64(len(idx))
		f := g[0]
		gu.Name, gu.DType, gu.Shape = prefix+".gate_up_proj", f.gate.DType, []int64{E, 2 * f.gate.Shape[0], f.gate.Shape[1]}
		down.Name, down.DType, down.Shape = prefix+".down_proj", f.down.DType, []int64{E, f.down.Shape[0], f.down.Shape[1]}
		outs = append(outs, gu, down)
	}
	return outs, nil
}
