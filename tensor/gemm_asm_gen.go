//go:build ignore

// This program writes gemm_amd64.s, the SGEMM micro-kernels, and
// cpu_amd64.s, the FMA peak loops. Run it with `go generate ./tensor`.
package main

import (
	"bytes"
	"fmt"
	"log"
	"os"
)

var out bytes.Buffer

func p(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }

// kernel writes one micro-kernel: an mr×(nv·lanes) tile held in mr·nv
// accumulators; per k step it loads nv vectors of the B panel and broadcasts
// mr values of the A panel.
func kernel(name, reg string, mr, nv, lanes int, zero string) {
	vb := lanes * 4 // bytes per vector
	aStep, bStep := mr*4, nv*vb
	acc := func(i, v int) string { return fmt.Sprintf("%s%d", reg, i*nv+v) }
	nacc := mr * nv
	bReg := func(v int) string { return fmt.Sprintf("%s%d", reg, nacc+v) }
	bc := func(i int) string { return fmt.Sprintf("%s%d", reg, nacc+nv+i%2) }
	const unroll = 4

	p("// func %s(kc int, ap, bp, c *float32, ldc int, beta float32)", name)
	p("// C[%d×%d] = Ap·Bp + beta·C; C is not read when beta is ±0.", mr, nv*lanes)
	p("TEXT ·%s(SB), NOSPLIT, $0-44", name)
	p("\tMOVQ kc+0(FP), CX")
	p("\tMOVQ ap+8(FP), SI")
	p("\tMOVQ bp+16(FP), DI")
	p("\tMOVQ c+24(FP), DX")
	p("\tMOVQ ldc+32(FP), R8")
	p("\tSHLQ $2, R8")
	// Prefetch the C tile while the products run.
	p("\tMOVQ DX, R9")
	for i := 0; i < mr; i++ {
		for off := 0; off < nv*vb; off += 64 {
			p("\tPREFETCHT0 %d(R9)", off)
		}
		p("\tADDQ R8, R9")
	}
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			p("\t%s %s, %s, %s", zero, acc(i, v), acc(i, v), acc(i, v))
		}
	}
	step := func(s int) {
		for v := 0; v < nv; v++ {
			p("\tVMOVUPS %d(DI), %s", s*bStep+v*vb, bReg(v))
		}
		for i := 0; i < mr; i++ {
			p("\tVBROADCASTSS %d(SI), %s", s*aStep+i*4, bc(i))
			for v := 0; v < nv; v++ {
				p("\tVFMADD231PS %s, %s, %s", bReg(v), bc(i), acc(i, v))
			}
		}
	}
	p("\tMOVQ CX, BX")
	p("\tSHRQ $2, BX")
	p("\tANDQ $3, CX")
	p("\tTESTQ BX, BX")
	p("\tJZ %s_tail", name)
	p("%s_loop:", name)
	// Prefetch the B panel (streamed from L2) a few steps ahead; the A
	// panel stays in L1.
	for off := 0; off < unroll*bStep; off += 64 {
		p("\tPREFETCHT0 %d(DI)", 4*unroll*bStep+off)
	}
	for s := 0; s < unroll; s++ {
		step(s)
	}
	p("\tADDQ $%d, SI", unroll*aStep)
	p("\tADDQ $%d, DI", unroll*bStep)
	p("\tDECQ BX")
	p("\tJNZ %s_loop", name)
	p("%s_tail:", name)
	p("\tTESTQ CX, CX")
	p("\tJZ %s_store", name)
	p("%s_tail1:", name)
	step(0)
	p("\tADDQ $%d, SI", aStep)
	p("\tADDQ $%d, DI", bStep)
	p("\tDECQ CX")
	p("\tJNZ %s_tail1", name)
	p("%s_store:", name)
	p("\tMOVL beta+40(FP), AX")
	p("\tSHLL $1, AX")
	p("\tJZ %s_nobeta", name)
	p("\tVBROADCASTSS beta+40(FP), %s", bc(0))
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			p("\tVFMADD231PS %d(DX), %s, %s", v*vb, bc(0), acc(i, v))
			p("\tVMOVUPS %s, %d(DX)", acc(i, v), v*vb)
		}
		p("\tADDQ R8, DX")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("%s_nobeta:", name)
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			p("\tVMOVUPS %s, %d(DX)", acc(i, v), v*vb)
		}
		p("\tADDQ R8, DX")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// peak writes an FMA throughput loop: n iterations of 'accs' independent
