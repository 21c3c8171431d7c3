package safetensors

import "testing"

// Expected values follow transformers' convert_file_size_to_int
// (GB = 10^9, GiB = 2^30, a lowercase final "b" means bits).
func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"5GB": 5_000_000_000, "500MB": 500_000_000, "2GiB": 2 << 30, "10KB": 10_000,
		"1kib": 1024, "3MiB": 3 << 20, "1TB": 1e12, "1TiB": 1 << 40, "1PB": 1e15,
		"5Gb": 625_000_000, "8Mb": 1_000_000, "1000": 1000, "0": 0, " 5GB ": 5e9,
		"1.5GB": 1_500_000_000, "0.5GiB": 1 << 29,
	}
	for s, want := range good {
		got, err := ParseSize(s)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "GB", "5XB", "-1GB", "abc", "1e3GB", "5 G", "NaNGB", "-5", "99999999999PB"} {
		if v, err := ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", s, v)
		}
	}
}
