//go:build amd64 && !purego

#include "textflag.h"

// The decode (MatVec) kernel for Q4_0 weights on AVX-512 VNNI. Rows are
// read one after another, so the weights stream through memory in order
// (interleaving rows splits the stream and measurably defeats the hardware
// prefetcher). The activation side of each group of four blocks is
// prepared once per call (q4_0DecodeSide): −8·Σx for each half block, in
// the lane order the VPHADDD reduction leaves, and the four activation
// scales twice.
//
// Each block's 16 nibble bytes are broadcast to both 128-bit halves and
// masked with 0x0f (low half: elements 0–15) and 0xf0 (high half: 16 ×
// elements 16–31), so VPDPBUSD takes them as unsigned bytes with no shift
// and no sign trick; the high half's sums are divided by 16 (exactly) after
// the reduction, and the −8 of Q4_0 comes back as −8·Σx. The integers, and
// every float operation and its order, are those of dotQ4_0VNNI
// (QUANT_KERNEL), so the results are identical bit for bit.

DATA mvNibMask<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA mvNibMask<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA mvNibMask<>+16(SB)/8, $0xf0f0f0f0f0f0f0f0
DATA mvNibMask<>+24(SB)/8, $0xf0f0f0f0f0f0f0f0
GLOBL mvNibMask<>(SB), RODATA|NOPTR, $32

// mvHighShift shifts the upper four int32 lanes right by 4.
DATA mvHighShift<>+0(SB)/8, $0
DATA mvHighShift<>+8(SB)/8, $0
DATA mvHighShift<>+16(SB)/8, $0x0000000400000004
DATA mvHighShift<>+24(SB)/8, $0x0000000400000004
GLOBL mvHighShift<>(SB), RODATA|NOPTR, $32

// mvScaleIdx gathers, with VPERMT2W from the 32 bytes at a group's start
// (words 0–15) and the 32 bytes 36 bytes on (words 16–31), the f16 scales
// of four 18-byte Q4_0 blocks (bytes 0, 18, 36, 54) twice: s0 s1 s2 s3 s0
// s1 s2 s3.
DATA mvScaleIdx<>+0(SB)/8, $0x0019001000090000
DATA mvScaleIdx<>+8(SB)/8, $0x0019001000090000
DATA mvScaleIdx<>+16(SB)/8, $0
DATA mvScaleIdx<>+24(SB)/8, $0
GLOBL mvScaleIdx<>(SB), RODATA|NOPTR, $32

// MV_PREFETCH is how far ahead in the weights the kernel prefetches.
#define MV_PREFETCH 4096

// MV_Q4_0_BLOCK: one block at byte wo of the row at SI, against the
// activation block at xo(DI), into the int32 lanes of ACC.
#define MV_Q4_0_BLOCK(wo, xo, ACC) \
	VBROADCASTI128 (wo+2)(SI), Y8; \
	VPAND          Y14, Y8, Y8; \
	VPXOR          ACC, ACC, ACC; \
	VPDPBUSD       (xo+2)(DI), Y8, ACC

// func matvecQ4_0VNNI(w *byte, rowBytes int, x *byte, side *int32, ng int, dst *float32, rows int)
// Each of the rows ≥ 1 rows has 4·ng blocks; side holds 16 words per group.
TEXT ·matvecQ4_0VNNI(SB), NOSPLIT, $0-56
	VMOVDQU   mvNibMask<>(SB), Y14
	VMOVDQU   mvHighShift<>(SB), Y15
	VMOVDQU64 mvScaleIdx<>(SB), Y16
	MOVQ      w+0(FP), DX
	MOVQ      dst+40(FP), R12
	MOVQ      rows+48(FP), R13

mvrows:
	MOVQ   DX, SI
	MOVQ   x+16(FP), DI
	MOVQ   side+24(FP), R11
	MOVQ   ng+32(FP), CX
	VXORPS Y0, Y0, Y0

mvloop:
	PREFETCHT0  MV_PREFETCH(SI)
	PREFETCHT0  (MV_PREFETCH+64)(SI)
	VMOVDQU64   (SI), Y18
	VPERMT2W    36(SI), Y16, Y18
	VCVTPH2PS   X18, Y18
	VMULPS      32(R11), Y18, Y18
	MV_Q4_0_BLOCK(0, 0, Y4)
	MV_Q4_0_BLOCK(18, 34, Y5)
	MV_Q4_0_BLOCK(36, 68, Y6)
	MV_Q4_0_BLOCK(54, 102, Y7)
	VPHADDD     Y5, Y4, Y4
	VPHADDD     Y7, Y6, Y6
	VPHADDD     Y6, Y4, Y4
	VPSRAVD     Y15, Y4, Y4
	VPADDD      (R11), Y4, Y4
	VCVTDQ2PS   Y4, Y4
	VFMADD231PS Y4, Y18, Y0
	ADDQ        $72, SI
	ADDQ        $136, DI
	ADDQ        $64, R11
	DECQ        CX
	JNZ         mvloop

	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, (R12)
	ADDQ         $4, R12
	ADDQ         rowBytes+8(FP), DX
	DECQ         R13
	JNZ          mvrows
	VZEROUPPER
	RET

// mvScaleIdx8 gathers, with VPERMT2W from the 64 bytes at a group's start
// (words 0–31) and the 64 bytes 68 bytes on (words 32–63), the f16 scales
// of four 34-byte Q8_0 blocks (bytes 0, 34, 68, 102) twice.
DATA mvScaleIdx8<>+0(SB)/8, $0x0031002000110000
DATA mvScaleIdx8<>+8(SB)/8, $0x0031002000110000
DATA mvScaleIdx8<>+16(SB)/8, $0
DATA mvScaleIdx8<>+24(SB)/8, $0
DATA mvScaleIdx8<>+32(SB)/8, $0
DATA mvScaleIdx8<>+40(SB)/8, $0
DATA mvScaleIdx8<>+48(SB)/8, $0
DATA mvScaleIdx8<>+56(SB)/8, $0
GLOBL mvScaleIdx8<>(SB), RODATA|NOPTR, $64

// MV_Q8_0_BLOCK: one Q8_0 block at byte wo of the row at SI against the
// activation block at xo(DI): |w| · (x·sign(w)) into the int32 lanes of
// ACC, as DOT_VNNI does.
#define MV_Q8_0_BLOCK(wo, xo, ACC) \
	VMOVDQU  (xo+2)(DI), Y9; \
	VPSIGNB  (wo+2)(SI), Y9, Y9; \
	VPABSB   (wo+2)(SI), Y8; \
	VPXOR    ACC, ACC, ACC; \
	VPDPBUSD Y9, Y8, ACC

// func matvecQ8_0VNNI(w *byte, rowBytes int, x *byte, side *int32, ng int, dst *float32, rows int)
// As matvecQ4_0VNNI for Q8_0 weights (the corrections in side are unused).
TEXT ·matvecQ8_0VNNI(SB), NOSPLIT, $0-56
	VMOVDQU64 mvScaleIdx8<>(SB), Z16
	MOVQ      w+0(FP), DX
	MOVQ      dst+40(FP), R12
	MOVQ      rows+48(FP), R13

mv8rows:
	MOVQ   DX, SI
	MOVQ   x+16(FP), DI
	MOVQ   side+24(FP), R11
	MOVQ   ng+32(FP), CX
	VXORPS Y0, Y0, Y0

mv8loop:
	PREFETCHT0  MV_PREFETCH(SI)
	PREFETCHT0  (MV_PREFETCH+64)(SI)
	VMOVDQU64   (SI), Z18
	VPERMT2W    68(SI), Z16, Z18
	VCVTPH2PS   X18, Y18
	VMULPS      32(R11), Y18, Y18
	MV_Q8_0_BLOCK(0, 0, Y4)
	MV_Q8_0_BLOCK(34, 34, Y5)
	MV_Q8_0_BLOCK(68, 68, Y6)
	MV_Q8_0_BLOCK(102, 102, Y7)
	VPHADDD     Y5, Y4, Y4
	VPHADDD     Y7, Y6, Y6
	VPHADDD     Y6, Y4, Y4
	VCVTDQ2PS   Y4, Y4
	VFMADD231PS Y4, Y18, Y0
	ADDQ        $136, SI
	ADDQ        $136, DI
	ADDQ        $64, R11
	DECQ        CX
	JNZ         mv8loop

	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, (R12)
	ADDQ         $4, R12
	ADDQ         rowBytes+8(FP), DX
	DECQ         R13
	JNZ          mv8rows
	VZEROUPPER
	RET

// The Q5_0 decode kernel follows matvecQ4_0VNNI. A block is d (f16), qh (32
// fifth bits) and 16 nibble bytes. The nibbles go to the two 128-bit lanes
// (the high ones shifted down by 4), the fifth bits load straight into K1
// and a masked byte add puts 16 on the quants that have one, so VPDPBUSD
// takes the unsigned 5-bit quants q + 16; the −16·Σx that undoes the offset
// is twice q4_0DecodeSide's −8·Σx. The integers per half block, and every
// float operation and its order, are those of dotQ5_0VNNI, so the results
// are identical bit for bit.

// mvLowHighShift shifts the upper 128-bit lane's quadwords right by 4.
DATA mvLowHighShift<>+0(SB)/8, $0
DATA mvLowHighShift<>+8(SB)/8, $0
DATA mvLowHighShift<>+16(SB)/8, $4
DATA mvLowHighShift<>+24(SB)/8, $4
GLOBL mvLowHighShift<>(SB), RODATA|NOPTR, $32

DATA mvMask0f<>+0(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA mvMask0f<>+8(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA mvMask0f<>+16(SB)/8, $0x0f0f0f0f0f0f0f0f
DATA mvMask0f<>+24(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL mvMask0f<>(SB), RODATA|NOPTR, $32

DATA mvSixteens<>+0(SB)/8, $0x1010101010101010
DATA mvSixteens<>+8(SB)/8, $0x1010101010101010
DATA mvSixteens<>+16(SB)/8, $0x1010101010101010
DATA mvSixteens<>+24(SB)/8, $0x1010101010101010
GLOBL mvSixteens<>(SB), RODATA|NOPTR, $32

// mvScaleIdx5 gathers, with VPERMT2W from the 32 bytes at a group's start
// (words 0–15) and the 32 bytes 44 bytes on (words 16–31), the f16 scales
// of four 22-byte Q5_0 blocks (bytes 0, 22, 44, 66) twice.
DATA mvScaleIdx5<>+0(SB)/8, $0x001b0010000b0000
DATA mvScaleIdx5<>+8(SB)/8, $0x001b0010000b0000
DATA mvScaleIdx5<>+16(SB)/8, $0
DATA mvScaleIdx5<>+24(SB)/8, $0
GLOBL mvScaleIdx5<>(SB), RODATA|NOPTR, $32

// MV_Q5_0_BLOCK: one block at byte wo of the row at SI against the
// activation block at xo(DI), into the int32 lanes of ACC.
#define MV_Q5_0_BLOCK(wo, xo, ACC) \
	VBROADCASTI128 (wo+6)(SI), Y8; \
	VPSRLVQ        Y13, Y8, Y8; \
	VPAND          Y14, Y8, Y8; \
	KMOVD          (wo+2)(SI), K1; \
	VPADDB         Y12, Y8, K1, Y8; \
	VPXOR          ACC, ACC, ACC; \
	VPDPBUSD       (xo+2)(DI), Y8, ACC

// func matvecQ5_0VNNI(w *byte, rowBytes int, x *byte, side *int32, ng int, dst *float32, rows int)
TEXT ·matvecQ5_0VNNI(SB), NOSPLIT, $0-56
	VMOVDQU   mvSixteens<>(SB), Y12
	VMOVDQU   mvLowHighShift<>(SB), Y13
	VMOVDQU   mvMask0f<>(SB), Y14
	VMOVDQU64 mvScaleIdx5<>(SB), Y16
	MOVQ      w+0(FP), DX
	MOVQ      dst+40(FP), R12
	MOVQ      rows+48(FP), R13

mv5rows:
	MOVQ   DX, SI
	MOVQ   x+16(FP), DI
	MOVQ   side+24(FP), R11
	MOVQ   ng+32(FP), CX
	VXORPS Y0, Y0, Y0

mv5loop:
	PREFETCHT0  MV_PREFETCH(SI)
	PREFETCHT0  (MV_PREFETCH+64)(SI)
	VMOVDQU64   (SI), Y18
	VPERMT2W    44(SI), Y16, Y18
	VCVTPH2PS   X18, Y18
	VMULPS      32(R11), Y18, Y18
	MV_Q5_0_BLOCK(0, 0, Y4)
	MV_Q5_0_BLOCK(22, 34, Y5)
	MV_Q5_0_BLOCK(44, 68, Y6)
	MV_Q5_0_BLOCK(66, 102, Y7)
	VPHADDD     Y5, Y4, Y4
	VPHADDD     Y7, Y6, Y6
	VPHADDD     Y6, Y4, Y4
	VMOVDQU     (R11), Y9
	VPADDD      Y9, Y9, Y9
	VPADDD      Y9, Y4, Y4
	VCVTDQ2PS   Y4, Y4
	VFMADD231PS Y4, Y18, Y0
	ADDQ        $88, SI
	ADDQ        $136, DI
	ADDQ        $64, R11
	DECQ        CX
	JNZ         mv5loop

	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, (R12)
	ADDQ         $4, R12
	ADDQ         rowBytes+8(FP), DX
	DECQ         R13
	JNZ          mv5rows
	VZEROUPPER
	RET
