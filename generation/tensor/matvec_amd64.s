//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

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
//
// The loop takes two groups at a time on separate registers, so that one
// group's integer work overlaps the other's long VPERMT2W → VCVTPH2PS and
// VPDPBUSD → VPHADDD chains (one group per iteration ran at ~9–11 GB/s on
// cache-resident weights, two at ~13–15); the FMAs into the accumulator
// stay in group order.

CONST32(mvNibMask, 0x0f0f0f0f0f0f0f0f, 0x0f0f0f0f0f0f0f0f, 0xf0f0f0f0f0f0f0f0, 0xf0f0f0f0f0f0f0f0)

// mvHighShift shifts the upper four int32 lanes right by 4.
CONST32(mvHighShift, 0, 0, 0x0000000400000004, 0x0000000400000004)

// mvScaleIdx gathers, with VPERMT2W from the 32 bytes at a group's start
// (words 0–15) and the 32 bytes 36 bytes on (words 16–31), the f16 scales
// of four 18-byte Q4_0 blocks (bytes 0, 18, 36, 54) twice: s0 s1 s2 s3 s0
// s1 s2 s3.
CONST32(mvScaleIdx, 0x0019001000090000, 0x0019001000090000, 0, 0)

// MV_PREFETCH is how far ahead in the weights the kernel prefetches. The
// hint is PREFETCHT2 (fill the outer cache levels, not L1): the weights are
// read once per token, and with PREFETCHT0 the prefetched lines competed
// with the activations and the loop's own loads for L1 fill buffers. On a
// 2-core AVX-512 host the Q4_0 decode went from 53 to 58–62 tokens/s (56%
// → 62–64% of the bandwidth ceiling) with T2; the AVX2 K-quant row
// kernels in dot_amd64.s use the same hint. The AVX-512 VNNI strip and
// K-quant kernels prefetch with PREFETCHNTA 16 KB ahead instead (see
// STRIP_PF in strips_amd64.s): on Zen 5 every PREFETCHTn fills L1.
#define MV_PREFETCH 4096

// MV_GROUP_ROWS is the row loop of the group kernels: for each of the rows
// (DX walking them, rowBytes apart) it runs GROUP1 on an odd first
// group, then GROUP1 and GROUP2 on two groups of WB weight bytes at a time,
// each on its own registers so that one group's integer work overlaps the
// other's long VPERMT2W → VCVTPH2PS and VPDPBUSD → VPHADDD chains; their
// sums (A1, A2) meet their scales (S1, S2) in group order, so the float
// results match the row kernels bit for bit. The rows' dots go to dst.
#define MV_GROUP_ROWS(GROUP1, GROUP2, A1, S1, A2, S2, WB, ROWS, PAIRS, LOOP, DONE) \
	MOVQ        w+0(FP), DX; \
	MOVQ        dst+40(FP), R12; \
	MOVQ        rows+48(FP), R13; \
ROWS: \
	MOVQ        DX, SI; \
	MOVQ        x+16(FP), DI; \
	MOVQ        side+24(FP), R11; \
	MOVQ        ng+32(FP), CX; \
	VXORPS      Y0, Y0, Y0; \
	TESTQ       $1, CX; \
	JZ          PAIRS; \
	GROUP1; \
	VFMADD231PS A1, S1, Y0; \
	ADDQ        $WB, SI; \
	ADDQ        $136, DI; \
	ADDQ        $64, R11; \
	DECQ        CX; \
	JZ          DONE; \
PAIRS: \
	SHRQ        $1, CX; \
LOOP: \
	GROUP1; \
	GROUP2; \
	VFMADD231PS A1, S1, Y0; \
	VFMADD231PS A2, S2, Y0; \
	ADDQ        $(2*WB), SI; \
	ADDQ        $272, DI; \
	ADDQ        $128, R11; \
	DECQ        CX; \
	JNZ         LOOP; \
DONE: \
	HSUM_Y0; \
	VMOVSS      X0, (R12); \
	ADDQ        $4, R12; \
	ADDQ        rowBytes+8(FP), DX; \
	DECQ        R13; \
	JNZ         ROWS

// MV_REDUCE4 folds the int32 lanes of four blocks' sums A–D into A, in
// the order [b0 b1 b2 b3 | b0 b1 b2 b3] of low and high half blocks.
#define MV_REDUCE4(A, B, C, D) \
	VPHADDD B, A, A; \
	VPHADDD D, C, C; \
	VPHADDD C, A, A