// VFMADD231PS on registers that never leave the core.
func peak(name, reg string, accs int, zero string) {
	p("// func %s(n int)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-8", name)
	p("\tMOVQ n+0(FP), CX")
	for i := 0; i < accs+2; i++ {
		p("\t%s %s%d, %s%d, %s%d", zero, reg, i, reg, i, reg, i)
	}
	p("%s_loop:", name)
	for i := 0; i < accs; i++ {
		p("\tVFMADD231PS %s%d, %s%d, %s%d", reg, accs, reg, accs+1, reg, i)
	}
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// transpose writes the AVX-512 16×16 transposing packer: it loads 16 rows
// of 16 floats (src + x·ld, x < 16), scales them by alpha and stores row p of
// the transpose (lane x = source row x) at dst + p·ldd for p < 16, only the
// lanes set in mask.
func transpose(name string) {
	z := func(i int) string { return fmt.Sprintf("Z%d", i) }
	p("// func %s(src *float32, ld int, dst *float32, ldd int, alpha float32, mask uint16)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-38", name)
	p("\tMOVQ src+0(FP), SI")
	p("\tMOVQ ld+8(FP), R8")
	p("\tSHLQ $2, R8")
	p("\tMOVQ dst+16(FP), DI")
	p("\tMOVQ ldd+24(FP), R9")
	p("\tSHLQ $2, R9")
	p("\tVBROADCASTSS alpha+32(FP), Z31")
	p("\tMOVWLZX mask+36(FP), AX")
	p("\tKMOVW AX, K1")
	for i := 0; i < 16; i++ {
		p("\tVMULPS (SI), Z31, %s", z(i))
		p("\tADDQ R8, SI")
	}
	// r: Z0..Z15, t: Z16..Z31 (Z31 is free once the loads are scaled).
	r := func(i int) string { return z(i) }
	t := func(i int) string { return z(16 + i) }
	for i := 0; i < 8; i++ {
		p("\tVUNPCKLPS %s, %s, %s", r(2*i+1), r(2*i), t(2*i))
		p("\tVUNPCKHPS %s, %s, %s", r(2*i+1), r(2*i), t(2*i+1))
	}
	for g := 0; g < 4; g++ {
		b := 4 * g
		p("\tVUNPCKLPD %s, %s, %s", t(b+2), t(b), r(b))
		p("\tVUNPCKHPD %s, %s, %s", t(b+2), t(b), r(b+1))
		p("\tVUNPCKLPD %s, %s, %s", t(b+3), t(b+1), r(b+2))
		p("\tVUNPCKHPD %s, %s, %s", t(b+3), t(b+1), r(b+3))
	}
	for h := 0; h < 2; h++ {
		b := 8 * h
		for i := 0; i < 4; i++ {
			p("\tVSHUFF32X4 $0x88, %s, %s, %s", r(b+4+i), r(b+i), t(b+i))
			p("\tVSHUFF32X4 $0xdd, %s, %s, %s", r(b+4+i), r(b+i), t(b+4+i))
		}
	}
	for i := 0; i < 8; i++ {
		p("\tVSHUFF32X4 $0x88, %s, %s, %s", t(8+i), t(i), r(i))
		p("\tVSHUFF32X4 $0xdd, %s, %s, %s", t(8+i), t(i), r(8+i))
	}
	for i := 0; i < 16; i++ {
		p("\tVMOVUPS %s, K1, (DI)", r(i))
		p("\tADDQ R9, DI")
	}
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

// packRows writes the AVX-512 row packer: kc rows of src (ld apart) to dst
// (w apart), each row one (halves=1) or two 16-float halves loaded with
// zeroing masks (columns past cols become 0), scaled by alpha and stored
// with masks (w lanes). Masked-off lanes are never read, so the caller only
// needs the cols valid elements of each row in bounds.
func packRows(name string, halves int) {
	p("// func %s(src *float32, ld, kc int, dst *float32, w int, alpha float32, loadLo, loadHi, storeLo, storeHi uint16)", name)
	p("TEXT ·%s(SB), NOSPLIT, $0-52", name)
	p("\tMOVQ src+0(FP), SI")
	p("\tMOVQ ld+8(FP), R8")
	p("\tSHLQ $2, R8")
	p("\tMOVQ kc+16(FP), CX")
	p("\tMOVQ dst+24(FP), DI")
	p("\tMOVQ w+32(FP), R9")
	p("\tSHLQ $2, R9")
	p("\tVBROADCASTSS alpha+40(FP), Z31")
	p("\tMOVWLZX loadLo+44(FP), AX")
	p("\tKMOVW AX, K1")
	p("\tMOVWLZX loadHi+46(FP), AX")
	p("\tKMOVW AX, K2")
	p("\tMOVWLZX storeLo+48(FP), AX")
	p("\tKMOVW AX, K3")
	p("\tMOVWLZX storeHi+50(FP), AX")
	p("\tKMOVW AX, K4")
	p("\tTESTQ CX, CX")
	p("\tJZ %s_done", name)
	p("%s_loop:", name)
	p("\tVMOVUPS.Z (SI), K1, Z0")
	p("\tVMULPS Z31, Z0, Z0")
	p("\tVMOVUPS Z0, K3, (DI)")
	if halves == 2 {
		p("\tVMOVUPS.Z 64(SI), K2, Z1")
		p("\tVMULPS Z31, Z1, Z1")
		p("\tVMOVUPS Z1, K4, 64(DI)")
	}
	p("\tADDQ R8, SI")
	p("\tADDQ R9, DI")
	p("\tDECQ CX")
	p("\tJNZ %s_loop", name)
	p("%s_done:", name)
	p("\tVZEROUPPER")
	p("\tRET")
	p("")
}

func header() {
	out.Reset()
	p("// Code generated by gemm_asm_gen.go; DO NOT EDIT.")
	p("")
	p("//go:build amd64 && !purego")
	p("")
	p(`#include "textflag.h"`)
	p("")
}

func write(file string) {
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

func main() {
	header()
	kernel("sgemmKernelAVX512", "Z", 12, 2, 16, "VPXORD")
	kernel("sgemmKernelAVX2", "Y", 6, 2, 8, "VXORPS")
	transpose("transpose16AVX512")
	packRows("packRows16AVX512", 1)
	packRows("packRows32AVX512", 2)
	write("gemm_amd64.s")

	header()
	peak("fmaPeakAVX512", "Z", 24, "VPXORD")
	peak("fmaPeakAVX2", "Y", 12, "VXORPS")
	write("cpu_amd64.s")
}
