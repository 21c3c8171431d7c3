package safetensors

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize reads a shard size the way transformers' max_shard_size does
// (utils/hub.py convert_file_size_to_int): a plain integer is bytes; KB,
// MB, GB, TB, PB are powers of 10 and KiB, MiB, GiB, TiB, PiB powers of 2
// (case-insensitive); a decimal unit spelled with a lowercase final "b"
// ("5Gb") means bits and is divided by 8. Fractions ("1.5GB") are accepted
// as huggingface_hub's parse_size_to_int does.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseInt(s, 10, 64); err == nil && v >= 0 {
		return v, nil
	}
	units := []struct {
		suffix string
		mult   float64
		binary bool
	}{
		{"PIB", 1 << 50, true}, {"TIB", 1 << 40, true}, {"GIB", 1 << 30, true}, {"MIB", 1 << 20, true}, {"KIB", 1 << 10, true},
		{"PB", 1e15, false}, {"TB", 1e12, false}, {"GB", 1e9, false}, {"MB", 1e6, false}, {"KB", 1e3, false},
	}
	up := strings.ToUpper(s)
	for _, u := range units {
		if !strings.HasSuffix(up, u.suffix) {
			continue
		}
		num := strings.TrimSpace(s[:len(s)-len(u.suffix)])
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || strings.ContainsAny(num, "eExXpP_") {
			return 0, fmt.Errorf("invalid size %q: expected a number before %s", s, s[len(s)-len(u.suffix):])
		}
		n := v * u.mult
		if !u.binary && strings.HasSuffix(s, "b") {
			n = math.Floor(n) / 8
		}
		if n >= math.MaxInt64 {
			return 0, fmt.Errorf("invalid size %q: too large", s)
		}
		return int64(n), nil
	}
	return 0, fmt.Errorf("invalid size %q: use bytes or a unit like 5GB, 500MB, 2GiB", s)
}