// MV_GROUP_SCALES prefetches ahead of the group at wo(SI) and leaves in S
// (SX its low half) the products of its four weight scales, gathered by
// Y16 from the 32 bytes at wo and the 32 bytes at wo+second, with the
// activation scales in the side data at so(R11).
#define MV_GROUP_SCALES(wo, second, so, S, SX) \
	PREFETCHT2  (MV_PREFETCH+wo)(SI); \
	PREFETCHT2  (MV_PREFETCH+wo+64)(SI); \
	VMOVDQU64   wo(SI), S; \
	VPERMT2W    (wo+second)(SI), Y16, S; \
	VCVTPH2PS   SX, S; \
	VMULPS      (so+32)(R11), S, S

// MV_Q4_0_BLOCK: one block at byte wo of the row at SI against the
// activation block at xo(DI), into the int32 lanes of ACC (T is scratch).
#define MV_Q4_0_BLOCK(wo, xo, ACC, T) \
	VBROADCASTI128 (wo+2)(SI), T; \
	VPAND          Y14, T, T; \
	VPXOR          ACC, ACC, ACC; \
	VPDPBUSD       (xo+2)(DI), T, ACC

// MV_Q4_0_GROUP: the four blocks of the group at wo(SI) against the
// activations at xo(DI) and the side data at so(R11), leaving the scales
// in S and the int32 sums, converted to float, in A (B, C, D and T are
// scratch).
#define MV_Q4_0_GROUP(wo, xo, so, S, SX, A, B, C, D, T) \
	MV_GROUP_SCALES(wo, 36, so, S, SX); \
	MV_Q4_0_BLOCK(wo, xo, A, T); \
	MV_Q4_0_BLOCK(wo+18, xo+34, B, T); \
	MV_Q4_0_BLOCK(wo+36, xo+68, C, T); \
	MV_Q4_0_BLOCK(wo+54, xo+102, D, T); \
	MV_REDUCE4(A, B, C, D); \
	VPSRAVD     Y15, A, A; \
	VPADDD      so(R11), A, A; \
	VCVTDQ2PS   A, A

// func matvecQ4_0VNNI(w *byte, rowBytes int, x *byte, side *int32, ng int, dst *float32, rows int)
// Each of the rows ≥ 1 rows has 4·ng blocks; side holds 16 words per group.
TEXT ·matvecQ4_0VNNI(SB), NOSPLIT, $0-56
	VMOVDQU   mvNibMask<>(SB), Y14
	VMOVDQU   mvHighShift<>(SB), Y15
	VMOVDQU64 mvScaleIdx<>(SB), Y16
	MV_GROUP_ROWS(MV_Q4_0_GROUP(0, 0, 0, Y18, X18, Y4, Y5, Y6, Y7, Y8), MV_Q4_0_GROUP(72, 136, 64, Y19, X19, Y9, Y10, Y11, Y12, Y13), Y4, Y18, Y9, Y19, 72, mvrows, mvpairs, mvloop, mvrowdone)
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
// ACC, as DOT_VNNI does (T and U are scratch).
#define MV_Q8_0_BLOCK(wo, xo, ACC, T, U) \
	VMOVDQU  (xo+2)(DI), U; \
	VPSIGNB  (wo+2)(SI), U, U; \
	VPABSB   (wo+2)(SI), T; \
	VPXOR    ACC, ACC, ACC; \
	VPDPBUSD U, T, ACC

// MV_Q8_0_GROUP is MV_Q4_0_GROUP for Q8_0: 136-byte groups, whose four
// scales Z16 gathers from two 64-byte windows (S, SX and SZ name one
// register at 256, 128 and 512 bits), three cache lines to prefetch, and
// no correction in the side data.
#define MV_Q8_0_GROUP(wo, xo, so, S, SX, SZ, A, B, C, D, T, U) \
	PREFETCHT2  (MV_PREFETCH+wo)(SI); \
	PREFETCHT2  (MV_PREFETCH+wo+64)(SI); \
	PREFETCHT2  (MV_PREFETCH+wo+128)(SI); \
	VMOVDQU64   wo(SI), SZ; \
	VPERMT2W    (wo+68)(SI), Z16, SZ; \
	VCVTPH2PS   SX, S; \
	VMULPS      (so+32)(R11), S, S; \
	MV_Q8_0_BLOCK(wo, xo, A, T, U); \
	MV_Q8_0_BLOCK(wo+34, xo+34, B, T, U); \
	MV_Q8_0_BLOCK(wo+68, xo+68, C, T, U); \
	MV_Q8_0_BLOCK(wo+102, xo+102, D, T, U); \
	MV_REDUCE4(A, B, C, D); \
	VCVTDQ2PS   A, A

// func matvecQ8_0VNNI(w *byte, rowBytes int, x *byte, side *int32, ng int, dst *float32, rows int)
// As matvecQ4_0VNNI for Q8_0 weights (the corrections in side are unused).
TEXT ·matvecQ8_0VNNI(SB), NOSPLIT, $0-56
	VMOVDQU64 mvScaleIdx8<>(SB), Z16
	MV_GROUP_ROWS(MV_Q8_0_GROUP(0, 0, 0, Y18, X18, Z18, Y4, Y5, Y6, Y7, Y8, Y9), MV_Q8_0_GROUP(136, 136, 64, Y19, X19, Z19, Y1, Y2, Y3, Y10, Y11, Y12), Y4, Y18, Y1, Y19, 136, mv8rows, mv8pairs, mv8loop, mv8rowdone)
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

// mvScaleIdx5 gathers, with VPERMT2W from the 32 bytes at a group's start
// (words 0–15) and the 32 bytes 44 bytes on (words 16–31), the f16 scales
// of four 22-byte Q5_0 blocks (bytes 0, 22, 44, 66) twice.
CONST32(mvScaleIdx5, 0x001b0010000b0000, 0x001b0010000b0000, 0, 0)

// MV_Q5_0_GROUP: the four blocks of the group at wo(SI) against the
// activations at xo(DI) and the side data at so(R11), leaving the scales in
// S (SX its low half) and the sums, converted to float, in A (B, C, D, T
// and U are scratch and must be Y0–Y15; K is a scratch mask register).
#define MV_Q5_0_GROUP(wo, xo, so, S, SX, A, B, C, D, T, U, K) \
	MV_GROUP_SCALES(wo, 44, so, S, SX); \
	MV_Q5_0_BLOCK_K(wo, xo, A, T, K); \
	MV_Q5_0_BLOCK_K(wo+22, xo+34, B, T, K); \
	MV_Q5_0_BLOCK_K(wo+44, xo+68, C, T, K); \
	MV_Q5_0_BLOCK_K(wo+66, xo+102, D, T, K); \
	MV_REDUCE4(A, B, C, D); \
	VMOVDQU     so(R11), U; \
	VPADDD      U, U, U; \
	VPADDD      U, A, A; \
	VCVTDQ2PS   A, A

// MV_Q5_0_BLOCK_K: one block at byte wo of the row at SI against the
// activation block at xo(DI), into the int32 lanes of ACC (T and the mask
// register K are scratch).
#define MV_Q5_0_BLOCK_K(wo, xo, ACC, T, K) \
	VBROADCASTI128 (wo+6)(SI), T; \
	VPSRLVQ        Y13, T, T; \
	VPAND          Y14, T, T; \
	KMOVD          (wo+2)(SI), K; \
	VPADDB         Y12, T, K, T; \
	VPXOR          ACC, ACC, ACC; \
	VPDPBUSD       (xo+2)(DI), T, ACC

// func matvecQ5_0VNNI(w *byte, rowBytes int, x *byte, side *int32, ng int, dst *float32, rows int)
TEXT ·matvecQ5_0VNNI(SB), NOSPLIT, $0-56
	VMOVDQU   sixteens<>(SB), Y12
	VMOVDQU   lowHighShift<>(SB), Y13
	VMOVDQU   mask0f<>(SB), Y14
	VMOVDQU64 mvScaleIdx5<>(SB), Y16
	MV_GROUP_ROWS(MV_Q5_0_GROUP(0, 0, 0, Y18, X18, Y4, Y5, Y6, Y7, Y8, Y9, K1), MV_Q5_0_GROUP(88, 136, 64, Y19, X19, Y1, Y2, Y3, Y10, Y11, Y15, K2), Y4, Y18, Y1, Y19, 88, mv5rows, mv5pairs, mv5loop, mv5rowdone)
	VZEROUPPER
	RET
