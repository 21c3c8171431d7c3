package dataset

import "math/bits"

// Shuffling reproduces Hugging Face datasets' Dataset.shuffle(seed), which is
// numpy.random.default_rng(seed).permutation(n): a SeedSequence seeds a
// PCG64 generator, and permutation runs a Fisher-Yates shuffle drawing
// with numpy's random_interval. With the same seed, prepare therefore keeps
// and orders rows as speculators' prepare_data.py does.

// seedSequence returns the 4-word pool of numpy.random.SeedSequence(seed).
func seedSequence(seed uint64) [4]uint32 {
	const (
		initA = 0x43b0d7e5
		multA = 0x931e8875
		mixL  = 0xca01f9dd
		mixR  = 0x4973f715
	)
	entropy := []uint32{uint32(seed)}
	if hi := uint32(seed >> 32); hi != 0 {
		entropy = append(entropy, hi)
	}
	hc := uint32(initA)
	hashmix := func(v uint32) uint32 {
		v ^= hc
		hc *= multA
		v *= hc
		return v ^ v>>16
	}
	mix := func(x, y uint32) uint32 {
		r := mixL*x - mixR*y
		return r ^ r>>16
	}
	var pool [4]uint32
	for i := range pool {
		if i < len(entropy) {
			pool[i] = hashmix(entropy[i])
		} else {
			pool[i] = hashmix(0)
		}
	}
	for src := range pool {
		for dst := range pool {
			if src != dst {
				pool[dst] = mix(pool[dst], hashmix(pool[src]))
			}
		}
	}
	return pool
}

// pcg64 is numpy's PCG64 (XSL-RR 128/64) with its 32-bit buffering.
type pcg64 struct {
	hi, lo       uint64 // state
	incHi, incLo uint64
	has32        bool
	buf32        uint32
}

const pcgMulHi, pcgMulLo = 2549297995355413924, 4865540595714422341

func newPCG64(seed uint64) *pcg64 {
	pool := seedSequence(seed)
	// generate_state(4, uint64): 8 words from the pool, pairs read little-endian.
	const initB, multB = 0x8b51f9dd, 0x58f38ded
	hc := uint32(initB)
	var w [8]uint32
	for i := range w {
		v := pool[i%4] ^ hc
		hc *= multB
		v *= hc
		w[i] = v ^ v>>16
	}
	var v [4]uint64
	for i := range v {
		v[i] = uint64(w[2*i]) | uint64(w[2*i+1])<<32
	}
	// pcg64_set_seed: state = v[0]:v[1], inc = v[2]:v[3]; srandom_r.
	g := &pcg64{}
	g.incHi = v[2]<<1 | v[3]>>63
	g.incLo = v[3]<<1 | 1
	g.step()
	var c uint64
	g.lo, c = bits.Add64(g.lo, v[1], 0)
	g.hi, _ = bits.Add64(g.hi, v[0], c)
	g.step()
	return g
}

func (g *pcg64) step() {
	hi, lo := bits.Mul64(g.lo, pcgMulLo)
	hi += g.hi*pcgMulLo + g.lo*pcgMulHi
	var c uint64
	g.lo, c = bits.Add64(lo, g.incLo, 0)
	g.hi, _ = bits.Add64(hi, g.incHi, c)
}

func (g *pcg64) next64() uint64 {
	g.step()
	return bits.RotateLeft64(g.hi^g.lo, -int(g.hi>>58))
}

func (g *pcg64) next32() uint32 {
	if g.has32 {
		g.has32 = false
		return g.buf32
	}
	n := g.next64()
	g.has32, g.buf32 = true, uint32(n>>32)
	return uint32(n)
}

// interval is numpy's random_interval: uniform in [0, max] by masked
// rejection.
func (g *pcg64) interval(max uint64) uint64 {
	if max == 0 {
		return 0
	}
	mask := max
	mask |= mask >> 1
	mask |= mask >> 2
	mask |= mask >> 4
	mask |= mask >> 8
	mask |= mask >> 16
	mask |= mask >> 32
	if max <= 0xffffffff {
		for {
			if v := uint64(g.next32()) & mask; v <= max {
				return v
			}
		}
	}
	for {
		if v := g.next64() & mask; v <= max {
			return v
		}
	}
}

// permutation is numpy.random.default_rng(seed).permutation(n).
func permutation(n int, seed uint64) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	g := newPCG64(seed)
	for i := n - 1; i >= 1; i-- {
		j := int(g.interval(uint64(i)))
		p[i], p[j] = p[j], p[i]
	}
	return p
}
