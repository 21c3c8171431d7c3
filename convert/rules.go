package convert

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Rule renames tensors: From and To are patterns where "{n}" stands for a
// run of decimal digits (a layer or expert index) that is carried over. A
// pattern ending in "." (or containing {n} followed by ".") renames a
// prefix; otherwise the whole name must match. The first matching rule wins,
// so tables list the specific rules first.
type Rule struct{ From, To string }

// Apply returns the renamed name and whether a rule matched.
func Apply(rules []Rule, name string) (string, bool) {
	for _, r := range rules {
		if out, ok := r.apply(name); ok {
			return out, true
		}
	}
	return name, false
}

func (r Rule) apply(name string) (string, bool) {
	prefix := strings.HasSuffix(r.From, ".")
	pre, post, hasN := strings.Cut(r.From, "{n}")
	if !hasN {
		if prefix {
			if rest, ok := strings.CutPrefix(name, r.From); ok {
				return r.To + rest, true
			}
			return "", false
		}
		if name == r.From {
			return r.To, true
		}
		return "", false
	}
	rest, ok := strings.CutPrefix(name, pre)
	if !ok {
		return "", false
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || (i > 1 && rest[0] == '0') {
		return "", false
	}
	digits, rest := rest[:i], rest[i:]
	if prefix {
		if rest, ok = strings.CutPrefix(rest, post); !ok {
			return "", false
		}
	} else if rest != post {
		return "", false
	} else {
		rest = ""
	}
	return strings.Replace(r.To, "{n}", digits, 1) + rest, true
}

// Invert swaps From and To of every rule (stitch-mtp undoes the mtp renames).
func Invert(rules []Rule) []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = Rule{r.To, r.From}
	}
	return out
}

// spec is one tensor a converted checkpoint may hold.
type spec struct {
	shape    []int64
	required bool
}

// schema is the set of tensors an algorithm's checkpoint holds, with shapes
// derived from its config (format-spec §4).
type schema map[string]spec

func (s schema) need(name string, shape ...int64) { s[name] = spec{shape, true} }
func (s schema) may(name string, shape ...int64)  { s[name] = spec{shape, false} }

// check verifies outputs against the schema: every output is known and has
// the expected shape, every required tensor is present. origin names the
// source tensor an output name came from, for the messages.
func (s schema) check(outs []Output, origin func(string) string) error {
	var probs []string
	have := map[string]bool{}
	for _, o := range outs {
		if have[o.Name] {
			probs = append(probs, fmt.Sprintf("tensor %s produced twice", o.Name))
		}
		have[o.Name] = true
		sp, ok := s[o.Name]
		if !ok {
			probs = append(probs, fmt.Sprintf("unexpected tensor %s (from source %s): not part of the converted model", o.Name, strings.Join(o.Sources(), "+")))
			continue
		}
		if sp.shape != nil && !slices.Equal(sp.shape, o.Shape) {
			probs = append(probs, fmt.Sprintf("tensor %s (from source %s) has shape %v, the config implies %v", o.Name, strings.Join(o.Sources(), "+"), o.Shape, sp.shape))
		}
	}
	var missing []string
	for name, sp := range s {
		if sp.required && !have[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		from := ""
		if origin != nil {
			if o := origin(m); o != "" && o != m {
				from = " (source name " + o + ")"
			}
		}
		probs = append(probs, fmt.Sprintf("missing required tensor %s%s", m, from))
	}
	if len(probs) > 0 {
		return fmt.Errorf("%s", strings.Join(probs, "\n  "))
	}
	return nil
}
