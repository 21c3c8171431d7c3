//go:build amd64 && !purego

#include "textflag.h"

// func adamwAVX2(w, gr, m, v *float32, n int, p *adamwScalars)
// One AdamW step on n elements (n a multiple of 8), in PyTorch's order:
//   G = g·gscale; m = m·β1 + G·(1−β1); v = v·β2 + (1−β2)·G·G
//   w = w·decay − step·m/(√v/√bc2 + eps)
TEXT ·adamwAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DI
	MOVQ gr+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ p+40(FP), AX
	VBROADCASTSS 0(AX), Y0  // gscale
	VBROADCASTSS 4(AX), Y1  // β1
	VBROADCASTSS 8(AX), Y2  // 1−β1
	VBROADCASTSS 12(AX), Y3 // β2
	VBROADCASTSS 16(AX), Y4 // 1−β2
	VBROADCASTSS 20(AX), Y5 // √bc2
	VBROADCASTSS 24(AX), Y6 // eps
	VBROADCASTSS 28(AX), Y7 // decay
	VBROADCASTSS 32(AX), Y8 // −step
	SHRQ $3, CX
	JZ adone

aloop:
	VMULPS (SI), Y0, Y9
	VMULPS (R8), Y1, Y10
	VFMADD231PS Y2, Y9, Y10
	VMOVUPS Y10, (R8)
	VMULPS Y9, Y4, Y11
	VMULPS Y9, Y11, Y11
	VMULPS (R9), Y3, Y12
	VADDPS Y11, Y12, Y12
	VMOVUPS Y12, (R9)
	VSQRTPS Y12, Y12
	VDIVPS Y5, Y12, Y12
	VADDPS Y6, Y12, Y12
	VDIVPS Y12, Y10, Y10
	VMULPS (DI), Y7, Y13
	VFMADD231PS Y8, Y10, Y13
	VMOVUPS Y13, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ aloop

adone:
	VZEROUPPER
	RET

// func sumSquaresAVX2(x *float32, n int) float32
// Σ x[i]² for n a multiple of 32, four 8-lane float32 accumulators.
TEXT ·sumSquaresAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	SHRQ $5, CX
	JZ sdone

sloop:
	VMOVUPS 0(SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS Y4, Y4, Y0
	VFMADD231PS Y5, Y5, Y1
	VFMADD231PS Y6, Y6, Y2
	VFMADD231PS Y7, Y7, Y3
	ADDQ $128, SI
	DECQ CX
	JNZ sloop

sdone:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET
