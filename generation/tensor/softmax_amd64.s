//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// The AVX2 kernels behind Softmax: a maximum, e^(x−m) in place with the
// sum, and a scale. The exponential is expf's method eight lanes at a time
// (Cody–Waite reduction, degree-6 polynomial, 2^n through the exponent
// bits); inputs below −87.33 (−Inf included) give 0, as expf's do.

#define SMC(name, bits) \
	DATA name<>+0(SB)/4, $bits; DATA name<>+4(SB)/4, $bits; \
	DATA name<>+8(SB)/4, $bits; DATA name<>+12(SB)/4, $bits; \
	DATA name<>+16(SB)/4, $bits; DATA name<>+20(SB)/4, $bits; \
	DATA name<>+24(SB)/4, $bits; DATA name<>+28(SB)/4, $bits; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

SMC(smCut, 0xc2aea8f6)
SMC(smLog2e, 0x3fb8aa3b)
SMC(smRound, 0x4b400000)
SMC(smLn2hi, 0x3f317200)
SMC(smLn2lo, 0x35bfbe8e)
SMC(smC720, 0x3ab60b61)
SMC(smC120, 0x3c088889)
SMC(smC24, 0x3d2aaaab)
SMC(smC6, 0x3e2aaaab)
SMC(smHalf, 0x3f000000)
SMC(smOne, 0x3f800000)
SMC(smBias, 127)

// func maxF32AVX2(x *float32, n int) float32  (n a positive multiple of 8)
TEXT ·maxF32AVX2(SB), NOSPLIT, $0-20
	MOVQ    x+0(FP), SI
	MOVQ    n+8(FP), CX
	VMOVUPS (SI), Y0
	ADDQ    $32, SI
	SUBQ    $8, CX
	JZ      mxdone

mxloop:
	VMAXPS (SI), Y0, Y0
	ADDQ   $32, SI
	SUBQ   $8, CX
	JNZ    mxloop

mxdone:
	VEXTRACTF128 $1, Y0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0x4e, X0, X1
	VMAXPS       X1, X0, X0
	VPERMILPS    $0xb1, X0, X1
	VMAXPS       X1, X0, X0
	VMOVSS       X0, ret+16(FP)
	VZEROUPPER
	RET

// func expSubAVX2(x *float32, n int, m float32) float32
// x[i] = e^(x[i]−m) for i < n (a positive multiple of 8); returns their sum.
TEXT ·expSubAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y15
	VXORPS       Y14, Y14, Y14

exloop:
	VMOVUPS    (SI), Y0
	VSUBPS     Y15, Y0, Y0
	VCMPPS     $1, smCut<>(SB), Y0, Y6
	VMAXPS     smCut<>(SB), Y0, Y1
	VMULPS     smLog2e<>(SB), Y1, Y2
	VADDPS     smRound<>(SB), Y2, Y2
	VSUBPS     smRound<>(SB), Y2, Y2
	VMULPS     smLn2hi<>(SB), Y2, Y3
	VSUBPS     Y3, Y1, Y3
	VMULPS     smLn2lo<>(SB), Y2, Y4
	VSUBPS     Y4, Y3, Y3
	VMULPS     smC720<>(SB), Y3, Y4
	VADDPS     smC120<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     smC24<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     smC6<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     smHalf<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     smOne<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     smOne<>(SB), Y4, Y4
	VCVTTPS2DQ Y2, Y5
	VPADDD     smBias<>(SB), Y5, Y5
	VPSLLD     $23, Y5, Y5
	VMULPS     Y5, Y4, Y4
	VANDNPS    Y4, Y6, Y4
	VMOVUPS    Y4, (SI)
	VADDPS     Y4, Y14, Y14
	ADDQ       $32, SI
	SUBQ       $8, CX
	JNZ        exloop

	VMOVAPS Y14, Y0
	HSUM_Y0
	VMOVSS  X0, ret+24(FP)
	VZEROUPPER
	RET

// func scaleF32AVX2(x *float32, n int, a float32)  (n a positive multiple of 8)
TEXT ·scaleF32AVX2(SB), NOSPLIT, $0-20
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS a+16(FP), Y1

scloop:
	VMULPS  (SI), Y1, Y0
	VMOVUPS Y0, (SI)
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     scloop
	VZEROUPPER
	RET
