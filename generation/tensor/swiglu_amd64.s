//go:build amd64 && !purego

#include "textflag.h"

// swigluAVX2 is swigluRef eight lanes at a time: the same float32
// operations in the same order (no fused multiply-adds), so the results
// are identical bit for bit (NaN inputs aside).

#define SWC(name, bits) \
	DATA name<>+0(SB)/4, $bits; DATA name<>+4(SB)/4, $bits; \
	DATA name<>+8(SB)/4, $bits; DATA name<>+12(SB)/4, $bits; \
	DATA name<>+16(SB)/4, $bits; DATA name<>+20(SB)/4, $bits; \
	DATA name<>+24(SB)/4, $bits; DATA name<>+28(SB)/4, $bits; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

SWC(swSign, 0x80000000)
SWC(swLo, 0xc2ae0000)
SWC(swHi, 0x42b00000)
SWC(swLog2e, 0x3fb8aa3b)
SWC(swRound, 0x4b400000)
SWC(swLn2hi, 0x3f317200)
SWC(swLn2lo, 0x35bfbe8e)
SWC(swC720, 0x3ab60b61)
SWC(swC120, 0x3c088889)
SWC(swC24, 0x3d2aaaab)
SWC(swC6, 0x3e2aaaab)
SWC(swHalf, 0x3f000000)
SWC(swOne, 0x3f800000)
SWC(swBias, 127)

// func swigluAVX2(gate, up *float32, n int)
// n is a positive multiple of 8.
TEXT ·swigluAVX2(SB), NOSPLIT, $0-24
	MOVQ gate+0(FP), DI
	MOVQ up+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX

swloop:
	VMOVUPS    (DI), Y0
	VXORPS     swSign<>(SB), Y0, Y1
	VMAXPS     swLo<>(SB), Y1, Y1
	VMINPS     swHi<>(SB), Y1, Y1
	VMULPS     swLog2e<>(SB), Y1, Y2
	VADDPS     swRound<>(SB), Y2, Y2
	VSUBPS     swRound<>(SB), Y2, Y2
	VMULPS     swLn2hi<>(SB), Y2, Y3
	VSUBPS     Y3, Y1, Y3
	VMULPS     swLn2lo<>(SB), Y2, Y4
	VSUBPS     Y4, Y3, Y3
	VMULPS     swC720<>(SB), Y3, Y4
	VADDPS     swC120<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     swC24<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     swC6<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     swHalf<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     swOne<>(SB), Y4, Y4
	VMULPS     Y3, Y4, Y4
	VADDPS     swOne<>(SB), Y4, Y4
	VCVTTPS2DQ Y2, Y5
	VPADDD     swBias<>(SB), Y5, Y5
	VPSLLD     $23, Y5, Y5
	VMULPS     Y5, Y4, Y4
	VADDPS     swOne<>(SB), Y4, Y4
	VDIVPS     Y4, Y0, Y0
	VMULPS     (SI), Y0, Y0
	VMOVUPS    Y0, (DI)
	ADDQ       $32, DI
	ADDQ       $32, SI
	DECQ       CX
	JNZ        swloop
	VZEROUPPER
	RET
