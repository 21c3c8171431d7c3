package validate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/speculators-go/speculators/config"
	"github.com/speculators-go/speculators/safetensors"
)

// dtypeRank is the order of safetensors' Rust Dtype enum, by which Python's
// writer sorts tensors (descending rank, then name; format-spec §1.4).
var dtypeRank = map[safetensors.DType]int{
	safetensors.BOOL: 0, safetensors.U8: 4, safetensors.I8: 5, safetensors.F8E5M2: 6, safetensors.F8E4M3: 7,
	safetensors.F8E8M0: 8, safetensors.F8E4M3FNUZ: 9, safetensors.F8E5M2FNUZ: 10, safetensors.I16: 11,
	safetensors.U16: 12, safetensors.F16: 13, safetensors.BF16: 14, safetensors.I32: 15, safetensors.U32: 16,
	safetensors.F32: 17, safetensors.C64: 18, safetensors.F64: 19, safetensors.I64: 20, safetensors.U64: 21,
}

// checkHeaders applies format-spec §7.9 to every file: the header is what
// Python's safetensors writes (metadata {"format":"pt"} first, tensors by
// descending dtype then name, compact JSON, space padding to 8 bytes).
func (r *Report) checkHeaders(ck *safetensors.Checkpoint) {
	if ix := ck.Index(); ix != nil {
		r.checkIndex(ck, ix)
	}
	for _, f := range ck.Files() {
		key := filepath.Base(f.Path())
		meta := f.Metadata()
		if meta["format"] != "pt" {
			r.add(Error, key, "__metadata__ is %v, want {\"format\": \"pt\"} as save_pretrained writes it (format-spec §7.9); transformers rejects other formats and older releases any file without metadata", meta)
			continue
		}
		if f.HeaderLen()%8 != 0 {
			r.add(Error, key, "header length %d is not a multiple of 8 (Python pads the header with spaces)", f.HeaderLen())
		}
		ts := f.Tensors()
		sorted := slices.Clone(ts)
		slices.SortStableFunc(sorted, func(a, b safetensors.TensorInfo) int {
			if ra, rb := dtypeRank[a.DType], dtypeRank[b.DType]; ra != rb {
				return rb - ra
			}
			return strings.Compare(a.Name, b.Name)
		})
		for i := range ts {
			if ts[i].Name != sorted[i].Name {
				r.add(Error, key, "tensor data are not in Python's order (descending dtype, then name): position %d holds %q, want %q; `speculators resave` rewrites it", i, ts[i].Name, sorted[i].Name)
				break
			}
		}
		if len(meta) != 1 {
			continue // other metadata keys: their order in Python is a hash map's
		}
		got, err := readHeader(f.Path(), f.HeaderLen())
		if err != nil {
			r.add(Error, key, "reading the header: %v", err)
			continue
		}
		if want := canonicalHeader(sorted); string(got) != string(want) {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			r.add(Error, key, "header bytes differ from Python's from byte %d: %q, want %q", i+8, excerpt(got, i), excerpt(want, i))
		}
	}
}

// checkIndex compares model.safetensors.index.json with what transformers
// writes: json.dumps(indent=2, sort_keys=True) and the real total_size.
func (r *Report) checkIndex(ck *safetensors.Checkpoint, ix *safetensors.Index) {
	const key = "model.safetensors.index.json"
	var total int64
	for _, n := range ck.Names() {
		info, _ := ck.Info(n)
		total += info.NumBytes()
	}
	if ts, ok := ix.TotalSize(); !ok {
		r.add(Warning, key, "metadata.total_size is missing")
	} else if ts != total {
		r.add(Warning, key, "metadata.total_size is %d but the tensors hold %d bytes", ts, total)
	}
	data, err := readBounded(filepath.Join(ck.Dir(), key), 256<<20)
	if err != nil {
		r.add(Error, key, "%v", err)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return // the safetensors reader already accepted it; nothing more to say
	}
	if want, err := config.MarshalPython(v); err == nil && !bytes.Equal(want, data) {
		r.add(Warning, key, "not in the form transformers writes (json.dumps(indent=2, sort_keys=True)): %s", firstDiff(data, want))
	}
}

func excerpt(b []byte, i int) string {
	lo, hi := max(0, i-20), min(len(b), i+40)
	return string(b[lo:hi])
}

func readHeader(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	_, err = io.ReadFull(io.NewSectionReader(f, 8, n), b)
	return b, err
}

// canonicalHeader is the header Python writes for tensors in file order
// with metadata {"format":"pt"}: serde_json compact form, then spaces up to
// a multiple of 8 bytes.
func canonicalHeader(ts []safetensors.TensorInfo) []byte {
	b := []byte(`{"__metadata__":{"format":"pt"}`)
	var off int64
	for _, t := range ts {
		b = append(b, ',')
		b = appendSerdeString(b, t.Name)
		b = append(b, `:{"dtype":"`...)
		b = append(b, t.DType...)
		b = append(b, `","shape":[`...)
		for i, d := range t.Shape {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, d, 10)
		}
		n := t.End - t.Begin
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendInt(b, off, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, off+n, 10)
		b = append(b, "]}"...)
		off += n
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	return b
}

// appendSerdeString escapes like serde_json: \" \\ \b \f \n \r \t, other
// control characters as \u00XX, everything else (UTF-8 included) as is.
func appendSerdeString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b = append(b, `\"`...)
		case '\\':
			b = append(b, `\\`...)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			if c < 0x20 {
				b = append(b, fmt.Sprintf(`\u%04x`, c)...)
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

var expertRE = regexp.MustCompile(`\.experts\.\d+\.`)

// checkTensors compares the tensors with the config (c may be nil when the
// config could not be read: then only the config-free rules apply) and scans
// their values.
func (r *Report) checkTensors(ck *safetensors.Checkpoint, c *config.Speculator) {
	names := ck.Names()
	// §7.8: names nobody may write.
	forbidden := map[string]bool{}
	for _, n := range names {
		var why string
		switch {
		case n == "verifier_lm_head.weight" || n == "verifier_norm.weight":
			why = "the verifier's own weights are never saved (_keys_to_ignore_on_save); vLLM rejects the name"
		case strings.HasSuffix(n, ".inv_freq") || n == "inv_freq":
			why = "rotary inv_freq is a non-persistent buffer and is never saved"
		case strings.HasPrefix(n, "model."):
			why = "speculators tensor names carry no \"model.\" prefix; vLLM adds it itself and would load \"model.model.…\""
		case strings.HasPrefix(n, "midlayer."):
			why = "this is the research EAGLE-3 layout (midlayer.* is layers.0.* in speculators); `speculators convert` converts it"
		case expertRE.MatchString(n):
			why = "MoE experts must be stored fused (experts.gate_up_proj, experts.down_proj)"
		}
		if why != "" {
			forbidden[n] = true
			r.add(Error, n, "forbidden tensor: %s", why)
		}
	}
	var specs []TensorSpec
	if c != nil && layoutUsable(c) {
		specs = Layout(c)
	}
	byName := map[string]TensorSpec{}
	for _, s := range specs {
		byName[s.Name] = s
	}
	floatDTypes := map[safetensors.DType][]string{}
	for _, n := range names {
		info, _ := ck.Info(n)
		if info.DType.IsFloat() {
			floatDTypes[info.DType] = append(floatDTypes[info.DType], n)
		}
		if forbidden[n] {
			continue
		}
		s, ok := byName[n]
		if c != nil && specs != nil && !ok {
			if !Allowed(c, n) {
				r.add(Error, n, "unexpected tensor for a %s draft with this config; vLLM's loader rejects names it does not know", c.SpeculatorsModelType)
			}
			continue
		}
		if !ok {
			continue
		}
		switch s.Kind {
		case Float:
			if !info.DType.IsFloat() {
				r.add(Error, n, "dtype %s, want a float dtype", info.DType)
			}
		case Int64:
			if info.DType != safetensors.I64 {
				r.add(Error, n, "dtype %s, want I64", info.DType)
			}
		case Bool:
			if info.DType != safetensors.BOOL {
				r.add(Error, n, "dtype %s, want BOOL", info.DType)
			}
		}
		if !slices.Equal(info.Shape, s.Shape) {
			r.add(Error, n, "shape %v, want %v", info.Shape, s.Shape)
		}
	}
	for _, s := range specs {
		if _, ok := ck.Info(s.Name); !ok && s.Required {
			why := ""
			if s.Why != "" {
				why = " (required by " + s.Why + ")"
			}
			r.add(Error, s.Name, "missing tensor%s, shape %v", why, s.Shape)
		}
		if _, ok := ck.Info(s.Name); !ok && !s.Required && s.Why == "enable_confidence_head" {
			r.add(Warning, s.Name, "absent although enable_confidence_head is true; vLLM then drops the confidence head")
		}
	}
	if c != nil && specs != nil {
		r.checkVocabPresence(ck, c)
		r.checkDTypes(c, floatDTypes)
		r.checkVocab(ck, c)
		if c.SpeculatorsModelType == "mtp" {
			for _, n := range []string{"embed_tokens.weight", "lm_head.weight"} {
				if _, ok := ck.Info(n); ok {
					r.add(Warning, n, "mtp drafts share the verifier's; the Python model does not save it")
				}
			}
		}
	}
	initRange := 0.02
	if c != nil {
		if f, err := c.TransformerLayerConfig.InitializerRange.Float64(); err == nil && f > 0 {
			initRange = f
		}
	}
	r.scanAll(ck, names, initRange)
}

// scanAll scans the float tensors' values on all CPUs; findings keep the
// order of names.
func (r *Report) scanAll(ck *safetensors.Checkpoint, names []string, initRange float64) {
	var floats []string
	for _, n := range names {
		if info, _ := ck.Info(n); info.DType.IsFloat() {
			floats = append(floats, n)
		}
	}
	results := make([]Report, len(floats))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), len(floats)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				n := floats[i]
				info, _ := ck.Info(n)
				b, err := ck.Bytes(n)
				if err != nil {
					results[i].add(Error, n, "%v", err)
					continue
				}
				results[i].scanValues(n, info, b, initRange)
			}
		}()
	}
	for i := range floats {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, res := range results {
		r.Findings = append(r.Findings, res.Findings...)
	}
}

// layoutUsable reports whether the layer config gives meaningful shapes.
func layoutUsable(c *config.Speculator) bool {
	l := &c.TransformerLayerConfig
	return l.HiddenSize > 0 && l.NumAttentionHeads > 0 && l.KVHeads() > 0 && l.HeadDimension() > 0 &&
		l.IntermediateSize > 0 && l.VocabSize > 0 && c.DraftVocabSize() > 0
}

// checkVocabPresence: d2t and t2d exist iff draft_vocab_size != vocab_size (§7.5).
func (r *Report) checkVocabPresence(ck *safetensors.Checkpoint, c *config.Speculator) {
	if c.DraftVocabSize() != c.TransformerLayerConfig.VocabSize {
		return
	}
	for _, n := range []string{"d2t", "t2d"} {
		if _, ok := ck.Info(n); ok {
			r.add(Error, n, "present although draft_vocab_size equals vocab_size (%d): the mapping exists only for a reduced vocabulary (format-spec §7.5; vLLM's dflash loader rejects it)", c.DraftVocabSize())
		}
	}
}

// checkDTypes: one float dtype, matching the config's dtype key (§7.20).
func (r *Report) checkDTypes(c *config.Speculator, floats map[safetensors.DType][]string) {
	if len(floats) > 1 {
		var parts []string
		for _, d := range sortedKeys(floats) {
			parts = append(parts, fmt.Sprintf("%s (%d tensors, e.g. %s)", d, len(floats[d]), floats[d][0]))
		}
		// Name a tensor of the rarest dtype: the likely odd one out.
		rare := sortedKeys(floats)[0]
		for d, ns := range floats {
			if len(ns) < len(floats[rare]) || (len(ns) == len(floats[rare]) && d < rare) {
				rare = d
			}
		}
		r.add(Warning, floats[rare][0], "float tensors have mixed dtypes: %s; writers cast every float tensor to one dtype", strings.Join(parts, ", "))
	}
	want := c.FloatDType()
	if want == "" || len(floats) == 0 {
		return
	}
	for _, d := range sortedKeys(floats) {
		ns := floats[d]
		if d.TorchName() != want {
			key := "dtype"
			if c.DType == "" {
				key = "torch_dtype"
			}
			r.add(Error, key, "%q but tensor %s (and %d more) is %s", want, ns[0], len(ns)-1, d)
		}
	}
}

// checkVocab applies the d2t/t2d invariants of format-spec §4.6.
func (r *Report) checkVocab(ck *safetensors.Checkpoint, c *config.Speculator) {
	di, ok1 := ck.Info("d2t")
	ti, ok2 := ck.Info("t2d")
	if !ok1 || !ok2 || di.DType != safetensors.I64 || ti.DType != safetensors.BOOL || len(di.Shape) != 1 || len(ti.Shape) != 1 {
		return // missing or mistyped: already reported
	}
	d2t, err := ck.Int64("d2t")
	if err != nil {
		r.add(Error, "d2t", "%v", err)
		return
	}
	tb, err := ck.Bytes("t2d")
	if err != nil {
		r.add(Error, "t2d", "%v", err)
		return
	}
	V, Vd := len(tb), len(d2t)
	pop := 0
	for j, v := range tb {
		switch v {
		case 0:
		case 1:
			pop++
		default:
			r.add(Error, "t2d", "element %d is byte %#x; BOOL elements must be 0 or 1", j, v)
			return
		}
	}
	if pop != Vd {
		r.add(Error, "t2d", "has %d true entries, want draft_vocab_size %d (len(d2t))", pop, Vd)
	}
	prev := int64(-1)
	for i, off := range d2t {
		id := int64(i) + off
		switch {
		case id < 0 || id >= int64(V):
			r.add(Error, "d2t", "entry %d: draft id %d maps to verifier id %d (= i + d2t[i]), outside [0, %d)", i, i, id, V)
			return
		case id <= prev:
			r.add(Error, "d2t", "entry %d: verifier ids i + d2t[i] must be strictly increasing, but %d follows %d", i, id, prev)
			return
		case tb[id] != 1:
			r.add(Error, "d2t", "entry %d: verifier id %d (= i + d2t[i]) is not marked in t2d", i, id)
			return
		}
		prev = id
	}
}
