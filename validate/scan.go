package validate

import (
	"encoding/binary"
	"math"
	"strings"

	"github.com/speculators-go/speculators/safetensors"
)

// scanValues reports NaN/Inf elements (an error) and weights that look
// untrained (a warning; see the package doc for the rules).
func (r *Report) scanValues(name string, info safetensors.TensorInfo, b []byte, initRange float64) {
	n := info.NumElements()
	if n == 0 {
		return
	}
	bad, first, nonzero := scanFinite(info.DType, b)
	if bad > 0 {
		r.add(Error, name, "%d of %d elements are NaN or Inf (first at flat index %d)", bad, n, first)
		return
	}
	if !nonzero {
		r.add(Warning, name, "every element is zero: looks untrained")
		return
	}
	if n < 1024 || isNorm(name) {
		return
	}
	st := sampleStats(info.DType, b, int(n), 1<<20)
	near := func(x, want, rel float64) bool { return math.Abs(x-want) <= rel*want }
	for _, sigma := range []float64{initRange, 1} {
		if near(st.std, sigma, 0.05) && math.Abs(st.mean) <= 0.05*sigma && math.Abs(st.kurt) <= 0.25 {
			r.add(Warning, name, "looks untrained: the statistics of a fresh normal(0, %g) init (mean %.3g, std %.4g, excess kurtosis %.2f over %d samples)", sigma, st.mean, st.std, st.kurt, st.n)
			return
		}
	}
	if len(info.Shape) >= 2 {
		fanIn := float64(info.Shape[len(info.Shape)-1])
		bound := 1 / math.Sqrt(fanIn)
		if near(st.std, bound/math.Sqrt(3), 0.05) && math.Abs(st.kurt+1.2) <= 0.25 && st.maxAbs <= bound*(1+1.0/128) {
			r.add(Warning, name, "looks untrained: the statistics of nn.Linear's default init, uniform(±1/√%d = ±%.4g) (std %.4g, excess kurtosis %.2f, max |x| %.4g)", int(fanIn), bound, st.std, st.kurt, st.maxAbs)
		}
	}
}

func isNorm(name string) bool {
	return strings.Contains(name, "norm.") || strings.Contains(name, "layernorm") || strings.HasSuffix(name, "norm.weight")
}

// scanFinite counts NaN/Inf elements and reports whether any element is
// nonzero (ignoring the sign of zero). 16-bit types are checked four at a
// time in 64-bit words.
func scanFinite(d safetensors.DType, b []byte) (bad int64, first int64, nonzero bool) {
	first = -1
	switch d {
	case safetensors.BF16, safetensors.F16:
		expMask := uint16(0x7f80)
		if d == safetensors.F16 {
			expMask = 0x7c00
		}
		m4 := uint64(expMask) * 0x0001000100010001
		const ones = 0x0001000100010001
		const highs = 0x8000800080008000
		const mag = 0x7fff7fff7fff7fff
		var or uint64
		nw := len(b) / 8
		for w := 0; w < nw; w++ {
			x := binary.LittleEndian.Uint64(b[8*w:])
			or |= x & mag
			// A lane is NaN/Inf iff its exponent bits are all set, i.e.
			// (x & m) ^ m has a zero lane; the lanes of y never use bit
			// 15, so the classic zero-lane test is exact for "any".
			y := (x & m4) ^ m4
			if (y-ones)&^y&highs != 0 {
				for k := 0; k < 4; k++ {
					if uint16(x>>(16*k))&expMask == expMask {
						if first < 0 {
							first = int64(4*w + k)
						}
						bad++
					}
				}
			}
		}
		for i := 8 * nw; i+1 < len(b); i += 2 {
			v := binary.LittleEndian.Uint16(b[i:])
			or |= uint64(v & 0x7fff)
			if v&expMask == expMask {
				if first < 0 {
					first = int64(i / 2)
				}
				bad++
			}
		}
		return bad, first, or != 0
	case safetensors.F32:
		for i := 0; i+3 < len(b); i += 4 {
			v := binary.LittleEndian.Uint32(b[i:])
			if v&0x7fffffff != 0 {
				nonzero = true
			}
			if v&0x7f800000 == 0x7f800000 {
				if first < 0 {
					first = int64(i / 4)
				}
				bad++
			}
		}
	case safetensors.F64:
		for i := 0; i+7 < len(b); i += 8 {
			v := binary.LittleEndian.Uint64(b[i:])
			if v&0x7fffffffffffffff != 0 {
				nonzero = true
			}
			if v&0x7ff0000000000000 == 0x7ff0000000000000 {
				if first < 0 {
					first = int64(i / 8)
				}
				bad++
			}
		}
	}
	return bad, first, nonzero
}

type stats struct {
	n                       int
	mean, std, kurt, maxAbs float64
}

// sampleStats computes mean, std, excess kurtosis and max |x| over at most
// max evenly spaced elements.
func sampleStats(d safetensors.DType, b []byte, n, max int) stats {
	step := 1
	if n > max {
		step = (n + max - 1) / max
	}
	at := func(i int) float64 {
		switch d {
		case safetensors.BF16:
			return float64(safetensors.BF16ToFloat32(binary.LittleEndian.Uint16(b[2*i:])))
		case safetensors.F16:
			return float64(safetensors.F16ToFloat32(binary.LittleEndian.Uint16(b[2*i:])))
		case safetensors.F32:
			return float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		default:
			return math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
	}
	var s stats
	var sum float64
	for i := 0; i < n; i += step {
		sum += at(i)
		s.n++
	}
	s.mean = sum / float64(s.n)
	var m2, m4 float64
	for i := 0; i < n; i += step {
		x := at(i)
		dx := x - s.mean
		m2 += dx * dx
		m4 += dx * dx * dx * dx
		s.maxAbs = math.Max(s.maxAbs, math.Abs(x))
	}
	m2 /= float64(s.n)
	m4 /= float64(s.n)
	s.std = math.Sqrt(m2)
	if m2 > 0 {
		s.kurt = m4/(m2*m2) - 3
	}
	return s
}
