//go:build amd64 && !purego

#include "textflag.h"

// Vectorised float32 exp (AVX2 + FMA, 8 lanes): the algorithm of expf in
// exp.go (Cody-Waite reduction, Cephes degree-6 polynomial, 2^n from
// exponent bits), with inputs clamped to [-87.33654, 88] and results for
// inputs below -87.33654 (including -Inf) set to 0.

DATA expcLog2e<>+0(SB)/4, $0x3fb8aa3b
DATA expcLog2e<>+4(SB)/4, $0x3fb8aa3b
DATA expcLog2e<>+8(SB)/4, $0x3fb8aa3b
DATA expcLog2e<>+12(SB)/4, $0x3fb8aa3b
DATA expcLog2e<>+16(SB)/4, $0x3fb8aa3b
DATA expcLog2e<>+20(SB)/4, $0x3fb8aa3b
DATA expcLog2e<>+24(SB)/4, $0x3fb8aa3b
DATA expcLog2e<>+28(SB)/4, $0x3fb8aa3b
GLOBL expcLog2e<>(SB), RODATA|NOPTR, $32

DATA expcC1<>+0(SB)/4, $0x3f318000
DATA expcC1<>+4(SB)/4, $0x3f318000
DATA expcC1<>+8(SB)/4, $0x3f318000
DATA expcC1<>+12(SB)/4, $0x3f318000
DATA expcC1<>+16(SB)/4, $0x3f318000
DATA expcC1<>+20(SB)/4, $0x3f318000
DATA expcC1<>+24(SB)/4, $0x3f318000
DATA expcC1<>+28(SB)/4, $0x3f318000
GLOBL expcC1<>(SB), RODATA|NOPTR, $32

DATA expcC2<>+0(SB)/4, $0xb95e8083
DATA expcC2<>+4(SB)/4, $0xb95e8083
DATA expcC2<>+8(SB)/4, $0xb95e8083
DATA expcC2<>+12(SB)/4, $0xb95e8083
DATA expcC2<>+16(SB)/4, $0xb95e8083
DATA expcC2<>+20(SB)/4, $0xb95e8083
DATA expcC2<>+24(SB)/4, $0xb95e8083
DATA expcC2<>+28(SB)/4, $0xb95e8083
GLOBL expcC2<>(SB), RODATA|NOPTR, $32

DATA expcP0<>+0(SB)/4, $0x39506967
DATA expcP0<>+4(SB)/4, $0x39506967
DATA expcP0<>+8(SB)/4, $0x39506967
DATA expcP0<>+12(SB)/4, $0x39506967
DATA expcP0<>+16(SB)/4, $0x39506967
DATA expcP0<>+20(SB)/4, $0x39506967
DATA expcP0<>+24(SB)/4, $0x39506967
DATA expcP0<>+28(SB)/4, $0x39506967
GLOBL expcP0<>(SB), RODATA|NOPTR, $32

DATA expcP1<>+0(SB)/4, $0x3ab743ce
DATA expcP1<>+4(SB)/4, $0x3ab743ce
DATA expcP1<>+8(SB)/4, $0x3ab743ce
DATA expcP1<>+12(SB)/4, $0x3ab743ce
DATA expcP1<>+16(SB)/4, $0x3ab743ce
DATA expcP1<>+20(SB)/4, $0x3ab743ce
DATA expcP1<>+24(SB)/4, $0x3ab743ce
DATA expcP1<>+28(SB)/4, $0x3ab743ce
GLOBL expcP1<>(SB), RODATA|NOPTR, $32

DATA expcP2<>+0(SB)/4, $0x3c088908
DATA expcP2<>+4(SB)/4, $0x3c088908
DATA expcP2<>+8(SB)/4, $0x3c088908
DATA expcP2<>+12(SB)/4, $0x3c088908
DATA expcP2<>+16(SB)/4, $0x3c088908
DATA expcP2<>+20(SB)/4, $0x3c088908
DATA expcP2<>+24(SB)/4, $0x3c088908
DATA expcP2<>+28(SB)/4, $0x3c088908
GLOBL expcP2<>(SB), RODATA|NOPTR, $32

