//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// The AVX2 kernels built on an eight-lane e^t: SwiGLU, and the passes of
// Softmax (a maximum, e^(x−m) in place with the sum, a scale). EXP8 is
// expf's method — Cody–Waite reduction by ln2, a degree-6 polynomial, 2^n
// through the exponent bits — in the same float32 operations in the same
// order (no fused multiply-adds), so each lane equals the Go reference bit
// for bit (NaN inputs aside).

#define EXC(name, bits) \
	DATA name<>+0(SB)/4, $bits; DATA name<>+4(SB)/4, $bits; \
	DATA name<>+8(SB)/4, $bits; DATA name<>+12(SB)/4, $bits; \
	DATA name<>+16(SB)/4, $bits; DATA name<>+20(SB)/4, $bits; \
	DATA name<>+24(SB)/4, $bits; DATA name<>+28(SB)/4, $bits; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

EXC(exSign, 0x80000000)
EXC(exLo, 0xc2ae0000)  // −87
EXC(exHi, 0x42b00000)  // 88
EXC(exCut, 0xc2aea8f6) // −87.33: below it e^t is 0
EXC(exLog2e, 0x3fb8aa3b)
EXC(exRound, 0x4b400000)
EXC(exLn2hi, 0x3f317200)
EXC(exLn2lo, 0x35bfbe8e)
EXC(exC720, 0x3ab60b61)
EXC(exC120, 0x3c088889)
EXC(exC24, 0x3d2aaaab)
EXC(exC6, 0x3e2aaaab)
EXC(exHalf, 0x3f000000)
EXC(exOne, 0x3f800000)
EXC(exBias, 127)

// EXP8 leaves e^T in E for T in [−87.33, 88] (clamped by the caller);
// N, R and I are scratch.
#define EXP8(T, E, N, R, I) \
	VMULPS     exLog2e<>(SB), T, N; \
	VADDPS     exRound<>(SB), N, N; \
	VSUBPS     exRound<>(SB), N, N; \
	VMULPS     exLn2hi<>(SB), N, R; \
	VSUBPS     R, T, R; \
	VMULPS     exLn2lo<>(SB), N, E; \
	VSUBPS     E, R, R; \
	VMULPS     exC720<>(SB), R, E; \
	VADDPS     exC120<>(SB), E, E; \
	VMULPS     R, E, E; \
	VADDPS     exC24<>(SB), E, E; \
	VMULPS     R, E, E; \
	VADDPS     exC6<>(SB), E, E; \
	VMULPS     R, E, E; \
	VADDPS     exHalf<>(SB), E, E; \
	VMULPS     R, E, E; \
	VADDPS     exOne<>(SB), E, E; \
	VMULPS     R, E, E; \
	VADDPS     exOne<>(SB), E, E; \
	VCVTTPS2DQ N, I; \
	VPADDD     exBias<>(SB), I, I; \
	VPSLLD     $23, I, I; \
	VMULPS     I, E, E

// func swigluAVX2(gate, up *float32, n int)
// gate[i] = g/(1+e^−g)·up[i] as swigluRef computes it; n is a positive
// multiple of 8.
TEXT ·swigluAVX2(SB), NOSPLIT, $0-24
	MOVQ gate+0(FP), DI
	MOVQ up+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX

swloop:
	VMOVUPS (DI), Y0
	VXORPS  exSign<>(SB), Y0, Y1
	VMAXPS  exLo<>(SB), Y1, Y1
	VMINPS  exHi<>(SB), Y1, Y1
	EXP8(Y1, Y4, Y2, Y3, Y5)
	VADDPS  exOne<>(SB), Y4, Y4
	VDIVPS  Y4, Y0, Y0
	VMULPS  (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	DECQ    CX
	JNZ     swloop
	VZEROUPPER
	RET

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
	HMAX_Y(Y0, X0, X1)
	VMOVSS       X0, ret+16(FP)
	VZEROUPPER
	RET

// func argmaxF32AVX2(x *float32, n int) int  (n a positive multiple of 32,
// x[0] a number)
// The largest number among x[0:n] (VMAXPS with the accumulator as the
// operand it returns for a NaN, so NaNs never win), then the first index
// holding it.
TEXT ·argmaxF32AVX2(SB), NOSPLIT, $0-24
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS (SI), Y0
	VMOVAPS      Y0, Y1
	VMOVAPS      Y0, Y2
	VMOVAPS      Y0, Y3
	XORQ         AX, AX

amloop:
	VMOVUPS (SI)(AX*4), Y4
	VMOVUPS 32(SI)(AX*4), Y5
	VMOVUPS 64(SI)(AX*4), Y6
	VMOVUPS 96(SI)(AX*4), Y7
	VMAXPS  Y0, Y4, Y0
	VMAXPS  Y1, Y5, Y1
	VMAXPS  Y2, Y6, Y2
	VMAXPS  Y3, Y7, Y3
	ADDQ    $32, AX
	CMPQ    AX, CX
	JLT     amloop

	VMAXPS       Y1, Y0, Y0
	VMAXPS       Y3, Y2, Y2
	VMAXPS       Y2, Y0, Y0
	HMAX_Y(Y0, X0, X1)
	VBROADCASTSS X0, Y0
	XORQ         AX, AX

amfind:
	VCMPPS    $0, (SI)(AX*4), Y0, Y1
	VMOVMSKPS Y1, DX
	TESTL     DX, DX
	JNZ       amfound
	ADDQ      $8, AX
	JMP       amfind

amfound:
	TZCNTL DX, DX
	ADDQ   DX, AX
	MOVQ   AX, ret+16(FP)
	VZEROUPPER
	RET

// func expSubAVX2(x *float32, n int, m float32) float32
// x[i] = e^(x[i]−m) for i < n (a positive multiple of 8), 0 where
// x[i]−m < −87.33 (−Inf included), as expf gives; returns their sum.
TEXT ·expSubAVX2(SB), NOSPLIT, $0-28
	MOVQ         x+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSS m+16(FP), Y15
	VXORPS       Y14, Y14, Y14

exloop:
	VMOVUPS (SI), Y0
	VSUBPS  Y15, Y0, Y0
	VCMPPS  $1, exCut<>(SB), Y0, Y6
	VMAXPS  exCut<>(SB), Y0, Y1
	EXP8(Y1, Y4, Y2, Y3, Y5)
	VANDNPS Y4, Y6, Y4
	VMOVUPS Y4, (SI)
	VADDPS  Y4, Y14, Y14
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     exloop

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
