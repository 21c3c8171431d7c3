//go:build amd64 && !purego

#include "textflag.h"

// func dotAVX2(a, b *float32, n int) float32
// Σ a[i]·b[i] for i < n, n a multiple of 32; four ymm accumulators.
TEXT ·dotAVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SHRQ $5, CX
	JZ dotdone

dotloop:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ dotloop

dotdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func axpyAVX2(a float32, x, y *float32, n int)
// y[i] += a·x[i] for i < n, n a multiple of 16.
TEXT ·axpyAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Y0
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
	SHRQ $4, CX
	JZ axpydone

axpyloop:
	VMOVUPS (DI), Y1
	VMOVUPS 32(DI), Y2
	VFMADD231PS (SI), Y0, Y1
	VFMADD231PS 32(SI), Y0, Y2
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ axpyloop

axpydone:
	VZEROUPPER
	RET

// func dotBF16AVX2(a *float32, w *uint16, n int) float32
// Σ a[i]·float32(w[i]) for bfloat16 bits w, i < n, n a multiple of 32; the
// same four accumulators and reduction as dotAVX2, so a bf16 weight row
// gives bit-for-bit the dot of its float32 widening.
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SHRQ $5, CX
	JZ bfdone

bfloop:
	VPMOVZXWD (DI), Y4
	VPMOVZXWD 16(DI), Y5
	VPMOVZXWD 32(DI), Y6
	VPMOVZXWD 48(DI), Y7
	VPSLLD $16, Y4, Y4
	VPSLLD $16, Y5, Y5
	VPSLLD $16, Y6, Y6
	VPSLLD $16, Y7, Y7
	VFMADD231PS (SI), Y4, Y0
	VFMADD231PS 32(SI), Y5, Y1
	VFMADD231PS 64(SI), Y6, Y2
	VFMADD231PS 96(SI), Y7, Y3
	ADDQ $128, SI
	ADDQ $64, DI
	DECQ CX
	JNZ bfloop

bfdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func dot4x2AVX2(x *float32, ldx int, w *float32, ldw int, n int, out *float32)
// out[2r+c] = Σ x[r·ldx+i]·w[c·ldw+i] for r < 4, c < 2, i < n, n a multiple
// of 16: four rows of x against two weight rows. Each x vector feeds two
// FMAs, so the loop is bound by the FMA units rather than by loads (one
// accumulator per output, eight in flight covers the FMA latency).
TEXT ·dot4x2AVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ ldx+8(FP), R8
	SHLQ $2, R8
	MOVQ w+16(FP), DI
	MOVQ ldw+24(FP), BX
	SHLQ $2, BX
	ADDQ DI, BX
	MOVQ n+32(FP), CX
	MOVQ out+40(FP), DX
	LEAQ (SI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	XORQ AX, AX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	SHRQ $4, CX
	JZ d42done

d42loop:
	VMOVUPS (DI)(AX*1), Y8
	VMOVUPS (BX)(AX*1), Y9
	VMOVUPS (SI)(AX*1), Y10
	VMOVUPS (R9)(AX*1), Y11
	VMOVUPS (R10)(AX*1), Y12
	VMOVUPS (R11)(AX*1), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y1
	VFMADD231PS Y11, Y8, Y2
	VFMADD231PS Y11, Y9, Y3
	VFMADD231PS Y12, Y8, Y4
	VFMADD231PS Y12, Y9, Y5
	VFMADD231PS Y13, Y8, Y6
	VFMADD231PS Y13, Y9, Y7
	VMOVUPS 32(DI)(AX*1), Y8
	VMOVUPS 32(BX)(AX*1), Y9
	VMOVUPS 32(SI)(AX*1), Y10
	VMOVUPS 32(R9)(AX*1), Y11
	VMOVUPS 32(R10)(AX*1), Y12
	VMOVUPS 32(R11)(AX*1), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y1
	VFMADD231PS Y11, Y8, Y2
	VFMADD231PS Y11, Y9, Y3
	VFMADD231PS Y12, Y8, Y4
	VFMADD231PS Y12, Y9, Y5
	VFMADD231PS Y13, Y8, Y6
	VFMADD231PS Y13, Y9, Y7
	ADDQ $64, AX
	DECQ CX
	JNZ d42loop

d42done:
	// Horizontal sums: pairwise hadds bring the eight accumulators down to
	// one ymm of eight totals, in output order.
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y5, Y4, Y4
	VHADDPS Y7, Y6, Y6
	VHADDPS Y2, Y0, Y0
	VHADDPS Y6, Y4, Y4
	VPERM2F128 $0x20, Y4, Y0, Y1
	VPERM2F128 $0x31, Y4, Y0, Y2
	VADDPS Y2, Y1, Y1
	VMOVUPS Y1, (DX)
	VZEROUPPER
	RET

// func dot4x2BF16AVX2(x *float32, ldx int, w *uint16, ldw int, n int, out *float32)
// dot4x2AVX2 with bfloat16 weight rows, widened once per 8 lanes; the same
// accumulators and reduction, so a bf16 weight gives bit for bit the
// result of its float32 widening.
TEXT ·dot4x2BF16AVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ ldx+8(FP), R8
	SHLQ $2, R8
	MOVQ w+16(FP), DI
	MOVQ ldw+24(FP), BX
	SHLQ $1, BX
	ADDQ DI, BX
	MOVQ n+32(FP), CX
	LEAQ (SI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	XORQ AX, AX
	XORQ DX, DX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	SHRQ $4, CX
	JZ b42done

b42loop:
	VPMOVZXWD (DI)(DX*1), Y8
	VPMOVZXWD (BX)(DX*1), Y9
	VPSLLD $16, Y8, Y8
	VPSLLD $16, Y9, Y9
	VMOVUPS (SI)(AX*1), Y10
	VMOVUPS (R9)(AX*1), Y11
	VMOVUPS (R10)(AX*1), Y12
	VMOVUPS (R11)(AX*1), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y1
	VFMADD231PS Y11, Y8, Y2
	VFMADD231PS Y11, Y9, Y3
	VFMADD231PS Y12, Y8, Y4
	VFMADD231PS Y12, Y9, Y5
	VFMADD231PS Y13, Y8, Y6
	VFMADD231PS Y13, Y9, Y7
	VPMOVZXWD 16(DI)(DX*1), Y8
	VPMOVZXWD 16(BX)(DX*1), Y9
	VPSLLD $16, Y8, Y8
	VPSLLD $16, Y9, Y9
	VMOVUPS 32(SI)(AX*1), Y10
	VMOVUPS 32(R9)(AX*1), Y11
	VMOVUPS 32(R10)(AX*1), Y12
	VMOVUPS 32(R11)(AX*1), Y13
	VFMADD231PS Y10, Y8, Y0
	VFMADD231PS Y10, Y9, Y1
	VFMADD231PS Y11, Y8, Y2
	VFMADD231PS Y11, Y9, Y3
	VFMADD231PS Y12, Y8, Y4
	VFMADD231PS Y12, Y9, Y5
	VFMADD231PS Y13, Y8, Y6
	VFMADD231PS Y13, Y9, Y7
	ADDQ $64, AX
	ADDQ $32, DX
	DECQ CX
	JNZ b42loop

b42done:
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y5, Y4, Y4
	VHADDPS Y7, Y6, Y6
	VHADDPS Y2, Y0, Y0
	VHADDPS Y6, Y4, Y4
	VPERM2F128 $0x20, Y4, Y0, Y1
	VPERM2F128 $0x31, Y4, Y0, Y2
	VADDPS Y2, Y1, Y1
	MOVQ out+40(FP), DX
	VMOVUPS Y1, (DX)
	VZEROUPPER
	RET

// func dot4x2AVX512(x *float32, ldx int, w *float32, ldw int, n int, out *float32)
// dot4x2AVX2 on 16 lanes: twice the work per FMA, which is what bounds the
// four-row kernel (verification and short prefills). n is a multiple of 16.
TEXT ·dot4x2AVX512(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ ldx+8(FP), R8
	SHLQ $2, R8
	MOVQ w+16(FP), DI
	MOVQ ldw+24(FP), BX
	SHLQ $2, BX
	ADDQ DI, BX
	MOVQ n+32(FP), CX
	LEAQ (SI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	XORQ AX, AX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	SHRQ $4, CX
	JZ e42done

e42loop:
	VMOVUPS (DI)(AX*1), Z8
	VMOVUPS (BX)(AX*1), Z9
	VMOVUPS (SI)(AX*1), Z10
	VMOVUPS (R9)(AX*1), Z11
	VMOVUPS (R10)(AX*1), Z12
	VMOVUPS (R11)(AX*1), Z13
	VFMADD231PS Z10, Z8, Z0
	VFMADD231PS Z10, Z9, Z1
	VFMADD231PS Z11, Z8, Z2
	VFMADD231PS Z11, Z9, Z3
	VFMADD231PS Z12, Z8, Z4
	VFMADD231PS Z12, Z9, Z5
	VFMADD231PS Z13, Z8, Z6
	VFMADD231PS Z13, Z9, Z7
	ADDQ $64, AX
	DECQ CX
	JNZ e42loop

e42done:
	MOVQ out+40(FP), DX
	JMP reduce4x2zmm<>(SB)

// func dot4x2BF16AVX512(x *float32, ldx int, w *uint16, ldw int, n int, out *float32)
// dot4x2AVX512 with bfloat16 weight rows: the same accumulators and
// reduction, so a bf16 weight gives bit for bit the result of its float32
// widening.
TEXT ·dot4x2BF16AVX512(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ ldx+8(FP), R8
	SHLQ $2, R8
	MOVQ w+16(FP), DI
	MOVQ ldw+24(FP), BX
	SHLQ $1, BX
	ADDQ DI, BX
	MOVQ n+32(FP), CX
	LEAQ (SI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	XORQ AX, AX
	XORQ DX, DX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	VXORPS Z4, Z4, Z4
	VXORPS Z5, Z5, Z5
	VXORPS Z6, Z6, Z6
	VXORPS Z7, Z7, Z7
	SHRQ $4, CX
	JZ f42done

f42loop:
	VPMOVZXWD (DI)(DX*1), Z8
	VPMOVZXWD (BX)(DX*1), Z9
	VPSLLD $16, Z8, Z8
	VPSLLD $16, Z9, Z9
	VMOVUPS (SI)(AX*1), Z10
	VMOVUPS (R9)(AX*1), Z11
	VMOVUPS (R10)(AX*1), Z12
	VMOVUPS (R11)(AX*1), Z13
	VFMADD231PS Z10, Z8, Z0
	VFMADD231PS Z10, Z9, Z1
	VFMADD231PS Z11, Z8, Z2
	VFMADD231PS Z11, Z9, Z3
	VFMADD231PS Z12, Z8, Z4
	VFMADD231PS Z12, Z9, Z5
	VFMADD231PS Z13, Z8, Z6
	VFMADD231PS Z13, Z9, Z7
	ADDQ $64, AX
	ADDQ $32, DX
	DECQ CX
	JNZ f42loop

f42done:
	MOVQ out+40(FP), DX
	JMP reduce4x2zmm<>(SB)

// reduce4x2zmm folds the eight zmm accumulators Z0-Z7 to ymm and stores
// their eight totals, in output order, at (DX); the tail of the two
// AVX-512 four-row kernels.
TEXT reduce4x2zmm<>(SB), NOSPLIT|NOFRAME, $0
	VEXTRACTF64X4 $1, Z0, Y8
	VEXTRACTF64X4 $1, Z1, Y9
	VEXTRACTF64X4 $1, Z2, Y10
	VEXTRACTF64X4 $1, Z3, Y11
	VEXTRACTF64X4 $1, Z4, Y12
	VEXTRACTF64X4 $1, Z5, Y13
	VEXTRACTF64X4 $1, Z6, Y14
	VEXTRACTF64X4 $1, Z7, Y15
	VADDPS Y8, Y0, Y0
	VADDPS Y9, Y1, Y1
	VADDPS Y10, Y2, Y2
	VADDPS Y11, Y3, Y3
	VADDPS Y12, Y4, Y4
	VADDPS Y13, Y5, Y5
	VADDPS Y14, Y6, Y6
	VADDPS Y15, Y7, Y7
	VHADDPS Y1, Y0, Y0
	VHADDPS Y3, Y2, Y2
	VHADDPS Y5, Y4, Y4
	VHADDPS Y7, Y6, Y6
	VHADDPS Y2, Y0, Y0
	VHADDPS Y6, Y4, Y4
	VPERM2F128 $0x20, Y4, Y0, Y1
	VPERM2F128 $0x31, Y4, Y0, Y2
	VADDPS Y2, Y1, Y1
	VMOVUPS Y1, (DX)
	VZEROUPPER
	RET

// func dotAVX512(a, b *float32, n int) float32
// dotAVX2 on 16 lanes: Σ a[i]·b[i] for i < n, n a multiple of 64; four
// zmm accumulators.
TEXT ·dotAVX512(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	SHRQ $6, CX
	JZ zdotdone

zdotloop:
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ $256, SI
	ADDQ $256, DI
	DECQ CX
	JNZ zdotloop

zdotdone:
	JMP reduce4zmm<>(SB)

// func dotBF16AVX512(a *float32, w *uint16, n int) float32
// dotAVX512 with bfloat16 weights: the same accumulators and reduction, so
// a bf16 weight row gives bit for bit the dot of its float32 widening.
TEXT ·dotBF16AVX512(SB), NOSPLIT, $0-28
	MOVQ a+0(FP), SI
	MOVQ w+8(FP), DI
	MOVQ n+16(FP), CX
	VXORPS Z0, Z0, Z0
	VXORPS Z1, Z1, Z1
	VXORPS Z2, Z2, Z2
	VXORPS Z3, Z3, Z3
	SHRQ $6, CX
	JZ zbfdone

zbfloop:
	VPMOVZXWD (DI), Z4
	VPMOVZXWD 32(DI), Z5
	VPMOVZXWD 64(DI), Z6
	VPMOVZXWD 96(DI), Z7
	VPSLLD $16, Z4, Z4
	VPSLLD $16, Z5, Z5
	VPSLLD $16, Z6, Z6
	VPSLLD $16, Z7, Z7
	VFMADD231PS (SI), Z4, Z0
	VFMADD231PS 64(SI), Z5, Z1
	VFMADD231PS 128(SI), Z6, Z2
	VFMADD231PS 192(SI), Z7, Z3
	ADDQ $256, SI
	ADDQ $128, DI
	DECQ CX
	JNZ zbfloop

zbfdone:
	JMP reduce4zmm<>(SB)

// reduce4zmm sums the four zmm accumulators Z0-Z3 and returns the total
// as the float32 result of a (a, b *, n int) float32 function.
TEXT reduce4zmm<>(SB), NOSPLIT|NOFRAME, $0
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET
