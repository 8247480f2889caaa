//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// The decode kernel for Q4_0 weights in the row-interleaved layout of
// strips.go, on AVX-512 VNNI. A strip is eight rows; for each block it
// holds the rows' eight f16 scales, then their nibble bytes four at a
// time (bytes 4k…4k+3 of each row, row after row), so that one 32-byte
// load gives a dword of every row and each int32 lane of VPDPBUSD belongs
// to one row. The activations' four bytes that meet it are broadcast from
// memory, so no lane ever has to be summed across: matvecQ4_0VNNI spends
// three VPHADDD (nine µops) per group of four blocks doing exactly that.
//
// The arithmetic is matvecQ4_0VNNI's, lane for lane: the eight lanes of
// that kernel's accumulator for one row (low half of blocks 0–3 of each
// group, then the high halves) are here eight accumulators Y0–Y7, each
// holding that lane for the strip's eight rows. The integers are exact
// whatever the order of their sums; each is shifted (high halves, which
// were read as 16·q), corrected by −8·Σx from the side data, converted,
// and meets the same scale product in the same FMA in the same group
// order; the final sum of a row's eight lanes follows HSUM_Y0's tree. The
// results are therefore identical bit for bit.

// STRIP_ZERO clears the eight accumulators Y0–Y7 of a strip (lane L of
// the row kernel's accumulator in YL, one row per lane).
#define STRIP_ZERO \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	VXORPS Y4, Y4, Y4; \
	VXORPS Y5, Y5, Y5; \
	VXORPS Y6, Y6, Y6; \
	VXORPS Y7, Y7, Y7

// STRIP_SUM_STORE sums each row's eight lanes along HSUM_Y0's tree,
// (a0+a4)+(a1+a5), then (a2+a6)+(a3+a7), then their sum, for the eight
// rows at once, and stores the eight results at R12, advancing it.
#define STRIP_SUM_STORE \
	VADDPS  Y4, Y0, Y0; \
	VADDPS  Y5, Y1, Y1; \
	VADDPS  Y6, Y2, Y2; \
	VADDPS  Y7, Y3, Y3; \
	VADDPS  Y1, Y0, Y0; \
	VADDPS  Y3, Y2, Y2; \
	VADDPS  Y2, Y0, Y0; \
	VMOVUPS Y0, (R12); \
	ADDQ    $32, R12

// STRIP_PF prefetches the line o bytes into the strip stream, 16 KB ahead,
// non-temporally; STRIP_PF8 the eight lines from o on. On Zen 5 every
// PREFETCHTn fills L1, where 4 KB of prefetched weights pushed out the
// activations and side data of wide rows (7.5 KB at 4,864 columns, read
// once per strip), whose reloads from L2 then sat on the dot products'
// dependency chains; PREFETCHNTA lines leave L1 first. One thread streaming
// Q4_0 strips from DRAM, 896 rows at a time, alternating runs: 896 columns
// 28.9–31.9 → 34.2–38.7 GB/s, 4,864 columns 23.8–29.0 → 29.9–36.3 GB/s
// (8 KB ahead did less, 32 KB no more).
#define STRIP_PF(o) PREFETCHNTA (16384+o)(SI)
#define STRIP_PF8(o) \
	STRIP_PF(o); STRIP_PF(o+64); STRIP_PF(o+128); STRIP_PF(o+192); \
	STRIP_PF(o+256); STRIP_PF(o+320); STRIP_PF(o+384); STRIP_PF(o+448)

// STRIP_ROWS is the loop of the strip kernels: for each strip (R13 of
// them, SI walking their blocks, R12 their eight results), every group of
// four blocks (GB bytes of weights, 136 of activations at DI, 16 words of
// side data at R11) goes through GROUP into the accumulators Y0–Y7, whose
// lanes are then summed and stored.
#define STRIP_ROWS(GROUP, GB, STRIP, LOOP) \
	MOVQ      w+0(FP), SI; \
	MOVQ      dst+32(FP), R12; \
	MOVQ      strips+40(FP), R13; \
STRIP: \
	MOVQ   x+8(FP), DI; \
	MOVQ   side+16(FP), R11; \
	MOVQ   ng+24(FP), CX; \
	STRIP_ZERO; \
LOOP: \
	GROUP; \
	ADDQ $GB, SI; \
	ADDQ $136, DI; \
	ADDQ $64, R11; \
	DECQ CX; \
	JNZ  LOOP; \
	STRIP_SUM_STORE; \
	DECQ    R13; \
	JNZ     STRIP

// stripHighMask keeps the high nibbles (16·q of elements 16–31).
CONST32(stripHighMask, 0xf0f0f0f0f0f0f0f0, 0xf0f0f0f0f0f0f0f0, 0xf0f0f0f0f0f0f0f0, 0xf0f0f0f0f0f0f0f0)

// STRIP_QUARTER: step k, one 32-byte load (four bytes of each of eight rows) of the
// block at wo(SI), against the activation bytes at xo+4k of the block at
// xo(DI): the low nibbles into IL, the high ones into IH.
#define STRIP_QUARTER(wo, xo, k, IL, IH, W, T) \
	VMOVDQU64       (wo+16+32*k)(SI), W; \
	VPANDD          Y14, W, T; \
	VPDPBUSD.BCST   (xo+2+4*k)(DI), T, IL; \
	VPANDD          Y15, W, W; \
	VPDPBUSD.BCST   (xo+18+4*k)(DI), W, IH

// STRIP_BLOCK: block j (0–3) of the group at SI (weights), DI
// (activations) and R11 (side data), into accumulators AL (lane j) and AH
// (lane j+4). S, IL, IH, W and T are scratch.
#define STRIP_BLOCK(j, AL, AH, S, IL, IH, W, T) \
	VCVTPH2PS       (144*j)(SI), S; \
	VMULPS.BCST     (32+4*j)(R11), S, S; \
	VPXORD          IL, IL, IL; \
	VPXORD          IH, IH, IH; \
	STRIP_QUARTER(144*j, 34*j, 0, IL, IH, W, T); \
	STRIP_QUARTER(144*j, 34*j, 1, IL, IH, W, T); \
	STRIP_QUARTER(144*j, 34*j, 2, IL, IH, W, T); \
	STRIP_QUARTER(144*j, 34*j, 3, IL, IH, W, T); \
	VPSRAD          $4, IH, IH; \
	VPADDD.BCST     (4*j)(R11), IL, IL; \
	VPADDD.BCST     (16+4*j)(R11), IH, IH; \
	VCVTDQ2PS       IL, IL; \
	VCVTDQ2PS       IH, IH; \
	VFMADD231PS     IL, S, AL; \
	VFMADD231PS     IH, S, AH

// STRIP4_GROUP: a Q4_0 group, 576 bytes (nine cache lines) of the strip's
// stream, on two register sets, so that one block's integer chain overlaps
// the next one's.
#define STRIP4_GROUP \
	STRIP_PF8(0); STRIP_PF(512); \
	STRIP_BLOCK(0, Y0, Y4, Y8, Y9, Y10, Y11, Y12); \
	STRIP_BLOCK(1, Y1, Y5, Y16, Y17, Y18, Y19, Y20); \
	STRIP_BLOCK(2, Y2, Y6, Y8, Y9, Y10, Y11, Y12); \
	STRIP_BLOCK(3, Y3, Y7, Y16, Y17, Y18, Y19, Y20)

// func matvecQ4_0StripsVNNI(w *byte, x *byte, side *int32, ng int, dst *float32, strips int)
// Each of the strips ≥ 1 strips has 4·ng blocks (144 bytes each) and
// writes eight results to dst; side is decodeSide's, 16 words per group.
TEXT ·matvecQ4_0StripsVNNI(SB), NOSPLIT, $0-48
	VMOVDQU   mask0f<>(SB), Y14
	VMOVDQU   stripHighMask<>(SB), Y15
	STRIP_ROWS(STRIP4_GROUP, 576, strip4, group4)

	VZEROUPPER
	RET

// STRIP_SCALES_OUT copies a strip block's eight scales at SI to the eight
// rows at DI (rows 0–3) and R10 (rows 4–7), R8 bytes apart (R9 = 3·R8).
#define STRIP_SCALES_OUT \
	MOVWLZX 0(SI), AX; \
	MOVW    AX, (DI); \
	MOVWLZX 2(SI), AX; \
	MOVW    AX, (DI)(R8*1); \
	MOVWLZX 4(SI), AX; \
	MOVW    AX, (DI)(R8*2); \
	MOVWLZX 6(SI), AX; \
	MOVW    AX, (DI)(R9*1); \
	MOVWLZX 8(SI), AX; \
	MOVW    AX, (R10); \
	MOVWLZX 10(SI), AX; \
	MOVW    AX, (R10)(R8*1); \
	MOVWLZX 12(SI), AX; \
	MOVW    AX, (R10)(R8*2); \
	MOVWLZX 14(SI), AX; \
	MOVW    AX, (R10)(R9*1)

// STRIP_QUANTS_OUT transposes four steps (32 bytes each, dword r of step k
// is bytes 4k…4k+3 of row r) at si(SI) into 16 bytes of each row at
// ro(DI) and ro(R10), XORing every byte with Y15 (in each 128-bit lane:
// rows 0–3 in the low one, 4–7 in the high one).
#define STRIP_QUANTS_OUT(si, ro) \
	VPXOR        si(SI), Y15, Y0; \
	VPXOR        (si+32)(SI), Y15, Y1; \
	VPXOR        (si+64)(SI), Y15, Y2; \
	VPXOR        (si+96)(SI), Y15, Y3; \
	VPUNPCKLDQ   Y1, Y0, Y4; \
	VPUNPCKHDQ   Y1, Y0, Y5; \
	VPUNPCKLDQ   Y3, Y2, Y6; \
	VPUNPCKHDQ   Y3, Y2, Y7; \
	VPUNPCKLQDQ  Y6, Y4, Y0; \
	VPUNPCKHQDQ  Y6, Y4, Y1; \
	VPUNPCKLQDQ  Y7, Y5, Y2; \
	VPUNPCKHQDQ  Y7, Y5, Y3; \
	VMOVDQU      X0, ro(DI); \
	VMOVDQU      X1, ro(DI)(R8*1); \
	VMOVDQU      X2, ro(DI)(R8*2); \
	VMOVDQU      X3, ro(DI)(R9*1); \
	VEXTRACTI128 $1, Y0, ro(R10); \
	VEXTRACTI128 $1, Y1, ro(R10)(R8*1); \
	VEXTRACTI128 $1, Y2, ro(R10)(R8*2); \
	VEXTRACTI128 $1, Y3, ro(R10)(R9*1)

// func rebuildQ4_0Strip(strip *byte, nb int, rows *byte, rowBytes int)
// Rebuilds the eight rows of a Q4_0 strip of nb ≥ 1 blocks, row r at
// rows + r·rowBytes, in the standard layout.
TEXT ·rebuildQ4_0Strip(SB), NOSPLIT, $0-32
	MOVQ strip+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ rows+16(FP), DI
	MOVQ rowBytes+24(FP), R8
	LEAQ (R8)(R8*2), R9  // 3·rowBytes
	LEAQ (DI)(R8*4), R10 // row 4
	VPXOR Y15, Y15, Y15

r40block:
	STRIP_SCALES_OUT
	STRIP_QUANTS_OUT(16, 2)
	ADDQ $144, SI
	ADDQ $18, DI
	ADDQ $18, R10
	DECQ CX
	JNZ  r40block
	VZEROUPPER
	RET

// func rebuildQ8_0Strip(strip *byte, nb int, rows *byte, rowBytes int)
// As rebuildQ4_0Strip for Q8_0, whose strip quants are q+128.
TEXT ·rebuildQ8_0Strip(SB), NOSPLIT, $0-32
	MOVQ strip+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ rows+16(FP), DI
	MOVQ rowBytes+24(FP), R8
	LEAQ (R8)(R8*2), R9  // 3·rowBytes
	LEAQ (DI)(R8*4), R10 // row 4
	VPBROADCASTB sign80<>(SB), Y15

r80block:
	STRIP_SCALES_OUT
	STRIP_QUANTS_OUT(16, 2)
	STRIP_QUANTS_OUT(144, 18)
	ADDQ $272, SI
	ADDQ $34, DI
	ADDQ $34, R10
	DECQ CX
	JNZ  r80block
	VZEROUPPER
	RET

DATA sign80<>+0(SB)/1, $0x80
GLOBL sign80<>(SB), RODATA|NOPTR, $1

// The Q8_0 strip kernel follows the Q4_0 one. Its strips store q+128, so
// VPDPBUSD multiplies them, unsigned, with the signed activation quants
// broadcast from memory: eight 32-byte steps a block, four for each half,
// and nothing else per step. The excess 128·Σx of each half block is taken
// off with the side data (16 times decodeSide's −8·Σx). The integers are
// those of matvecQ8_0VNNI exactly, and so, in the same order, are the
// floats: the results are identical bit for bit.

// STRIP8_BLOCK: block j (0–3) of the Q8_0 group at SI, DI, R11, into
// accumulators AL and AH. S, IL, IH, W and T are scratch.
#define STRIP8_BLOCK(j, AL, AH, S, IL, IH, W, T) \
	VCVTPH2PS       (272*j)(SI), S; \
	VMULPS.BCST     (32+4*j)(R11), S, S; \
	VMOVDQU64       (272*j+16)(SI), W; \
	VPXORD          IL, IL, IL; \
	VPDPBUSD.BCST   (34*j+2)(DI), W, IL; \
	VMOVDQU64       (272*j+48)(SI), W; \
	VPDPBUSD.BCST   (34*j+6)(DI), W, IL; \
	VMOVDQU64       (272*j+80)(SI), W; \
	VPDPBUSD.BCST   (34*j+10)(DI), W, IL; \
	VMOVDQU64       (272*j+112)(SI), W; \
	VPDPBUSD.BCST   (34*j+14)(DI), W, IL; \
	VMOVDQU64       (272*j+144)(SI), W; \
	VPXORD          IH, IH, IH; \
	VPDPBUSD.BCST   (34*j+18)(DI), W, IH; \
	VMOVDQU64       (272*j+176)(SI), W; \
	VPDPBUSD.BCST   (34*j+22)(DI), W, IH; \
	VMOVDQU64       (272*j+208)(SI), W; \
	VPDPBUSD.BCST   (34*j+26)(DI), W, IH; \
	VMOVDQU64       (272*j+240)(SI), W; \
	VPDPBUSD.BCST   (34*j+30)(DI), W, IH; \
	VPBROADCASTD    (4*j)(R11), T; \
	VPSLLD          $4, T, T; \
	VPADDD          T, IL, IL; \
	VPBROADCASTD    (16+4*j)(R11), T; \
	VPSLLD          $4, T, T; \
	VPADDD          T, IH, IH; \
	VCVTDQ2PS       IL, IL; \
	VCVTDQ2PS       IH, IH; \
	VFMADD231PS     IL, S, AL; \
	VFMADD231PS     IH, S, AH