DATA expcP3<>+0(SB)/4, $0x3d2aa9c1
DATA expcP3<>+4(SB)/4, $0x3d2aa9c1
DATA expcP3<>+8(SB)/4, $0x3d2aa9c1
DATA expcP3<>+12(SB)/4, $0x3d2aa9c1
DATA expcP3<>+16(SB)/4, $0x3d2aa9c1
DATA expcP3<>+20(SB)/4, $0x3d2aa9c1
DATA expcP3<>+24(SB)/4, $0x3d2aa9c1
DATA expcP3<>+28(SB)/4, $0x3d2aa9c1
GLOBL expcP3<>(SB), RODATA|NOPTR, $32

DATA expcP4<>+0(SB)/4, $0x3e2aaaaa
DATA expcP4<>+4(SB)/4, $0x3e2aaaaa
DATA expcP4<>+8(SB)/4, $0x3e2aaaaa
DATA expcP4<>+12(SB)/4, $0x3e2aaaaa
DATA expcP4<>+16(SB)/4, $0x3e2aaaaa
DATA expcP4<>+20(SB)/4, $0x3e2aaaaa
DATA expcP4<>+24(SB)/4, $0x3e2aaaaa
DATA expcP4<>+28(SB)/4, $0x3e2aaaaa
GLOBL expcP4<>(SB), RODATA|NOPTR, $32

DATA expcP5<>+0(SB)/4, $0x3f000000
DATA expcP5<>+4(SB)/4, $0x3f000000
DATA expcP5<>+8(SB)/4, $0x3f000000
DATA expcP5<>+12(SB)/4, $0x3f000000
DATA expcP5<>+16(SB)/4, $0x3f000000
DATA expcP5<>+20(SB)/4, $0x3f000000
DATA expcP5<>+24(SB)/4, $0x3f000000
DATA expcP5<>+28(SB)/4, $0x3f000000
GLOBL expcP5<>(SB), RODATA|NOPTR, $32

DATA expcOne<>+0(SB)/4, $0x3f800000
DATA expcOne<>+4(SB)/4, $0x3f800000
DATA expcOne<>+8(SB)/4, $0x3f800000
DATA expcOne<>+12(SB)/4, $0x3f800000
DATA expcOne<>+16(SB)/4, $0x3f800000
DATA expcOne<>+20(SB)/4, $0x3f800000
DATA expcOne<>+24(SB)/4, $0x3f800000
DATA expcOne<>+28(SB)/4, $0x3f800000
GLOBL expcOne<>(SB), RODATA|NOPTR, $32

DATA expcLo<>+0(SB)/4, $0xc2aeac4f
DATA expcLo<>+4(SB)/4, $0xc2aeac4f
DATA expcLo<>+8(SB)/4, $0xc2aeac4f
DATA expcLo<>+12(SB)/4, $0xc2aeac4f
DATA expcLo<>+16(SB)/4, $0xc2aeac4f
DATA expcLo<>+20(SB)/4, $0xc2aeac4f
DATA expcLo<>+24(SB)/4, $0xc2aeac4f
DATA expcLo<>+28(SB)/4, $0xc2aeac4f
GLOBL expcLo<>(SB), RODATA|NOPTR, $32

DATA expcHi<>+0(SB)/4, $0x42b00000
DATA expcHi<>+4(SB)/4, $0x42b00000
DATA expcHi<>+8(SB)/4, $0x42b00000
DATA expcHi<>+12(SB)/4, $0x42b00000
DATA expcHi<>+16(SB)/4, $0x42b00000
DATA expcHi<>+20(SB)/4, $0x42b00000
DATA expcHi<>+24(SB)/4, $0x42b00000
DATA expcHi<>+28(SB)/4, $0x42b00000
GLOBL expcHi<>(SB), RODATA|NOPTR, $32

DATA expcBias<>+0(SB)/4, $0x0000007f
DATA expcBias<>+4(SB)/4, $0x0000007f
DATA expcBias<>+8(SB)/4, $0x0000007f
DATA expcBias<>+12(SB)/4, $0x0000007f
DATA expcBias<>+16(SB)/4, $0x0000007f
DATA expcBias<>+20(SB)/4, $0x0000007f
DATA expcBias<>+24(SB)/4, $0x0000007f
DATA expcBias<>+28(SB)/4, $0x0000007f
GLOBL expcBias<>(SB), RODATA|NOPTR, $32

// func expAffineAVX2(dst, src *float32, n int, a, b float32) float32
// dst[i] = exp(a·src[i] + b) for i < n (n a multiple of 8); returns Σ dst[i].
TEXT ·expAffineAVX2(SB), NOSPLIT, $0-36
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y0
	VBROADCASTSS b+28(FP), Y1
	VMOVUPS expcHi<>(SB), Y12
	VMOVUPS expcLo<>(SB), Y13
	VXORPS Y15, Y15, Y15
	SHRQ $3, CX
	JZ done

loop:
	VMOVUPS (SI), Y2
	VFMADD213PS Y1, Y0, Y2          // x = a·src + b
	VMAXPS Y2, Y13, Y3              // clamp (NaN stays NaN)
	VMINPS Y3, Y12, Y3
	VMULPS expcLog2e<>(SB), Y3, Y4
	VROUNDPS $0, Y4, Y4             // n = round(x/ln2)
	VFNMADD231PS expcC1<>(SB), Y4, Y3 // r = x − n·C1 − n·C2
	VFNMADD231PS expcC2<>(SB), Y4, Y3
	VMOVUPS expcP0<>(SB), Y5
	VFMADD213PS expcP1<>(SB), Y3, Y5
	VFMADD213PS expcP2<>(SB), Y3, Y5
	VFMADD213PS expcP3<>(SB), Y3, Y5
	VFMADD213PS expcP4<>(SB), Y3, Y5
	VFMADD213PS expcP5<>(SB), Y3, Y5
	VMULPS Y3, Y3, Y6
	VFMADD213PS Y3, Y6, Y5          // p·r² + r
	VADDPS expcOne<>(SB), Y5, Y5    // + 1
	VCVTPS2DQ Y4, Y7                // 2^n from exponent bits
	VPADDD expcBias<>(SB), Y7, Y7
	VPSLLD $23, Y7, Y7
	VMULPS Y7, Y5, Y5
	VCMPPS $1, Y13, Y2, Y8          // x < lo → 0
	VANDNPS Y5, Y8, Y5
	VMOVUPS Y5, (DI)
	VADDPS Y5, Y15, Y15
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop

done:
	VEXTRACTF128 $1, Y15, X1
	VADDPS X1, X15, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func maxAVX2(x *float32, n int) float32
// max of x[0:n] for n a multiple of 32 (n ≥ 32); NaNs are skipped as long as
// one lane sees a number (VMAXPS keeps its second operand on NaN).
TEXT ·maxAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VMOVUPS 0(SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS 64(SI), Y2
	VMOVUPS 96(SI), Y3
	ADDQ $128, SI
	SHRQ $5, CX
	DECQ CX
	JZ mdone

mloop:
	VMAXPS 0(SI), Y0, Y0
	VMAXPS 32(SI), Y1, Y1
	VMAXPS 64(SI), Y2, Y2
	VMAXPS 96(SI), Y3, Y3
	ADDQ $128, SI
	DECQ CX
	JNZ mloop

mdone:
	VMAXPS Y1, Y0, Y0
	VMAXPS Y3, Y2, Y2
	VMAXPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0x4e, X0, X1
	VMAXPS X1, X0, X0
	VPERMILPS $0xb1, X0, X1
	VMAXPS X1, X0, X0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET
