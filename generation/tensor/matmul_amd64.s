//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// Tile kernels for batched products (see matmul.go). A decoded weight row
// holds 64 bytes per block (32 signed quants, then their magnitudes) and
// float32 block scales; activations are Q8_0 rows (f16 d + 32 int8) with
// their block scales also given as float32.

// Tile dot loops. Per activation row: SI walks the decoded weight blocks,
// BX their scales, DI the activation blocks, DX the activation scales, CX
// counts blocks. The arithmetic is exactly that of the single-token
// kernels in dot_amd64.s (four blocks at a time, their int32 sums folded
// by VPHADDD to meet the four scales, single blocks after), so that the
// results agree bit for bit.

// TD_AVX2(k, dst): block k of the group, eight int32 partial sums in dst.
#define TD_AVX2(k, dst) \
	VMOVDQU    (2+34*k)(DI), Y3; \
	VPSIGNB    (64*k)(SI), Y3, Y3; \
	VMOVDQU    (64*k+32)(SI), Y2; \
	VPMADDUBSW Y3, Y2, dst; \
	VPMADDWD   Y15, dst, dst

#define TILE_DOTS(TD, L_TOK, L4, TAIL, L1, DONE) \
	MOVQ    q+0(FP), R8; \
	MOVQ    d+8(FP), R9; \
	MOVQ    nb+16(FP), R10; \
	MOVQ    x+24(FP), R11; \
	MOVQ    xd+40(FP), R12; \
	MOVQ    dst+48(FP), R13; \
	MOVQ    dstStride+56(FP), R14; \
	SHLQ    $2, R14; \
	VMOVDQU ones16<>(SB), Y15; \
L_TOK: \
	MOVQ        R8, SI; \
	MOVQ        R9, BX; \
	MOVQ        R11, DI; \
	MOVQ        R12, DX; \
	MOVQ        R10, CX; \
	VXORPS      Y0, Y0, Y0; \
	CMPQ        CX, $4; \
	JLT         TAIL; \
L4: \
	TD(0, Y4); \
	TD(1, Y5); \
	TD(2, Y6); \
	TD(3, Y7); \
	VPHADDD     Y5, Y4, Y4; \
	VPHADDD     Y7, Y6, Y6; \
	VPHADDD     Y6, Y4, Y4; \
	VCVTDQ2PS   Y4, Y4; \
	VMOVUPS     (BX), X1; \
	VMULPS      (DX), X1, X1; \
	VPERMQ      $0x44, Y1, Y1; \
	VFMADD231PS Y4, Y1, Y0; \
	ADDQ        $256, SI; \
	ADDQ        $16, BX; \
	ADDQ        $136, DI; \
	ADDQ        $16, DX; \
	SUBQ        $4, CX; \
	CMPQ        CX, $4; \
	JGE         L4; \
TAIL: \
	TESTQ       CX, CX; \
	JZ          DONE; \
L1: \
	TD(0, Y4); \
	VCVTDQ2PS    Y4, Y4; \
	VMOVSS       (BX), X1; \
	VMULSS       (DX), X1, X1; \
	VBROADCASTSS X1, Y1; \
	VFMADD231PS  Y4, Y1, Y0; \
	ADDQ         $64, SI; \
	ADDQ         $4, BX; \
	ADDQ         $34, DI; \
	ADDQ         $4, DX; \
	DECQ         CX; \
	JNZ          L1; \
DONE: \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VHADDPS      X0, X0, X0; \
	VHADDPS      X0, X0, X0; \
	VMOVSS       X0, (R13); \
	ADDQ         R14, R13; \
	ADDQ         xStride+32(FP), R11; \
	LEAQ         (R12)(R10*4), R12; \
	DECQ         ntok+64(FP); \
	JNZ          L_TOK; \
	VZEROUPPER; \
	RET

DATA mmSigns<>+0(SB)/8, $0x8080808080808080
DATA mmSigns<>+8(SB)/8, $0x8080808080808080
DATA mmSigns<>+16(SB)/8, $0x8080808080808080
DATA mmSigns<>+24(SB)/8, $0x8080808080808080
GLOBL mmSigns<>(SB), RODATA|NOPTR, $32

// DECODE_STORE stores the signed quants in Y2 and a second form of them
// (SECOND_HALF: Y2 → Y3) at DI, the f16 scale at (SI) as float32 at (DX), and advances SI by wb, DI by
// 64 and DX by 4 (clobbers AX, X1, Y3).
#define DECODE_STORE(wb) \
	VMOVDQU   Y2, (DI); \
	SECOND_HALF; \
	VMOVDQU   Y3, 32(DI); \
	MOVWLZX   (SI), AX; \
	VMOVD     AX, X1; \
	VCVTPH2PS X1, X1; \
	VMOVSS    X1, (DX); \
	ADDQ      $wb, SI; \
	ADDQ      $64, DI; \
	ADDQ      $4, DX

#define SECOND_HALF VPABSB Y2, Y3

// The decoders' bodies, func(w *byte, nb int, q *byte, d *float32), one
// per weight type; SECOND_HALF, defined before each use, makes the AVX2
// and the VNNI ("Off") variants. LOOP names the body's loop label.
#define DECODE_ARGS \
	MOVQ w+0(FP), SI; \
	MOVQ nb+8(FP), CX; \
	MOVQ q+16(FP), DI; \
	MOVQ d+24(FP), DX

#define DECODE_LOOP_END(LOOP) \
	DECQ       CX; \
	JNZ        LOOP; \
	VZEROUPPER; \
	RET

#define DECODE_Q8_0(LOOP) \
	DECODE_ARGS; \
LOOP: \
	VMOVDQU 2(SI), Y2; \
	DECODE_STORE(34); \
	DECODE_LOOP_END(LOOP)

// Q4_0: low lane takes the low nibbles (elements 0–15), high lane the high
// nibbles; minus 8.
#define DECODE_Q4_0(LOOP) \
	DECODE_ARGS; \
	VMOVDQU        mask0f<>(SB), Y14; \
	VMOVDQU        eights<>(SB), Y13; \
	VMOVDQU        lowHighShift<>(SB), Y12; \
LOOP: \
	VBROADCASTI128 2(SI), Y2; \
	VPSRLVQ        Y12, Y2, Y2; \
	VPAND          Y14, Y2, Y2; \
	VPSUBB         Y13, Y2, Y2; \
	DECODE_STORE(18); \
	DECODE_LOOP_END(LOOP)

// Q5_0: as Q4_0, and q − 16 as int8 is nibble | (fifth bit ? 0 : 0xf0).
#define DECODE_Q5_0(LOOP) \
	DECODE_ARGS; \
	VMOVDQU        mask0f<>(SB), Y14; \
	VMOVDQU        bitsShuf<>(SB), Y13; \
	VMOVDQU        bitsMask<>(SB), Y12; \
	VMOVDQU        highF0<>(SB), Y11; \
	VPCMPEQB       Y10, Y10, Y10; \
	VMOVDQU        lowHighShift<>(SB), Y9; \
LOOP: \
	VBROADCASTI128 6(SI), Y2; \
	VPSRLVQ        Y9, Y2, Y2; \
	VPAND          Y14, Y2, Y2; \
	VPBROADCASTD   2(SI), Y8; \
	VPSHUFB        Y13, Y8, Y8; \
	VPOR           Y12, Y8, Y8; \
	VPCMPEQB       Y10, Y8, Y8; \
	VPANDN         Y11, Y8, Y8; \
	VPOR           Y8, Y2, Y2; \
	DECODE_STORE(22); \
	DECODE_LOOP_END(LOOP)

// func decodeQ8_0AVX2(w *byte, nb int, q *byte, d *float32)
TEXT ·decodeQ8_0AVX2(SB), NOSPLIT, $0-32
	DECODE_Q8_0(dq80loop)

// func decodeQ4_0AVX2(w *byte, nb int, q *byte, d *float32)
TEXT ·decodeQ4_0AVX2(SB), NOSPLIT, $0-32
	DECODE_Q4_0(dq40loop)

// func decodeQ5_0AVX2(w *byte, nb int, q *byte, d *float32)
TEXT ·decodeQ5_0AVX2(SB), NOSPLIT, $0-32
	DECODE_Q5_0(dq50loop)

#undef SECOND_HALF

// The ...Off decoders store q XOR 0x80 (q+128 read unsigned) as the
// second half, for the VNNI tile kernel.
#define SECOND_HALF VPXOR mmSigns<>(SB), Y2, Y3

// func decodeQ8_0Off(w *byte, nb int, q *byte, d *float32)
TEXT ·decodeQ8_0Off(SB), NOSPLIT, $0-32
	DECODE_Q8_0(do80loop)

// func decodeQ4_0Off(w *byte, nb int, q *byte, d *float32)
TEXT ·decodeQ4_0Off(SB), NOSPLIT, $0-32
	DECODE_Q4_0(do40loop)

// func decodeQ5_0Off(w *byte, nb int, q *byte, d *float32)
TEXT ·decodeQ5_0Off(SB), NOSPLIT, $0-32
	DECODE_Q5_0(do50loop)

#undef SECOND_HALF

// func tileDotsAVX2(q *byte, d *float32, nb int, x *byte, xStride int, xd *float32, dst *float32, dstStride int, ntok int)
TEXT ·tileDotsAVX2(SB), NOSPLIT, $0-72
	TILE_DOTS(TD_AVX2, tda_tok, tda4, tdatail, tda1, tdadone)

#define HSUM_STORE(ACC, XACC) \
	VEXTRACTF128 $1, ACC, X8; \
	VADDPS       X8, XACC, XACC; \
	VHADDPS      XACC, XACC, XACC; \
	VHADDPS      XACC, XACC, XACC; \
	VMOVSS       XACC, (R13); \
	ADDQ         CX, R13

// The VNNI kernels store weights as q+128 (unsigned), so that VPDPBUSD
// multiplies them with the signed activation quants directly; the excess
// 128·Σx of each four-byte lane is cancelled by starting the accumulator
// from the activation block's precomputed correction (−128·Σx per lane).
//
// Packed layouts for the VNNI kernel without horizontal adds. A group of
// four blocks is stored as four 32-byte steps; in step s, dword k < 4 holds
// quants 4s…4s+3 of block k and dword 4+k quants 16+4s…16+4s+3 of block k.
// Four VPDPBUSD over the steps leave in lane k the sum over block k's first
// sixteen products and in lane 4+k over its last sixteen: exactly the
// vector that the single-token kernels build with three VPHADDD.

// func repack4(src *byte, srcStride int, groups int, dst *byte, dstStride int)
//
// For each group: reads four 32-byte vectors srcStride apart, writes the
// four steps at dst, then advances src by 4·srcStride and dst by dstStride.
TEXT ·repack4(SB), NOSPLIT, $0-40
	MOVQ src+0(FP), SI
	MOVQ srcStride+8(FP), R8
	LEAQ (R8)(R8*2), R9
	MOVQ groups+16(FP), CX
	MOVQ dst+24(FP), DI
	MOVQ dstStride+32(FP), DX
	TESTQ CX, CX
	JZ    rpdone

rploop:
	VMOVDQU     (SI), Y0
	VMOVDQU     (SI)(R8*1), Y1
	VMOVDQU     (SI)(R8*2), Y2
	VMOVDQU     (SI)(R9*1), Y3
	VPUNPCKLDQ  Y1, Y0, Y4
	VPUNPCKHDQ  Y1, Y0, Y5
	VPUNPCKLDQ  Y3, Y2, Y6
	VPUNPCKHDQ  Y3, Y2, Y7
	VPUNPCKLQDQ Y6, Y4, Y0
	VPUNPCKHQDQ Y6, Y4, Y1
	VPUNPCKLQDQ Y7, Y5, Y2
	VPUNPCKHQDQ Y7, Y5, Y3
	VMOVDQU     Y0, (DI)
	VMOVDQU     Y1, 32(DI)
	VMOVDQU     Y2, 64(DI)
	VMOVDQU     Y3, 96(DI)
	LEAQ        (SI)(R8*4), SI
	ADDQ        DX, DI
	DECQ        CX
	JNZ         rploop

rpdone:
	VZEROUPPER
	RET

// TOKP(XB, ACC): one token's packed group at XB (32 bytes of corrections,
// four steps of quants, four float32 scales); weight steps in Y9–Y12,
// weight scales (twice) in Y13.
#define TOKP(XB, ACC) \
	VMOVDQU        (0)XB, Y4; \
	VPDPBUSD       (32)XB, Y9, Y4; \
	VPDPBUSD       (64)XB, Y10, Y4; \
	VPDPBUSD       (96)XB, Y11, Y4; \
	VPDPBUSD       (128)XB, Y12, Y4; \
	VCVTDQ2PS      Y4, Y4; \
	VBROADCASTF128 (160)XB, Y8; \
	VMULPS         Y8, Y13, Y8; \
	VFMADD231PS    Y4, Y8, ACC

// TOKP1(XB, ACC): one token's single tail block at XB (32 bytes of
// corrections, 32 quants, float32 scale); weights in Y9, scale at (BX).
#define TOKP1(XB, ACC) \
	VMOVDQU      (0)XB, Y4; \
	VPDPBUSD     (32)XB, Y9, Y4; \
	VCVTDQ2PS    Y4, Y4; \
	VMOVSS       (BX), X8; \
	VMULSS       (64)XB, X8, X8; \
	VBROADCASTSS X8, Y8; \
	VFMADD231PS  Y4, Y8, ACC

// func tile4PackedVNNI(q *byte, d *float32, groups int, tail int, x *byte, xStride int, dst *float32, dstStride int)
TEXT ·tile4PackedVNNI(SB), NOSPLIT, $0-64
	MOVQ   q+0(FP), SI
	MOVQ   d+8(FP), BX
	MOVQ   groups+16(FP), CX
	MOVQ   tail+24(FP), DX
	MOVQ   x+32(FP), DI
	MOVQ   xStride+40(FP), R11
	LEAQ   (R11)(R11*2), R12
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	TESTQ  CX, CX
	JZ     tptail

tploop:
	VMOVDQU 0(SI), Y9
	VMOVDQU 32(SI), Y10
	VMOVDQU 64(SI), Y11
	VMOVDQU 96(SI), Y12
	VMOVUPS (BX), X13
	VPERMQ  $0x44, Y13, Y13
	TOKP((DI), Y0)
	TOKP((DI)(R11*1), Y1)
	TOKP((DI)(R11*2), Y2)
	TOKP((DI)(R12*1), Y3)
	ADDQ    $128, SI
	ADDQ    $16, BX
	ADDQ    $176, DI
	DECQ    CX
	JNZ     tploop

tptail:
	TESTQ DX, DX
	JZ    tpdone

tpone:
	VMOVDQU (SI), Y9
	TOKP1((DI), Y0)
	TOKP1((DI)(R11*1), Y1)
	TOKP1((DI)(R11*2), Y2)
	TOKP1((DI)(R12*1), Y3)
	ADDQ    $32, SI
	ADDQ    $4, BX
	ADDQ    $68, DI
	DECQ    DX
	JNZ     tpone

tpdone:
	MOVQ dst+48(FP), R13
	MOVQ dstStride+56(FP), CX
	SHLQ $2, CX
	HSUM_STORE(Y0, X0)
	HSUM_STORE(Y1, X1)
	HSUM_STORE(Y2, X2)
	HSUM_STORE(Y3, X3)
	VZEROUPPER
	RET

// func tileDotsQ4KVNNI(q *byte, nb int, x *byte, xStride int, dst *float32, dstStride int, ntok int)
//
// Decoded Q4_K rows (see decodeRowQ4K) against Q8_K activation rows, one
// token at a time, with the arithmetic of dotQ4KAVX2: per super-block the
// int32 lanes Σ_j sc_j·(four products) — here VPMADDUBSW then VPDPWSSD
// with the broadcast scale pair — scaled by d·dx, and the mins term
// dmin·dx·Σ m_j·(bsum pairs) kept apart in X9.
TEXT ·tileDotsQ4KVNNI(SB), NOSPLIT, $0-56
	MOVQ q+0(FP), R8
	MOVQ x+16(FP), R11
	MOVQ dst+32(FP), R13
	MOVQ dstStride+40(FP), R14
	SHLQ $2, R14

q4ktok:
	MOVQ   R8, SI
	MOVQ   R11, DI
	MOVQ   nb+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS X9, X9, X9

q4ksb:
	VMOVSD       304(SI), X6
	VBROADCASTSS (DI), X7
	VMULPS       X7, X6, X6
	VPSHUFD      $0x55, X6, X7
	VBROADCASTSS X6, Y6
	VMOVDQU      288(SI), X10
	VMOVDQU      (4+256)(DI), X11
	VMOVDQU      (4+256+16)(DI), X12
	VPHADDW      X12, X11, X11
	VPMADDWD     X11, X10, X10
	VCVTDQ2PS    X10, X10
	VFMADD231PS  X10, X7, X9
	// Four accumulators (integer sums, so their order is free) keep the
	// VPDPWSSD dependency chains short.
	VMOVDQU       0(SI), Y1
	VMOVDQU       32(SI), Y2
	VMOVDQU       64(SI), Y3
	VMOVDQU       96(SI), Y4
	VPMADDUBSW    4(DI), Y1, Y1
	VPMADDUBSW    36(DI), Y2, Y2
	VPMADDUBSW    68(DI), Y3, Y3
	VPMADDUBSW    100(DI), Y4, Y4
	VPXOR         Y5, Y5, Y5
	VPXOR         Y13, Y13, Y13
	VPXOR         Y14, Y14, Y14
	VPXOR         Y15, Y15, Y15
	VPDPWSSD.BCST 256(SI), Y1, Y5
	VPDPWSSD.BCST 260(SI), Y2, Y13
	VPDPWSSD.BCST 264(SI), Y3, Y14
	VPDPWSSD.BCST 268(SI), Y4, Y15
	VMOVDQU       128(SI), Y1
	VMOVDQU       160(SI), Y2
	VMOVDQU       192(SI), Y3
	VMOVDQU       224(SI), Y4
	VPMADDUBSW    132(DI), Y1, Y1
	VPMADDUBSW    164(DI), Y2, Y2
	VPMADDUBSW    196(DI), Y3, Y3
	VPMADDUBSW    228(DI), Y4, Y4
	VPDPWSSD.BCST 272(SI), Y1, Y5
	VPDPWSSD.BCST 276(SI), Y2, Y13
	VPDPWSSD.BCST 280(SI), Y3, Y14
	VPDPWSSD.BCST 284(SI), Y4, Y15
	VPADDD        Y13, Y5, Y5
	VPADDD        Y15, Y14, Y14
	VPADDD        Y14, Y5, Y5
	VCVTDQ2PS    Y5, Y5
	VFMADD231PS  Y5, Y6, Y0
	ADDQ         $320, SI
	ADDQ         $292, DI
	DECQ         CX
	JNZ          q4ksb

	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VSUBPS       X9, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, (R13)
	ADDQ         R14, R13
	ADDQ         xStride+24(FP), R11
	DECQ         ntok+48(FP)
	JNZ          q4ktok
	VZEROUPPER
	RET

// The two-row VNNI kernel: two packed weight rows against four packed
// activation rows, so that each activation load serves two rows (the
// one-row kernel is bound by reading activations from L2). Weight steps of
// row 0 in Y9–Y12, of row 1 in Y16–Y19; scales in Y13 and Y20; row 0's
// four token sums in Y0–Y3, row 1's in Y21–Y24.

// TOK2(XB, ACC0, ACC1): one token's packed group at XB for both rows.
#define TOK2(XB, ACC0, ACC1) \
	VMOVDQU        (0)XB, Y4; \
	VMOVDQA        Y4, Y5; \
	VMOVDQU        (32)XB, Y6; \
	VMOVDQU        (64)XB, Y7; \
	VMOVDQU        (96)XB, Y14; \
	VMOVDQU        (128)XB, Y15; \
	VPDPBUSD       Y6, Y9, Y4; \
	VPDPBUSD       Y6, Y16, Y5; \
	VPDPBUSD       Y7, Y10, Y4; \
	VPDPBUSD       Y7, Y17, Y5; \
	VPDPBUSD       Y14, Y11, Y4; \
	VPDPBUSD       Y14, Y18, Y5; \
	VPDPBUSD       Y15, Y12, Y4; \
	VPDPBUSD       Y15, Y19, Y5; \
	VCVTDQ2PS      Y4, Y4; \
	VCVTDQ2PS      Y5, Y5; \
	VBROADCASTF128 (160)XB, Y8; \
	VMULPS         Y8, Y13, Y25; \
	VMULPS         Y8, Y20, Y26; \
	VFMADD231PS    Y4, Y25, ACC0; \
	VFMADD231PS    Y5, Y26, ACC1

// TOK21(XB, ACC0, ACC1): one token's tail block at XB for both rows
// (weights in Y9 and Y16, scales at (BX) and (R9)).
#define TOK21(XB, ACC0, ACC1) \
	VMOVDQU      (0)XB, Y4; \
	VMOVDQA      Y4, Y5; \
	VMOVDQU      (32)XB, Y6; \
	VPDPBUSD     Y6, Y9, Y4; \
	VPDPBUSD     Y6, Y16, Y5; \
	VCVTDQ2PS    Y4, Y4; \
	VCVTDQ2PS    Y5, Y5; \
	VMOVSS       (BX), X8; \
	VMULSS       (64)XB, X8, X8; \
	VBROADCASTSS X8, Y8; \
	VFMADD231PS  Y4, Y8, ACC0; \
	VMOVSS       (R9), X25; \
	VMULSS       (64)XB, X25, X25; \
	VBROADCASTSS X25, Y25; \
	VFMADD231PS  Y5, Y25, ACC1

// func tile8PackedVNNI(q0, q1 *byte, d0, d1 *float32, groups int, tail int, x *byte, xStride int, dst *float32, dstStride int)
TEXT ·tile8PackedVNNI(SB), NOSPLIT, $0-80
	MOVQ   q0+0(FP), SI
	MOVQ   q1+8(FP), R8
	MOVQ   d0+16(FP), BX
	MOVQ   d1+24(FP), R9
	MOVQ   groups+32(FP), CX
	MOVQ   tail+40(FP), DX
	MOVQ   x+48(FP), DI
	MOVQ   xStride+56(FP), R11
	LEAQ   (R11)(R11*2), R12
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VPXORD Y21, Y21, Y21
	VPXORD Y22, Y22, Y22
	VPXORD Y23, Y23, Y23
	VPXORD Y24, Y24, Y24
	TESTQ  CX, CX
	JZ     t8tail

t8loop:
	VMOVDQU   0(SI), Y9
	VMOVDQU   32(SI), Y10
	VMOVDQU   64(SI), Y11
	VMOVDQU   96(SI), Y12
	VMOVDQU32 0(R8), Y16
	VMOVDQU32 32(R8), Y17
	VMOVDQU32 64(R8), Y18
	VMOVDQU32 96(R8), Y19
	VMOVUPS   (BX), X13
	VPERMQ    $0x44, Y13, Y13
	VMOVUPS   (R9), X20
	VPERMQ    $0x44, Y20, Y20
	TOK2((DI), Y0, Y21)
	TOK2((DI)(R11*1), Y1, Y22)
	TOK2((DI)(R11*2), Y2, Y23)
	TOK2((DI)(R12*1), Y3, Y24)
	ADDQ      $128, SI
	ADDQ      $128, R8
	ADDQ      $16, BX
	ADDQ      $16, R9
	ADDQ      $176, DI
	DECQ      CX
	JNZ       t8loop

t8tail:
	TESTQ DX, DX
	JZ    t8done

t8one:
	VMOVDQU   (SI), Y9
	VMOVDQU32 (R8), Y16
	TOK21((DI), Y0, Y21)
	TOK21((DI)(R11*1), Y1, Y22)
	TOK21((DI)(R11*2), Y2, Y23)
	TOK21((DI)(R12*1), Y3, Y24)
	ADDQ      $32, SI
	ADDQ      $32, R8
	ADDQ      $4, BX
	ADDQ      $4, R9
	ADDQ      $68, DI
	DECQ      DX
	JNZ       t8one

t8done:
	MOVQ    dst+64(FP), R13
	MOVQ    dstStride+72(FP), CX
	SHLQ    $2, CX
	HSUM_STORE(Y0, X0)
	HSUM_STORE(Y1, X1)
	HSUM_STORE(Y2, X2)
	HSUM_STORE(Y3, X3)
	MOVQ    dst+64(FP), R13
	ADDQ    $4, R13
	VMOVAPS Y21, Y0
	VMOVAPS Y22, Y1
	VMOVAPS Y23, Y2
	VMOVAPS Y24, Y3
	HSUM_STORE(Y0, X0)
	HSUM_STORE(Y1, X1)
	HSUM_STORE(Y2, X2)
	HSUM_STORE(Y3, X3)
	VZEROUPPER
	RET

// Activation quantization.

DATA mmAbsMask<>+0(SB)/4, $0x7fffffff
GLOBL mmAbsMask<>(SB), RODATA|NOPTR, $4

DATA mmF127<>+0(SB)/4, $127.0
GLOBL mmF127<>(SB), RODATA|NOPTR, $4

DATA mmF1<>+0(SB)/4, $1.0
GLOBL mmF1<>(SB), RODATA|NOPTR, $4

DATA mmFHalf<>+0(SB)/4, $0.5
GLOBL mmFHalf<>(SB), RODATA|NOPTR, $4

DATA mmFMax<>+0(SB)/4, $0x7f7fffff
GLOBL mmFMax<>(SB), RODATA|NOPTR, $4

DATA mmPackPerm<>+0(SB)/4, $0
DATA mmPackPerm<>+4(SB)/4, $4
DATA mmPackPerm<>+8(SB)/4, $1
DATA mmPackPerm<>+12(SB)/4, $5
DATA mmPackPerm<>+16(SB)/4, $2
DATA mmPackPerm<>+20(SB)/4, $6
DATA mmPackPerm<>+24(SB)/4, $3
DATA mmPackPerm<>+28(SB)/4, $7
GLOBL mmPackPerm<>(SB), RODATA|NOPTR, $32

DATA mmOnes8<>+0(SB)/8, $0x0101010101010101
DATA mmOnes8<>+8(SB)/8, $0x0101010101010101
DATA mmOnes8<>+16(SB)/8, $0x0101010101010101
DATA mmOnes8<>+24(SB)/8, $0x0101010101010101
GLOBL mmOnes8<>(SB), RODATA|NOPTR, $32

// ROUND_HALF_AWAY(R): R = round-half-away-from-zero(R), exact for
// |R| < 2^23: t = trunc(R), plus ±1 (R's sign) where |R − t| ≥ 0.5.
// Y15 holds the abs mask, Y13 1.0, Y12 0.5; clobbers Y5, Y6, Y14.
#define ROUND_HALF_AWAY(R) \
	VROUNDPS $3, R, Y5; \
	VSUBPS   Y5, R, Y6; \
	VANDPS   Y15, Y6, Y6; \
	VCMPPS   $0x1d, Y12, Y6, Y6; \
	VANDNPS  R, Y15, Y14; \
	VORPS    Y13, Y14, Y14; \
	VANDPS   Y6, Y14, Y14; \
	VADDPS   Y14, Y5, R

// func quantizeQ8_0AVX2(x *float32, nb int, dst *byte, scales *float32, corr *int32) int
//
// Encodes nb Q8_0 blocks exactly as quantizeBlockQ8_0, also storing each
// block's scale as float32 and its VNNI corrections (−128·Σ of each four
// quants). It stops early, returning the number of blocks done, at a block
// whose inverse scale overflows (|x| < 2^−119), which Go then encodes.
TEXT ·quantizeQ8_0AVX2(SB), NOSPLIT, $0-48
	MOVQ         x+0(FP), SI
	MOVQ         nb+8(FP), CX
	MOVQ         dst+16(FP), DI
	MOVQ         scales+24(FP), DX
	MOVQ         corr+32(FP), R8
	XORQ         AX, AX
	VBROADCASTSS mmAbsMask<>(SB), Y15
	VBROADCASTSS mmFHalf<>(SB), Y12
	VBROADCASTSS mmF1<>(SB), Y13
	VMOVDQU      mmPackPerm<>(SB), Y10
	VMOVDQU      mmOnes8<>(SB), Y9
	VMOVDQU      ones16<>(SB), Y8
	TESTQ        CX, CX
	JZ           q8done

q8loop:
	VMOVUPS      (SI), Y0
	VMOVUPS      32(SI), Y1
	VMOVUPS      64(SI), Y2
	VMOVUPS      96(SI), Y3
	VANDPS       Y15, Y0, Y4
	VANDPS       Y15, Y1, Y5
	VMAXPS       Y5, Y4, Y4
	VANDPS       Y15, Y2, Y5
	VANDPS       Y15, Y3, Y6
	VMAXPS       Y6, Y5, Y5
	VMAXPS       Y5, Y4, Y4
	HMAX_Y(Y4, X4, X5)

	// d = amax/127, stored as f16; the float32 scale is the rounded d.
	VDIVSS    mmF127<>(SB), X4, X4
	VCVTPS2PH $0, X4, X5
	VMOVD     X5, BX
	MOVW      BX, (DI)
	VCVTPH2PS X5, X5
	VMOVSS    X5, (DX)
	VXORPS    Y7, Y7, Y7
	VUCOMISS  X7, X4
	JEQ       q8zero
	VMOVSS    mmF1<>(SB), X7
	VDIVSS    X4, X7, X7
	VUCOMISS  mmFMax<>(SB), X7
	JA        q8stop
	VBROADCASTSS X7, Y7

q8zero:
	// Y7 = 1/d (0 for an all-zero block).
	VMULPS     Y7, Y0, Y0
	VMULPS     Y7, Y1, Y1
	VMULPS     Y7, Y2, Y2
	VMULPS     Y7, Y3, Y3
	ROUND_HALF_AWAY(Y0)
	ROUND_HALF_AWAY(Y1)
	ROUND_HALF_AWAY(Y2)
	ROUND_HALF_AWAY(Y3)
	VCVTTPS2DQ Y0, Y0
	VCVTTPS2DQ Y1, Y1
	VCVTTPS2DQ Y2, Y2
	VCVTTPS2DQ Y3, Y3
	VPACKSSDW  Y1, Y0, Y0
	VPACKSSDW  Y3, Y2, Y2
	VPACKSSWB  Y2, Y0, Y0
	VPERMD     Y0, Y10, Y0
	VMOVDQU    Y0, 2(DI)

	// Corrections: Σ of each four quants (ones × q, then pairs), × −128.
	VPMADDUBSW Y0, Y9, Y1
	VPMADDWD   Y8, Y1, Y1
	VPSLLD     $7, Y1, Y1
	VPXOR      Y2, Y2, Y2
	VPSUBD     Y1, Y2, Y1
	VMOVDQU    Y1, (R8)
	ADDQ       $128, SI
	ADDQ       $34, DI
	ADDQ       $4, DX
	ADDQ       $32, R8
	INCQ       AX
	CMPQ       AX, CX
	JLT        q8loop

q8done:
q8stop:
	MOVQ AX, ret+40(FP)
	VZEROUPPER
	RET

DATA mmFm127<>+0(SB)/4, $-127.0
GLOBL mmFm127<>(SB), RODATA|NOPTR, $4

DATA mmI127<>+0(SB)/4, $127
GLOBL mmI127<>(SB), RODATA|NOPTR, $4

// Q8K_QUANT32 quantizes the 32 floats at off(R8) by Y1 (the inverse
// scale) into 32 bytes at (DI)+4+off/4, and stores the sums of their two
// groups of 16 quants as int16 at R9 and R9+2.
#define Q8K_SUM16(A, B, OFF) \
	VPADDD       B, A, Y6; \
	VEXTRACTI128 $1, Y6, X7; \
	VPADDD       X7, X6, X6; \
	VPSHUFD      $0x4e, X6, X7; \
	VPADDD       X7, X6, X6; \
	VPSHUFD      $0xb1, X6, X7; \
	VPADDD       X7, X6, X6; \
	VMOVD        X6, DX; \
	MOVW         DX, OFF(R9)

#define Q8K_QUANT32 \
	VMULPS     (R8), Y1, Y2; \
	VMULPS     32(R8), Y1, Y3; \
	VMULPS     64(R8), Y1, Y4; \
	VMULPS     96(R8), Y1, Y5; \
	VCVTPS2DQ  Y2, Y2; \
	VCVTPS2DQ  Y3, Y3; \
	VCVTPS2DQ  Y4, Y4; \
	VCVTPS2DQ  Y5, Y5; \
	VPMINSD    Y9, Y2, Y2; \
	VPMINSD    Y9, Y3, Y3; \
	VPMINSD    Y9, Y4, Y4; \
	VPMINSD    Y9, Y5, Y5; \
	Q8K_SUM16(Y2, Y3, 0); \
	Q8K_SUM16(Y4, Y5, 2); \
	VPACKSSDW  Y3, Y2, Y2; \
	VPACKSSDW  Y5, Y4, Y4; \
	VPACKSSWB  Y4, Y2, Y2; \
	VPERMD     Y2, Y10, Y2; \
	VMOVDQU    Y2, (R10)

// func quantizeQ8KAVX2(x *float32, nb int, dst *byte) int
//
// Encodes nb Q8_K blocks (256 values, 292 bytes) exactly as
// quantizeBlockQ8K: the value of largest magnitude (the first of a tie)
// sets the inverse scale −127/max, each quant is round-to-nearest-even of
// its scaled value (VCVTPS2DQ in the default rounding mode, which ggml's
// float trick also computes) capped at 127, and the sums of each 16 quants
// follow. It stops early, returning the number of blocks done, at a block
// holding a NaN or an infinity or whose inverse scale overflows, which Go
// then encodes.
TEXT ·quantizeQ8KAVX2(SB), NOSPLIT, $0-32
	MOVQ         x+0(FP), SI
	MOVQ         nb+8(FP), CX
	MOVQ         dst+16(FP), DI
	XORQ         AX, AX
	VBROADCASTSS mmAbsMask<>(SB), Y15
	VMOVDQU      mmPackPerm<>(SB), Y10
	VPBROADCASTD mmI127<>(SB), Y9
	TESTQ        CX, CX
	JZ           q8kdone

q8kblock:
	// The largest magnitude into X0 (broadcast in Y0), NaNs flagged in Y4.
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y4, Y4, Y4
	MOVQ   SI, R8
	MOVQ   $8, BX

q8kmax:
	VANDPS  (R8), Y15, Y2
	VANDPS  32(R8), Y15, Y3
	VCMPPS  $3, Y2, Y2, Y5
	VORPS   Y5, Y4, Y4
	VCMPPS  $3, Y3, Y3, Y5
	VORPS   Y5, Y4, Y4
	VMAXPS  Y0, Y2, Y0
	VMAXPS  Y1, Y3, Y1
	VANDPS  64(R8), Y15, Y2
	VANDPS  96(R8), Y15, Y3
	VCMPPS  $3, Y2, Y2, Y5
	VORPS   Y5, Y4, Y4
	VCMPPS  $3, Y3, Y3, Y5
	VORPS   Y5, Y4, Y4
	VMAXPS  Y0, Y2, Y0
	VMAXPS  Y1, Y3, Y1
	ADDQ    $128, R8
	DECQ    BX
	JNZ     q8kmax

	VMOVMSKPS Y4, DX
	TESTL     DX, DX
	JNZ       q8kdone
	VMAXPS       Y1, Y0, Y0
	HMAX_Y(Y0, X0, X1)
	VUCOMISS     mmFMax<>(SB), X0
	JA           q8kdone
	VXORPS       X1, X1, X1
	VUCOMISS     X1, X0
	JEQ          q8kzero
	VBROADCASTSS X0, Y0

	// The first value of that magnitude: its index into BX.
	MOVQ SI, R8
	XORQ BX, BX

q8kfind:
	VANDPS    (R8)(BX*4), Y15, Y2
	VCMPPS    $0, Y0, Y2, Y2
	VMOVMSKPS Y2, DX
	TESTL     DX, DX
	JNZ       q8kfound
	ADDQ      $8, BX
	JMP       q8kfind

q8kfound:
	TZCNTL DX, DX
	ADDQ   DX, BX
	VMOVSS (SI)(BX*4), X2

	// iscale = −127/max (Y1), d = 1/iscale.
	VMOVSS       mmFm127<>(SB), X1
	VDIVSS       X2, X1, X1
	VANDPS       X15, X1, X3
	VUCOMISS     mmFMax<>(SB), X3
	JA           q8kdone
	VMOVSS       mmF1<>(SB), X3
	VDIVSS       X1, X3, X3
	VMOVSS       X3, (DI)
	VBROADCASTSS X1, Y1

	MOVQ SI, R8
	LEAQ 4(DI), R10
	LEAQ 260(DI), R9
	MOVQ $8, BX

q8kquant:
	Q8K_QUANT32
	ADDQ $128, R8
	ADDQ $32, R10
	ADDQ $4, R9
	DECQ BX
	JNZ  q8kquant
	JMP  q8knext

q8kzero:
	VXORPS  Y1, Y1, Y1
	VMOVDQU Y1, (DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y1, 64(DI)
	VMOVDQU Y1, 96(DI)
	VMOVDQU Y1, 128(DI)
	VMOVDQU Y1, 160(DI)
	VMOVDQU Y1, 192(DI)
	VMOVDQU Y1, 224(DI)
	VMOVDQU Y1, 256(DI)
	VMOVDQU Y1, 260(DI)

q8knext:
	ADDQ $1024, SI
	ADDQ $292, DI
	INCQ AX
	CMPQ AX, CX
	JLT  q8kblock

q8kdone:
	MOVQ AX, ret+24(FP)
	VZEROUPPER
	RET

// func tileDotsQ6KVNNI(q *byte, nb int, x *byte, xStride int, dst *float32, dstStride int, ntok int)
//
// Decoded Q6_K rows (see decodeRowQ6K) against Q8_K activation rows, one
// token at a time, with the arithmetic of dotQ6KAVX2: per super-block the
// int32 lanes Σ sc·(pair sums) — VPMADDUBSW then VPDPWSSD with the
// decoded scale words, in four accumulators — minus 32·Σ sc_g·bsum_g,
// scaled by d·dx.
TEXT ·tileDotsQ6KVNNI(SB), NOSPLIT, $0-56
	MOVQ q+0(FP), R8
	MOVQ x+16(FP), R11
	MOVQ dst+32(FP), R13
	MOVQ dstStride+40(FP), R14
	SHLQ $2, R14

q6ktok:
	MOVQ   R8, SI
	MOVQ   R11, DI
	MOVQ   nb+8(FP), CX
	VXORPS Y0, Y0, Y0

q6ksb:
	VMOVSS       544(SI), X6
	VMULSS       (DI), X6, X6
	VBROADCASTSS X6, Y6
	VMOVDQU      512(SI), Y7
	VPMADDWD     (4+256)(DI), Y7, Y7
	VPSLLD       $5, Y7, Y7
	VMOVDQU      0(SI), Y1
	VMOVDQU      32(SI), Y2
	VMOVDQU      64(SI), Y3
	VMOVDQU      96(SI), Y4
	VPMADDUBSW   4(DI), Y1, Y1
	VPMADDUBSW   36(DI), Y2, Y2
	VPMADDUBSW   68(DI), Y3, Y3
	VPMADDUBSW   100(DI), Y4, Y4
	VPXOR        Y5, Y5, Y5
	VPXOR        Y13, Y13, Y13
	VPXOR        Y14, Y14, Y14
	VPXOR        Y15, Y15, Y15
	VPDPWSSD     256(SI), Y1, Y5
	VPDPWSSD     288(SI), Y2, Y13
	VPDPWSSD     320(SI), Y3, Y14
	VPDPWSSD     352(SI), Y4, Y15
	VMOVDQU      128(SI), Y1
	VMOVDQU      160(SI), Y2
	VMOVDQU      192(SI), Y3
	VMOVDQU      224(SI), Y4
	VPMADDUBSW   132(DI), Y1, Y1
	VPMADDUBSW   164(DI), Y2, Y2
	VPMADDUBSW   196(DI), Y3, Y3
	VPMADDUBSW   228(DI), Y4, Y4
	VPDPWSSD     384(SI), Y1, Y5
	VPDPWSSD     416(SI), Y2, Y13
	VPDPWSSD     448(SI), Y3, Y14
	VPDPWSSD     480(SI), Y4, Y15
	VPADDD       Y13, Y5, Y5
	VPADDD       Y15, Y14, Y14
	VPADDD       Y14, Y5, Y5
	VPSUBD       Y7, Y5, Y5
	VCVTDQ2PS    Y5, Y5
	VFMADD231PS  Y5, Y6, Y0
	ADDQ         $576, SI
	ADDQ         $292, DI
	DECQ         CX
	JNZ          q6ksb

	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	VMOVSS       X0, (R13)
	ADDQ         R14, R13
	ADDQ         xStride+24(FP), R11
	DECQ         ntok+48(FP)
	JNZ          q6ktok
	VZEROUPPER
	RET