// STRIP8_GROUP: a Q8_0 group, 1088 bytes (17 cache lines).
#define STRIP8_GROUP \
	STRIP_PF8(0); STRIP_PF8(512); STRIP_PF(1024); \
	STRIP8_BLOCK(0, Y0, Y4, Y8, Y9, Y10, Y11, Y12); \
	STRIP8_BLOCK(1, Y1, Y5, Y16, Y17, Y18, Y19, Y20); \
	STRIP8_BLOCK(2, Y2, Y6, Y8, Y9, Y10, Y11, Y12); \
	STRIP8_BLOCK(3, Y3, Y7, Y16, Y17, Y18, Y19, Y20)

// func matvecQ8_0StripsVNNI(w *byte, x *byte, side *int32, ng int, dst *float32, strips int)
// As matvecQ4_0StripsVNNI for Q8_0 strips (272 bytes a block).
TEXT ·matvecQ8_0StripsVNNI(SB), NOSPLIT, $0-48
	STRIP_ROWS(STRIP8_GROUP, 1088, strip8, group8)

	VZEROUPPER
	RET

// The Q5_0 strip kernel (176-byte strip blocks, see packQ5_0). Per step,
// VPSHUFBITQMB picks from the eight rows' qh words (one register a block)
// the fifth bits of the step's bytes into K1 (low nibbles) and K2 (high
// ones); the nibbles, the high ones shifted down, get 16 added where the
// mask is set and meet the activations in VPDPBUSD as unsigned 5-bit quants
// q+16; the excess 16·Σx of each half block is twice decodeSide's −8·Σx.
// The integers and floats are matvecQ5_0VNNI's, in its order: identical
// results.

// q5BitIdx holds, for each step k and half h (at 64k + 32h), the bit each
// byte 4r+j of the step takes from the qword holding rows 2⌊r/2⌋ and
// 2⌊r/2⌋+1: bit 16h + 4k + j of row r, i.e. 16h + 4k + j + 32·(r mod 2).
#define Q5IDX(off, b) \
	DATA q5BitIdx<>+(off)(SB)/8, $(0x0302010003020100 + (b)*0x0101010101010101 + 0x2020202000000000); \
	DATA q5BitIdx<>+(off+8)(SB)/8, $(0x0302010003020100 + (b)*0x0101010101010101 + 0x2020202000000000); \
	DATA q5BitIdx<>+(off+16)(SB)/8, $(0x0302010003020100 + (b)*0x0101010101010101 + 0x2020202000000000); \
	DATA q5BitIdx<>+(off+24)(SB)/8, $(0x0302010003020100 + (b)*0x0101010101010101 + 0x2020202000000000)

Q5IDX(0, 0)
Q5IDX(32, 16)
Q5IDX(64, 4)
Q5IDX(96, 20)
Q5IDX(128, 8)
Q5IDX(160, 24)
Q5IDX(192, 12)
Q5IDX(224, 28)
GLOBL q5BitIdx<>(SB), RODATA|NOPTR, $256

// STRIP5_QUARTER: step k of the block at wo(SI) (qh words in Q, the bit
// indices at R14) against the activations at xo(DI), into IL (low half)
// and IH (high half); W, T scratch.
#define STRIP5_QUARTER(wo, xo, k, Q, IL, IH, W, T) \
	VMOVDQU64       (wo+48+32*k)(SI), W; \
	VPANDD          Y14, W, T; \
	VPSHUFBITQMB    (64*k)(R14), Q, K1; \
	VPADDB          Y13, T, K1, T; \
	VPDPBUSD.BCST   (xo+2+4*k)(DI), T, IL; \
	VPSRLW          $4, W, W; \
	VPANDD          Y14, W, W; \
	VPSHUFBITQMB    (64*k+32)(R14), Q, K2; \
	VPADDB          Y13, W, K2, W; \
	VPDPBUSD.BCST   (xo+18+4*k)(DI), W, IH

// STRIP5_BLOCK: block j (0–3) of the Q5_0 group at SI, DI, R11 into AL, AH.
#define STRIP5_BLOCK(j, AL, AH, S, Q, IL, IH, W, T) \
	VCVTPH2PS       (176*j)(SI), S; \
	VMULPS.BCST     (32+4*j)(R11), S, S; \
	VMOVDQU64       (176*j+16)(SI), Q; \
	VPXORD          IL, IL, IL; \
	VPXORD          IH, IH, IH; \
	STRIP5_QUARTER(176*j, 34*j, 0, Q, IL, IH, W, T); \
	STRIP5_QUARTER(176*j, 34*j, 1, Q, IL, IH, W, T); \
	STRIP5_QUARTER(176*j, 34*j, 2, Q, IL, IH, W, T); \
	STRIP5_QUARTER(176*j, 34*j, 3, Q, IL, IH, W, T); \
	VPBROADCASTD    (4*j)(R11), T; \
	VPADDD          T, T, T; \
	VPADDD          T, IL, IL; \
	VPBROADCASTD    (16+4*j)(R11), T; \
	VPADDD          T, T, T; \
	VPADDD          T, IH, IH; \
	VCVTDQ2PS       IL, IL; \
	VCVTDQ2PS       IH, IH; \
	VFMADD231PS     IL, S, AL; \
	VFMADD231PS     IH, S, AH

// STRIP5_GROUP: a Q5_0 group, 704 bytes (11 cache lines).
#define STRIP5_GROUP \
	STRIP_PF8(0); STRIP_PF(512); STRIP_PF(576); STRIP_PF(640); \
	STRIP5_BLOCK(0, Y0, Y4, Y8, Y15, Y9, Y10, Y11, Y12); \
	STRIP5_BLOCK(1, Y1, Y5, Y16, Y21, Y17, Y18, Y19, Y20); \
	STRIP5_BLOCK(2, Y2, Y6, Y8, Y15, Y9, Y10, Y11, Y12); \
	STRIP5_BLOCK(3, Y3, Y7, Y16, Y21, Y17, Y18, Y19, Y20)

// func matvecQ5_0StripsVNNI(w *byte, x *byte, side *int32, ng int, dst *float32, strips int)
TEXT ·matvecQ5_0StripsVNNI(SB), NOSPLIT, $0-48
	LEAQ      q5BitIdx<>(SB), R14
	VMOVDQU   mask0f<>(SB), Y14
	VMOVDQU   sixteens<>(SB), Y13
	STRIP_ROWS(STRIP5_GROUP, 704, strip5, group5)

	VZEROUPPER
	RET

// func rebuildQ5_0Strip(strip *byte, nb int, rows *byte, rowBytes int)
// As rebuildQ4_0Strip for Q5_0 (the qh words go back to their rows).
TEXT ·rebuildQ5_0Strip(SB), NOSPLIT, $0-32
	MOVQ strip+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ rows+16(FP), DI
	MOVQ rowBytes+24(FP), R8
	LEAQ (R8)(R8*2), R9  // 3·rowBytes
	LEAQ (DI)(R8*4), R10 // row 4
	VPXOR Y15, Y15, Y15

r50block:
	STRIP_SCALES_OUT
	MOVL 16(SI), AX
	MOVL AX, 2(DI)
	MOVL 20(SI), AX
	MOVL AX, 2(DI)(R8*1)
	MOVL 24(SI), AX
	MOVL AX, 2(DI)(R8*2)
	MOVL 28(SI), AX
	MOVL AX, 2(DI)(R9*1)
	MOVL 32(SI), AX
	MOVL AX, 2(R10)
	MOVL 36(SI), AX
	MOVL AX, 2(R10)(R8*1)
	MOVL 40(SI), AX
	MOVL AX, 2(R10)(R8*2)
	MOVL 44(SI), AX
	MOVL AX, 2(R10)(R9*1)
	STRIP_QUANTS_OUT(48, 6)
	ADDQ $176, SI
	ADDQ $22, DI
	ADDQ $22, R10
	DECQ CX
	JNZ  r50block
	VZEROUPPER
	RET
