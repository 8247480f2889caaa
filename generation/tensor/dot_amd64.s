//go:build amd64 && !purego

#include "textflag.h"
#include "kernels_amd64.h"

// wordShuf: for k = 0…7, 32 bytes that broadcast 16-bit word k of each
// 128-bit lane.
DATA wordShuf<>+0(SB)/8, $0x0100010001000100
DATA wordShuf<>+8(SB)/8, $0x0100010001000100
DATA wordShuf<>+16(SB)/8, $0x0100010001000100
DATA wordShuf<>+24(SB)/8, $0x0100010001000100
DATA wordShuf<>+32(SB)/8, $0x0302030203020302
DATA wordShuf<>+40(SB)/8, $0x0302030203020302
DATA wordShuf<>+48(SB)/8, $0x0302030203020302
DATA wordShuf<>+56(SB)/8, $0x0302030203020302
DATA wordShuf<>+64(SB)/8, $0x0504050405040504
DATA wordShuf<>+72(SB)/8, $0x0504050405040504
DATA wordShuf<>+80(SB)/8, $0x0504050405040504
DATA wordShuf<>+88(SB)/8, $0x0504050405040504
DATA wordShuf<>+96(SB)/8, $0x0706070607060706
DATA wordShuf<>+104(SB)/8, $0x0706070607060706
DATA wordShuf<>+112(SB)/8, $0x0706070607060706
DATA wordShuf<>+120(SB)/8, $0x0706070607060706
DATA wordShuf<>+128(SB)/8, $0x0908090809080908
DATA wordShuf<>+136(SB)/8, $0x0908090809080908
DATA wordShuf<>+144(SB)/8, $0x0908090809080908
DATA wordShuf<>+152(SB)/8, $0x0908090809080908
DATA wordShuf<>+160(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA wordShuf<>+168(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA wordShuf<>+176(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA wordShuf<>+184(SB)/8, $0x0b0a0b0a0b0a0b0a
DATA wordShuf<>+192(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA wordShuf<>+200(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA wordShuf<>+208(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA wordShuf<>+216(SB)/8, $0x0d0c0d0c0d0c0d0c
DATA wordShuf<>+224(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA wordShuf<>+232(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA wordShuf<>+240(SB)/8, $0x0f0e0f0e0f0e0f0e
DATA wordShuf<>+248(SB)/8, $0x0f0e0f0e0f0e0f0e
GLOBL wordShuf<>(SB), RODATA|NOPTR, $256

// pairShuf: for s = 0…7, 16 bytes: 8 copies of byte 2s, then 8 of byte 2s+1.
DATA pairShuf<>+0(SB)/8, $0x0000000000000000
DATA pairShuf<>+8(SB)/8, $0x0101010101010101
DATA pairShuf<>+16(SB)/8, $0x0202020202020202
DATA pairShuf<>+24(SB)/8, $0x0303030303030303
DATA pairShuf<>+32(SB)/8, $0x0404040404040404
DATA pairShuf<>+40(SB)/8, $0x0505050505050505
DATA pairShuf<>+48(SB)/8, $0x0606060606060606
DATA pairShuf<>+56(SB)/8, $0x0707070707070707
DATA pairShuf<>+64(SB)/8, $0x0808080808080808
DATA pairShuf<>+72(SB)/8, $0x0909090909090909
DATA pairShuf<>+80(SB)/8, $0x0a0a0a0a0a0a0a0a
DATA pairShuf<>+88(SB)/8, $0x0b0b0b0b0b0b0b0b
DATA pairShuf<>+96(SB)/8, $0x0c0c0c0c0c0c0c0c
DATA pairShuf<>+104(SB)/8, $0x0d0d0d0d0d0d0d0d
DATA pairShuf<>+112(SB)/8, $0x0e0e0e0e0e0e0e0e
DATA pairShuf<>+120(SB)/8, $0x0f0f0f0f0f0f0f0f
GLOBL pairShuf<>(SB), RODATA|NOPTR, $128

// Row-kernel calling convention: (w *byte, rowBytes int, x *byte, nb int,
// dst *float32, rows int) computes dst[i] for rows ≥ 1 consecutive weight
// rows of nb blocks, rowBytes apart, against the activation blocks at x.
// DX walks the rows; the body of each kernel leaves the row's dot in X0.

// STORE_ROW_AND_NEXT stores X0 to *dst, advances dst and DX, and loops to
// LOOP while rows remain (clobbers BX).
#define STORE_ROW_AND_NEXT(LOOP) \
	MOVQ   dst+32(FP), BX; \
	VMOVSS X0, (BX); \
	ADDQ   $4, BX; \
	MOVQ   BX, dst+32(FP); \
	ADDQ   rowBytes+8(FP), DX; \
	DECQ   rows+40(FP); \
	JNZ    LOOP

// The Q8_0, Q4_0 and Q5_0 kernels share one loop, QUANT_KERNEL, built from
// a weight decoder W(wo) that leaves a block's 32 signed quants in Y2, and a
// dot DOT(xo, dst) that multiplies them with the Q8_0 activation block at
// xo(DI) into eight int32 partial sums in dst. Blocks go four at a time:
// their sums are folded with VPHADDD into one vector whose lanes meet the
// four blocks' scales, so the float work is paid once per four blocks.

// BLOCK_SCALE converts the f16 scales at wo(SI) and xo(DI) (reading the
// first 8 bytes of each block), multiplies them and broadcasts the product
// to Y1 (clobbers X2).
#define BLOCK_SCALE(wo, xo) \
	VCVTPH2PS    wo(SI), X1; \
	VCVTPH2PS    xo(DI), X2; \
	VMULSS       X2, X1, X1; \
	VBROADCASTSS X1, Y1

// GROUP4_SCALES leaves d_w·d_x of four consecutive blocks (weight blocks
// wb bytes apart, activation blocks xb apart, both scales first) in Y1 as
// [s0 s1 s2 s3 | s0 s1 s2 s3] (clobbers AX, BX, X2).
#define GROUP4_SCALES(wb, xb) \
	MOVWLZX   (SI), AX; \
	MOVWLZX   (wb)(SI), BX; \
	SHLQ      $16, BX; \
	ORQ       BX, AX; \
	MOVWLZX   (2*wb)(SI), BX; \
	SHLQ      $32, BX; \
	ORQ       BX, AX; \
	MOVWLZX   (3*wb)(SI), BX; \
	SHLQ      $48, BX; \
	ORQ       BX, AX; \
	VMOVQ     AX, X1; \
	MOVWLZX   (DI), AX; \
	MOVWLZX   (xb)(DI), BX; \
	SHLQ      $16, BX; \
	ORQ       BX, AX; \
	MOVWLZX   (2*xb)(DI), BX; \
	SHLQ      $32, BX; \
	ORQ       BX, AX; \
	MOVWLZX   (3*xb)(DI), BX; \
	SHLQ      $48, BX; \
	ORQ       BX, AX; \
	VMOVQ     AX, X2; \
	VCVTPH2PS X1, X1; \
	VCVTPH2PS X2, X2; \
	VMULPS    X2, X1, X1; \
	VPERMQ    $0x44, Y1, Y1

// Q8_0_W: the 32 int8 quants as they are.
#define Q8_0_W(wo) \
	VMOVDQU (wo+2)(SI), Y2

// Q4_0_W: nibbles → bytes (low lane: low nibbles = elements 0–15; high
// lane: high nibbles = 16–31), minus 8.
#define Q4_0_W(wo) \
	VBROADCASTI128 (wo+2)(SI), Y2; \
	VPSRLVQ        Y12, Y2, Y2; \
	VPAND          Y14, Y2, Y2; \
	VPSUBB         Y13, Y2, Y2

// Q5_0_W: as Q4_0 plus the fifth bits from qh (byte i = 0xff where bit i
// is set); q − 16 is nibble | (bit ? 0 : 0xf0) as int8.
#define Q5_0_W(wo) \
	VBROADCASTI128 (wo+6)(SI), Y2; \
	VPSRLVQ        Y9, Y2, Y2; \
	VPAND          Y14, Y2, Y2; \
	VPBROADCASTD   (wo+2)(SI), Y8; \
	VPSHUFB        Y13, Y8, Y8; \
	VPOR           Y12, Y8, Y8; \
	VPCMPEQB       Y10, Y8, Y8; \
	VPANDN         Y11, Y8, Y8; \
	VPOR           Y8, Y2, Y2

// Q5_0_W_512 / Q5_1_W_512: the same decoders with AVX-512BW mask registers:
// the 32 qh bits load straight into K1, and a masked byte subtract (add)
// applies them. Y11 holds 0x10 bytes.
#define Q5_0_W_512(wo) \
	VBROADCASTI128 (wo+6)(SI), Y2; \
	VPSRLVQ        Y9, Y2, Y2; \
	VPAND          Y14, Y2, Y2; \
	KMOVD          (wo+2)(SI), K1; \
	KNOTD          K1, K1; \
	VPSUBB         Y11, Y2, K1, Y2

#define Q5_1_W_512(wo) \
	VBROADCASTI128 (wo+8)(SI), Y2; \
	VPSRLVQ        Y9, Y2, Y2; \
	VPAND          Y14, Y2, Y2; \
	KMOVD          (wo+4)(SI), K1; \
	VPADDB         Y11, Y2, K1, Y2

// DOT_AVX2: |w| · (x·sign(w)) with VPMADDUBSW, pairs summed by VPMADDWD.
#define DOT_AVX2(xo, dst) \
	VMOVDQU    (xo+2)(DI), Y3; \
	VPSIGNB    Y2, Y3, Y3; \
	VPSIGNB    Y2, Y2, Y2; \
	VPMADDUBSW Y3, Y2, dst; \
	VPMADDWD   Y15, dst, dst

// DOT_VNNI: the same with one VPDPBUSD (AVX-512 VNNI on 256-bit registers).
#define DOT_VNNI(xo, dst) \
	VMOVDQU  (xo+2)(DI), Y3; \
	VPSIGNB  Y2, Y3, Y3; \
	VPSIGNB  Y2, Y2, Y2; \
	VPXOR    dst, dst, dst; \
	VPDPBUSD Y3, Y2, dst

// GROUP4_MINS adds m_w·s_x of four consecutive Q4_1/Q5_1 blocks (the
// second f16 of each weight and Q8_1 activation block) to lanes 0–3 of Y0
// (clobbers AX, BX, X2, X3).
#define GROUP4_MINS(wb, xb) \
	MOVWLZX   2(SI), AX; \
	MOVWLZX   (wb+2)(SI), BX; \
	SHLQ      $16, BX; \
	ORQ       BX, AX; \
	MOVWLZX   (2*wb+2)(SI), BX; \
	SHLQ      $32, BX; \
	ORQ       BX, AX; \
	MOVWLZX   (3*wb+2)(SI), BX; \
	SHLQ      $48, BX; \
	ORQ       BX, AX; \
	VMOVQ     AX, X2; \
	MOVWLZX   2(DI), AX; \
	MOVWLZX   (xb+2)(DI), BX; \
	SHLQ      $16, BX; \
	ORQ       BX, AX; \
	MOVWLZX   (2*xb+2)(DI), BX; \
	SHLQ      $32, BX; \
	ORQ       BX, AX; \
	MOVWLZX   (3*xb+2)(DI), BX; \
	SHLQ      $48, BX; \
	ORQ       BX, AX; \
	VMOVQ     AX, X3; \
	VCVTPH2PS X2, X2; \
	VCVTPH2PS X3, X3; \
	VMULPS    X3, X2, X2; \
	VADDPS    Y2, Y0, Y0

// BLOCK_MIN adds one block's m_w·s_x to lane 0 of Y0 (clobbers AX, BX,
// X2, X3).
#define BLOCK_MIN(wb, xb) \
	MOVWLZX   2(SI), AX; \
	MOVWLZX   2(DI), BX; \
	VMOVD     AX, X2; \
	VMOVD     BX, X3; \
	VCVTPH2PS X2, X2; \
	VCVTPH2PS X3, X3; \
	VMULSS    X3, X2, X2; \
	VADDPS    Y2, Y0, Y0

// NO_MIN stands in for GROUP4_MINS and BLOCK_MIN in the symmetric formats.
#define NO_MIN(wb, xb)

// ROW_KERNEL is the body of a QUANT_KERNEL row kernel: CONSTS loads its
// constants, then each row (label ROWS) runs QUANT_KERNEL(ARGS…) and
// STORE_ROW_AND_NEXT.
#define ROW_KERNEL(CONSTS, ROWS, W, DOT, MINS, MIN1, wb, xb, L4, TAIL, L1, DONE) \
	MOVQ w+0(FP), DX; \
	CONSTS; \
ROWS: \
	MOVQ DX, SI; \
	MOVQ x+16(FP), DI; \
	MOVQ nb+24(FP), CX; \
	QUANT_KERNEL(W, DOT, MINS, MIN1, wb, xb, L4, TAIL, L1, DONE); \
	STORE_ROW_AND_NEXT(ROWS); \
	VZEROUPPER; \
	RET

// QUANT_KERNEL runs W and DOT over CX blocks of wb weight bytes against
// activation blocks of xb bytes, adds the minimum terms with MINS (groups
// of four) and MIN1 (single blocks), and leaves the float sum in X0.
#define QUANT_KERNEL(W, DOT, MINS, MIN1, wb, xb, L4, TAIL, L1, DONE) \
	VXORPS      Y0, Y0, Y0; \
	CMPQ        CX, $4; \
	JLT         TAIL; \
L4: \
	PREFETCHT2  4096(SI); \
	PREFETCHT2  4160(SI); \
	PREFETCHT2  4224(SI); \
	MINS(wb, xb); \
	GROUP4_SCALES(wb, xb); \
	W(0); \
	DOT(0, Y4); \
	W(wb); \
	DOT(xb, Y5); \
	W(2*wb); \
	DOT(2*xb, Y6); \
	W(3*wb); \
	DOT(3*xb, Y7); \
	VPHADDD     Y5, Y4, Y4; \
	VPHADDD     Y7, Y6, Y6; \
	VPHADDD     Y6, Y4, Y4; \
	VCVTDQ2PS   Y4, Y4; \
	VFMADD231PS Y4, Y1, Y0; \
	ADDQ        $(4*wb), SI; \
	ADDQ        $(4*xb), DI; \
	SUBQ        $4, CX; \
	CMPQ        CX, $4; \
	JGE         L4; \
TAIL: \
	TESTQ       CX, CX; \
	JZ          DONE; \
L1: \
	MIN1(wb, xb); \
	BLOCK_SCALE(0, 0); \
	W(0); \
	DOT(0, Y4); \
	VCVTDQ2PS   Y4, Y4; \
	VFMADD231PS Y4, Y1, Y0; \
	ADDQ        $wb, SI; \
	ADDQ        $xb, DI; \
	DECQ        CX; \
	JNZ         L1; \
DONE: \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS      X1, X0, X0; \
	VHADDPS     X0, X0, X0; \
	VHADDPS     X0, X0, X0

// Q4_1_W: unsigned nibbles (0…15) as bytes, low lane elements 0–15.
#define Q4_1_W(wo) \
	VBROADCASTI128 (wo+4)(SI), Y2; \
	VPSRLVQ        Y12, Y2, Y2; \
	VPAND          Y14, Y2, Y2

// Q5_1_W: unsigned 5-bit quants (0…31): nibbles plus 16 where the qh bit
// is set.
#define Q5_1_W(wo) \
	VBROADCASTI128 (wo+8)(SI), Y2; \
	VPSRLVQ        Y9, Y2, Y2; \
	VPAND          Y14, Y2, Y2; \
	VPBROADCASTD   (wo+4)(SI), Y8; \
	VPSHUFB        Y13, Y8, Y8; \
	VPOR           Y12, Y8, Y8; \
	VPCMPEQB       Y10, Y8, Y8; \
	VPAND          Y11, Y8, Y8; \
	VPOR           Y8, Y2, Y2

// DOT_U_AVX2 / DOT_U_VNNI: unsigned weights in Y2 against the Q8_1 quants
// at (xo+4)(DI), no sign trick needed.
#define DOT_U_AVX2(xo, dst) \
	VPMADDUBSW (xo+4)(DI), Y2, dst; \
	VPMADDWD   Y15, dst, dst

#define DOT_U_VNNI(xo, dst) \
	VPXOR    dst, dst, dst; \
	VPDPBUSD (xo+4)(DI), Y2, dst

#define Q4_1_CONSTS \
	VMOVDQU ones16<>(SB), Y15; \
	VMOVDQU mask0f<>(SB), Y14; \
	VMOVDQU lowHighShift<>(SB), Y12

#define Q5_512_CONSTS \
	VMOVDQU ones16<>(SB), Y15; \
	VMOVDQU mask0f<>(SB), Y14; \
	VMOVDQU sixteens<>(SB), Y11; \
	VMOVDQU lowHighShift<>(SB), Y9

#define Q5_1_CONSTS \
	VMOVDQU  ones16<>(SB), Y15; \
	VMOVDQU  mask0f<>(SB), Y14; \
	VMOVDQU  bitsShuf<>(SB), Y13; \
	VMOVDQU  bitsMask<>(SB), Y12; \
	VMOVDQU  sixteens<>(SB), Y11; \
	VPCMPEQB Y10, Y10, Y10; \
	VMOVDQU  lowHighShift<>(SB), Y9

#define Q8_0_CONSTS \
	VMOVDQU ones16<>(SB), Y15

#define Q4_0_CONSTS \
	VMOVDQU ones16<>(SB), Y15; \
	VMOVDQU mask0f<>(SB), Y14; \
	VMOVDQU eights<>(SB), Y13; \
	VMOVDQU lowHighShift<>(SB), Y12

#define Q5_0_CONSTS \
	VMOVDQU  ones16<>(SB), Y15; \
	VMOVDQU  mask0f<>(SB), Y14; \
	VMOVDQU  bitsShuf<>(SB), Y13; \
	VMOVDQU  bitsMask<>(SB), Y12; \
	VMOVDQU  highF0<>(SB), Y11; \
	VPCMPEQB Y10, Y10, Y10; \
	VMOVDQU  lowHighShift<>(SB), Y9

// func dotQ8_0AVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-48
	ROW_KERNEL(Q8_0_CONSTS, dotQ8_0AVX2rows, Q8_0_W, DOT_AVX2, NO_MIN, NO_MIN, 34, 34, q80a4, q80atail, q80a1, q80adone)

// func dotQ4_0AVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-48
	ROW_KERNEL(Q4_0_CONSTS, dotQ4_0AVX2rows, Q4_0_W, DOT_AVX2, NO_MIN, NO_MIN, 18, 34, q40a4, q40atail, q40a1, q40adone)

// func dotQ5_0AVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ5_0AVX2(SB), NOSPLIT, $0-48
	ROW_KERNEL(Q5_0_CONSTS, dotQ5_0AVX2rows, Q5_0_W, DOT_AVX2, NO_MIN, NO_MIN, 22, 34, q50a4, q50atail, q50a1, q50adone)

// func dotQ8_0VNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ8_0VNNI(SB), NOSPLIT, $0-48
	ROW_KERNEL(Q8_0_CONSTS, dotQ8_0VNNIrows, Q8_0_W, DOT_VNNI, NO_MIN, NO_MIN, 34, 34, q80v4, q80vtail, q80v1, q80vdone)

// func dotQ4_0VNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ4_0VNNI(SB), NOSPLIT, $0-48
	ROW_KERNEL(Q4_0_CONSTS, dotQ4_0VNNIrows, Q4_0_W, DOT_VNNI, NO_MIN, NO_MIN, 18, 34, q40v4, q40vtail, q40v1, q40vdone)

// func dotQ5_0VNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ5_0VNNI(SB), NOSPLIT, $0-48
	ROW_KERNEL(Q5_512_CONSTS, dotQ5_0VNNIrows, Q5_0_W_512, DOT_VNNI, NO_MIN, NO_MIN, 22, 34, q50v4, q50vtail, q50v1, q50vdone)

// func dotQ4_1AVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ4_1AVX2(SB), NOSPLIT, $0-48
	ROW_KERNEL(Q4_1_CONSTS, dotQ4_1AVX2rows, Q4_1_W, DOT_U_AVX2, GROUP4_MINS, BLOCK_MIN, 20, 36, q41a4, q41atail, q41a1, q41adone)

// func dotQ5_1AVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ5_1AVX2(SB), NOSPLIT, $0-48
	ROW_KERNEL(Q5_1_CONSTS, dotQ5_1AVX2rows, Q5_1_W, DOT_U_AVX2, GROUP4_MINS, BLOCK_MIN, 24, 36, q51a4, q51atail, q51a1, q51adone)

// func dotQ4_1VNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ4_1VNNI(SB), NOSPLIT, $0-48
	ROW_KERNEL(Q4_1_CONSTS, dotQ4_1VNNIrows, Q4_1_W, DOT_U_VNNI, GROUP4_MINS, BLOCK_MIN, 20, 36, q41v4, q41vtail, q41v1, q41vdone)

// func dotQ5_1VNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ5_1VNNI(SB), NOSPLIT, $0-48
	ROW_KERNEL(Q5_512_CONSTS, dotQ5_1VNNIrows, Q5_1_W_512, DOT_U_VNNI, GROUP4_MINS, BLOCK_MIN, 24, 36, q51v4, q51vtail, q51v1, q51vdone)

// K_SUPERBLOCK_HEADER prepares a Q4_K/Q5_K super-block at SI against the
// Q8_K block at DI: d·dx broadcast in Y6; the eight 6-bit scales unpacked
// (ggml's get_scale_min_k4, four bytes at a time: R8 = scales 0–3, R10 =
// 4–7, R13 = mins 0–3, R11 = 4–7) as 16-bit words in both lanes of Y8; and
// dmin·dx·Σ_j m_j·(bsum_2j + bsum_2j+1) added to X9. Clobbers AX, R8–R13,
// X7, X10–X12.
#define K_SUPERBLOCK_HEADER \
	MOVL         (SI), AX; \
	VMOVD        AX, X6; \
	VCVTPH2PS    X6, X6; \
	VBROADCASTSS (DI), X7; \
	VMULPS       X7, X6, X6; \
	VPSHUFD      $0x55, X6, X7; \
	VBROADCASTSS X6, Y6; \
	MOVL 4(SI), R8; \
	MOVL 8(SI), R9; \
	MOVL 12(SI), R10; \
	MOVL R10, R11; \
	SHRL $4, R11; \
	ANDL $0x0f0f0f0f, R11; \
	MOVL R9, R12; \
	SHRL $6, R12; \
	ANDL $0x03030303, R12; \
	SHLL $4, R12; \
	ORL  R12, R11; \
	MOVL R9, R13; \
	ANDL $0x3f3f3f3f, R13; \
	ANDL $0x0f0f0f0f, R10; \
	MOVL R8, R12; \
	SHRL $6, R12; \
	ANDL $0x03030303, R12; \
	SHLL $4, R12; \
	ORL  R12, R10; \
	ANDL $0x3f3f3f3f, R8; \
	SHLQ        $32, R10; \
	ORQ         R10, R8; \
	VMOVQ       R8, X8; \
	VPMOVZXBW   X8, X8; \
	VINSERTI128 $1, X8, Y8, Y8; \
	SHLQ       $32, R11; \
	ORQ        R11, R13; \
	VMOVQ      R13, X10; \
	VPMOVZXBW  X10, X10; \
	VMOVDQU    (4+256)(DI), X11; \
	VMOVDQU    (4+256+16)(DI), X12; \
	VPHADDW    X12, X11, X11; \
	VPMADDWD   X11, X10, X10; \
	VCVTDQ2PS  X10, X10; \
	VFMADD231PS X10, X7, X9

// Q4K_CHUNK multiplies 64 elements (sub-blocks 2c and 2c+1) and adds the
// scaled int32 sums to Y5. Y8 holds the eight 16-bit scales in both lanes.
#define Q4K_CHUNK(c) \
	VMOVDQU    (16+32*c)(SI), Y1; \
	VPSRLW     $4, Y1, Y2; \
	VPAND      Y14, Y1, Y1; \
	VPAND      Y14, Y2, Y2; \
	VPMADDUBSW (4+64*c)(DI), Y1, Y1; \
	VPMADDUBSW (4+64*c+32)(DI), Y2, Y2; \
	VPSHUFB    wordShuf<>+(64*c)(SB), Y8, Y3; \
	VPSHUFB    wordShuf<>+(64*c+32)(SB), Y8, Y4; \
	VPMADDWD   Y3, Y1, Y1; \
	VPMADDWD   Y4, Y2, Y2; \
	VPADDD     Y1, Y5, Y5; \
	VPADDD     Y2, Y5, Y5

// func dotQ4KAVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ4KAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DX
dotQ4KAVX2rows:
	MOVQ DX, SI
	MOVQ x+16(FP), DI
	MOVQ nb+24(FP), CX
	VXORPS  Y0, Y0, Y0    // Σ d·sumi
	VXORPS  X9, X9, X9    // Σ dmin·summs
	VMOVDQU mask0f<>(SB), Y14
	TESTQ   CX, CX
	JZ      q4kdone

q4kloop:
	// Prefetch 4 KB ahead in the row stream, as the Q6_K kernel does.
	PREFETCHT2 4096(SI)
	PREFETCHT2 4160(SI)
	PREFETCHT2 4224(SI)
	K_SUPERBLOCK_HEADER

	VPXOR Y5, Y5, Y5
	Q4K_CHUNK(0)
	Q4K_CHUNK(1)
	Q4K_CHUNK(2)
	Q4K_CHUNK(3)
	VCVTDQ2PS   Y5, Y5
	VFMADD231PS Y5, Y6, Y0

	ADDQ $144, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  q4kloop

q4kdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VSUBPS       X9, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	STORE_ROW_AND_NEXT(dotQ4KAVX2rows)
	VZEROUPPER
	RET

// The Q4_K kernel on AVX-512 VNNI: dotQ4KAVX2's integers and floats with
// fewer instructions. The header unpacks the eight 6-bit scales and mins
// with byte shuffles and masks instead of scalar code (the same bytes as
// get_scale_min_k4), and each 64-element chunk is one 512-bit step: its
// 32 nibble bytes in both halves, shifted by 0 and 4 (VPSRLVW), meet the
// chunk's 64 activations in one VPDPBUSD, whose dword lane k holds the
// four products that lane k of VPMADDUBSW + VPMADDWD holds there, then
// VPMULLD applies the sub-block's scale. Lanes 8–15 (the high nibbles)
// are added onto lanes 0–7 once per super-block: the same integers as in
// dotQ4KAVX2, and the same float work after them, so the results are
// identical bit for bit.

// q4kShuf gathers the scale bytes for the unpack: sc sources (bytes 0–3,
// 8–11) and min sources (4–7, 8–11), then the bytes whose top two bits
// complete scales and mins 4–7 (0–3, 4–7; 0x80 clears).
DATA q4kShuf<>+0(SB)/8, $0x0b0a090803020100
DATA q4kShuf<>+8(SB)/8, $0x0b0a090807060504
DATA q4kShuf<>+16(SB)/8, $0x0302010080808080
DATA q4kShuf<>+24(SB)/8, $0x0706050480808080
// q4kMask: the low-bit masks (3f for scales and mins 0–3, 0f for scales
// 4–7), the 0f for mins 4–7 after a shift by 4, and the 30 for the top
// bits after a shift by 2.
DATA q4kMask<>+0(SB)/8, $0x0f0f0f0f3f3f3f3f
DATA q4kMask<>+8(SB)/8, $0x000000003f3f3f3f
DATA q4kMask<>+16(SB)/8, $0
DATA q4kMask<>+24(SB)/8, $0x0f0f0f0f00000000
DATA q4kMask<>+32(SB)/8, $0x3030303000000000
DATA q4kMask<>+40(SB)/8, $0x3030303000000000
GLOBL q4kShuf<>(SB), RODATA|NOPTR, $32
GLOBL q4kMask<>(SB), RODATA|NOPTR, $48

// q4kIdx holds the VPERMD indices that put scale 2c in lanes 0–7 and
// scale 2c+1 in lanes 8–15, for c = 0…3; q4kShift the per-word shift
// counts 0 (low 256 bits) and 4 (high).
#define Q4K_IDX(c) \
	DATA q4kIdx<>+(64*c)(SB)/8, $((2*c)*0x0000000100000001); \
	DATA q4kIdx<>+(64*c+8)(SB)/8, $((2*c)*0x0000000100000001); \
	DATA q4kIdx<>+(64*c+16)(SB)/8, $((2*c)*0x0000000100000001); \
	DATA q4kIdx<>+(64*c+24)(SB)/8, $((2*c)*0x0000000100000001); \
	DATA q4kIdx<>+(64*c+32)(SB)/8, $((2*c+1)*0x0000000100000001); \
	DATA q4kIdx<>+(64*c+40)(SB)/8, $((2*c+1)*0x0000000100000001); \
	DATA q4kIdx<>+(64*c+48)(SB)/8, $((2*c+1)*0x0000000100000001); \
	DATA q4kIdx<>+(64*c+56)(SB)/8, $((2*c+1)*0x0000000100000001)

Q4K_IDX(0)
Q4K_IDX(1)
Q4K_IDX(2)
Q4K_IDX(3)
GLOBL q4kIdx<>(SB), RODATA|NOPTR, $256

DATA q4kShift<>+0(SB)/8, $0
DATA q4kShift<>+8(SB)/8, $0
DATA q4kShift<>+16(SB)/8, $0
DATA q4kShift<>+24(SB)/8, $0
DATA q4kShift<>+32(SB)/8, $0x0004000400040004
DATA q4kShift<>+40(SB)/8, $0x0004000400040004
DATA q4kShift<>+48(SB)/8, $0x0004000400040004
DATA q4kShift<>+56(SB)/8, $0x0004000400040004
GLOBL q4kShift<>(SB), RODATA|NOPTR, $64

// Q4KZ_HEADER is K_SUPERBLOCK_HEADER with the scale unpack in vector
// registers: d·dx broadcast in Y6, dmin·dx·Σ_j m_j·(bsum_2j + bsum_2j+1)
// added to X9, and the eight scales as dwords spread into the chunks'
// scale vectors Z16–Z19. Clobbers AX, X2–X4, X7, X10–X12.
#define Q4KZ_HEADER \
	MOVL         (SI), AX; \
	VMOVD        AX, X6; \
	VCVTPH2PS    X6, X6; \
	VBROADCASTSS (DI), X7; \
	VMULPS       X7, X6, X6; \
	VPSHUFD      $0x55, X6, X7; \
	VBROADCASTSS X6, Y6; \
	VMOVDQU      4(SI), X2; \
	VPSHUFB      q4kShuf<>+0(SB), X2, X3; \
	VPSHUFB      q4kShuf<>+16(SB), X2, X4; \
	VPAND        q4kMask<>+0(SB), X3, X2; \
	VPSRLW       $4, X3, X3; \
	VPAND        q4kMask<>+16(SB), X3, X3; \
	VPOR         X3, X2, X2; \
	VPSRLW       $2, X4, X4; \
	VPAND        q4kMask<>+32(SB), X4, X4; \
	VPOR         X4, X2, X2; \
	VPMOVZXBD    X2, Y3; \
	VPERMD       Z3, Z20, Z16; \
	VPERMD       Z3, Z21, Z17; \
	VPERMD       Z3, Z22, Z18; \
	VPERMD       Z3, Z23, Z19; \
	VPSRLDQ      $8, X2, X10; \
	VPMOVZXBW    X10, X10; \
	VMOVDQU      (4+256)(DI), X11; \
	VMOVDQU      (4+256+16)(DI), X12; \
	VPHADDW      X12, X11, X11; \
	VPMADDWD     X11, X10, X10; \
	VCVTDQ2PS    X10, X10; \
	VFMADD231PS  X10, X7, X9

// Q4KZ_CHUNK is Q4K_CHUNK in one 512-bit step, scale vector S.
#define Q4KZ_CHUNK(c, S) \
	VBROADCASTI64X4 (16+32*c)(SI), Z1; \
	VPSRLVW         Z24, Z1, Z1; \
	VPANDD          Z14, Z1, Z1; \
	VPXORD          Z10, Z10, Z10; \
	VPDPBUSD        (4+64*c)(DI), Z1, Z10; \
	VPMULLD         S, Z10, Z10; \
	VPADDD          Z10, Z5, Z5

// func dotQ4KVNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ4KVNNI(SB), NOSPLIT, $0-48
	VPBROADCASTD mask0f<>(SB), Z14
	VMOVDQU64    q4kShift<>(SB), Z24
	VMOVDQU64    q4kIdx<>+0(SB), Z20
	VMOVDQU64    q4kIdx<>+64(SB), Z21
	VMOVDQU64    q4kIdx<>+128(SB), Z22
	VMOVDQU64    q4kIdx<>+192(SB), Z23
	MOVQ w+0(FP), DX

dotQ4KVNNIrows:
	MOVQ   DX, SI
	MOVQ   x+16(FP), DI
	MOVQ   nb+24(FP), CX
	VXORPS Y0, Y0, Y0 // Σ d·sumi
	VXORPS X9, X9, X9 // Σ dmin·summs
	TESTQ  CX, CX
	JZ     q4kzdone

q4kzloop:
	// Non-temporal prefetch 16 KB ahead, as the strip kernels (STRIP_PF).
	PREFETCHNTA 16384(SI)
	PREFETCHNTA 16448(SI)
	PREFETCHNTA 16512(SI)
	Q4KZ_HEADER
	VPXORD Z5, Z5, Z5
	Q4KZ_CHUNK(0, Z16)
	Q4KZ_CHUNK(1, Z17)
	Q4KZ_CHUNK(2, Z18)
	Q4KZ_CHUNK(3, Z19)
	VEXTRACTI64X4 $1, Z5, Y1
	VPADDD        Y1, Y5, Y5
	VCVTDQ2PS     Y5, Y5
	VFMADD231PS   Y5, Y6, Y0

	ADDQ $144, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  q4kzloop

q4kzdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VSUBPS       X9, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	STORE_ROW_AND_NEXT(dotQ4KVNNIrows)
	VZEROUPPER
	RET

// Q5K_CHUNK is Q4K_CHUNK for Q5_K: nibbles at 48(SI), and the fifth bits
// of sub-blocks 2c and 2c+1 (bits 2c, 2c+1 of the qh bytes in Y15) added as
// 16 (Y13 holds 0x10 bytes).
#define Q5K_CHUNK(c) \
	VMOVDQU    (48+32*c)(SI), Y1; \
	VPSRLW     $4, Y1, Y2; \
	VPAND      Y14, Y1, Y1; \
	VPAND      Y14, Y2, Y2; \
	VPAND      bitMask<>+(64*c)(SB), Y15, Y3; \
	VPCMPEQB   bitMask<>+(64*c)(SB), Y3, Y3; \
	VPAND      Y13, Y3, Y3; \
	VPOR       Y3, Y1, Y1; \
	VPAND      bitMask<>+(64*c+32)(SB), Y15, Y4; \
	VPCMPEQB   bitMask<>+(64*c+32)(SB), Y4, Y4; \
	VPAND      Y13, Y4, Y4; \
	VPOR       Y4, Y2, Y2; \
	VPMADDUBSW (4+64*c)(DI), Y1, Y1; \
	VPMADDUBSW (4+64*c+32)(DI), Y2, Y2; \
	VPSHUFB    wordShuf<>+(64*c)(SB), Y8, Y3; \
	VPSHUFB    wordShuf<>+(64*c+32)(SB), Y8, Y4; \
	VPMADDWD   Y3, Y1, Y1; \
	VPMADDWD   Y4, Y2, Y2; \
	VPADDD     Y1, Y5, Y5; \
	VPADDD     Y2, Y5, Y5

// bitMask: for k = 0…7, 32 bytes of 1<<k.
DATA bitMask<>+0(SB)/8, $0x0101010101010101
DATA bitMask<>+8(SB)/8, $0x0101010101010101
DATA bitMask<>+16(SB)/8, $0x0101010101010101
DATA bitMask<>+24(SB)/8, $0x0101010101010101
DATA bitMask<>+32(SB)/8, $0x0202020202020202
DATA bitMask<>+40(SB)/8, $0x0202020202020202
DATA bitMask<>+48(SB)/8, $0x0202020202020202
DATA bitMask<>+56(SB)/8, $0x0202020202020202
DATA bitMask<>+64(SB)/8, $0x0404040404040404
DATA bitMask<>+72(SB)/8, $0x0404040404040404
DATA bitMask<>+80(SB)/8, $0x0404040404040404
DATA bitMask<>+88(SB)/8, $0x0404040404040404
DATA bitMask<>+96(SB)/8, $0x0808080808080808
DATA bitMask<>+104(SB)/8, $0x0808080808080808
DATA bitMask<>+112(SB)/8, $0x0808080808080808
DATA bitMask<>+120(SB)/8, $0x0808080808080808
DATA bitMask<>+128(SB)/8, $0x1010101010101010
DATA bitMask<>+136(SB)/8, $0x1010101010101010
DATA bitMask<>+144(SB)/8, $0x1010101010101010
DATA bitMask<>+152(SB)/8, $0x1010101010101010
DATA bitMask<>+160(SB)/8, $0x2020202020202020
DATA bitMask<>+168(SB)/8, $0x2020202020202020
DATA bitMask<>+176(SB)/8, $0x2020202020202020
DATA bitMask<>+184(SB)/8, $0x2020202020202020
DATA bitMask<>+192(SB)/8, $0x4040404040404040
DATA bitMask<>+200(SB)/8, $0x4040404040404040
DATA bitMask<>+208(SB)/8, $0x4040404040404040
DATA bitMask<>+216(SB)/8, $0x4040404040404040
DATA bitMask<>+224(SB)/8, $0x8080808080808080
DATA bitMask<>+232(SB)/8, $0x8080808080808080
DATA bitMask<>+240(SB)/8, $0x8080808080808080
DATA bitMask<>+248(SB)/8, $0x8080808080808080
GLOBL bitMask<>(SB), RODATA|NOPTR, $256

// func dotQ5KAVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ5KAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DX
dotQ5KAVX2rows:
	MOVQ DX, SI
	MOVQ x+16(FP), DI
	MOVQ nb+24(FP), CX
	VXORPS  Y0, Y0, Y0    // Σ d·sumi
	VXORPS  X9, X9, X9    // Σ dmin·summs
	VMOVDQU mask0f<>(SB), Y14
	VMOVDQU sixteens<>(SB), Y13
	TESTQ   CX, CX
	JZ      q5kdone

q5kloop:
	PREFETCHT2 4096(SI)
	PREFETCHT2 4160(SI)
	PREFETCHT2 4224(SI)
	K_SUPERBLOCK_HEADER

	VMOVDQU 16(SI), Y15 // qh
	VPXOR Y5, Y5, Y5
	Q5K_CHUNK(0)
	Q5K_CHUNK(1)
	Q5K_CHUNK(2)
	Q5K_CHUNK(3)
	VCVTDQ2PS   Y5, Y5
	VFMADD231PS Y5, Y6, Y0

	ADDQ $176, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  q5kloop

q5kdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VSUBPS       X9, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	STORE_ROW_AND_NEXT(dotQ5KAVX2rows)
	VZEROUPPER
	RET

// Q5K_CHUNK_512 is Q5K_CHUNK with AVX-512BW masks: VPTESTMB picks the
// elements whose fifth bit is set, and a masked VPADDB adds 16 to them.
#define Q5K_CHUNK_512(c) \
	VMOVDQU    (48+32*c)(SI), Y1; \
	VPSRLW     $4, Y1, Y2; \
	VPAND      Y14, Y1, Y1; \
	VPAND      Y14, Y2, Y2; \
	VPTESTMB   bitMask<>+(64*c)(SB), Y15, K1; \
	VPADDB     Y13, Y1, K1, Y1; \
	VPTESTMB   bitMask<>+(64*c+32)(SB), Y15, K2; \
	VPADDB     Y13, Y2, K2, Y2; \
	VPMADDUBSW (4+64*c)(DI), Y1, Y1; \
	VPMADDUBSW (4+64*c+32)(DI), Y2, Y2; \
	VPSHUFB    wordShuf<>+(64*c)(SB), Y8, Y3; \
	VPSHUFB    wordShuf<>+(64*c+32)(SB), Y8, Y4; \
	VPMADDWD   Y3, Y1, Y1; \
	VPMADDWD   Y4, Y2, Y2; \
	VPADDD     Y1, Y5, Y5; \
	VPADDD     Y2, Y5, Y5

// func dotQ5KAVX512(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ5KAVX512(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DX
dotQ5KAVX512rows:
	MOVQ DX, SI
	MOVQ x+16(FP), DI
	MOVQ nb+24(FP), CX
	VXORPS  Y0, Y0, Y0    // Σ d·sumi
	VXORPS  X9, X9, X9    // Σ dmin·summs
	VMOVDQU mask0f<>(SB), Y14
	VMOVDQU sixteens<>(SB), Y13
	TESTQ   CX, CX
	JZ      q5kzdone

q5kzloop:
	PREFETCHT2 4096(SI)
	PREFETCHT2 4160(SI)
	PREFETCHT2 4224(SI)
	K_SUPERBLOCK_HEADER

	VMOVDQU 16(SI), Y15 // qh
	VPXOR Y5, Y5, Y5
	Q5K_CHUNK_512(0)
	Q5K_CHUNK_512(1)
	Q5K_CHUNK_512(2)
	Q5K_CHUNK_512(3)
	VCVTDQ2PS   Y5, Y5
	VFMADD231PS Y5, Y6, Y0

	ADDQ $176, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  q5kzloop

q5kzdone:
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VSUBPS       X9, X0, X0
	VHADDPS      X0, X0, X0
	VHADDPS      X0, X0, X0
	STORE_ROW_AND_NEXT(dotQ5KAVX512rows)
	VZEROUPPER
	RET

// Q6K_SET multiplies 32 elements: Y1 holds their 6-bit quants (0…63);
// they meet the 32 Q8_K values at off(DI) and the pair of scales s.
#define Q6K_SET(off, s) \
	VPMADDUBSW off(DI), Y1, Y1; \
	VPSHUFB    pairShuf<>+(16*s)(SB), X8, X3; \
	VPMOVSXBW  X3, Y3; \
	VPMADDWD   Y3, Y1, Y1; \
	VPADDD     Y1, Y5, Y5

// Q6K_HALF handles 128 elements: ql at ql(SI), qh at qh(SI), q8 at q8(DI),
// scale pairs s0…s0+3.
#define Q6K_HALF(ql, qh, q8, s0) \
	VMOVDQU ql(SI), Y9; \
	VMOVDQU (ql+32)(SI), Y10; \
	VMOVDQU qh(SI), Y11; \
	VPAND   Y14, Y9, Y1; \
	VPSLLW  $4, Y11, Y2; \
	VPAND   Y13, Y2, Y2; \
	VPOR    Y2, Y1, Y1; \
	Q6K_SET(q8, s0); \
	VPAND   Y14, Y10, Y1; \
	VPSLLW  $2, Y11, Y2; \
	VPAND   Y13, Y2, Y2; \
	VPOR    Y2, Y1, Y1; \
	Q6K_SET((q8+32), (s0+1)); \
	VPSRLW  $4, Y9, Y1; \
	VPAND   Y14, Y1, Y1; \
	VPAND   Y13, Y11, Y2; \
	VPOR    Y2, Y1, Y1; \
	Q6K_SET((q8+64), (s0+2)); \
	VPSRLW  $4, Y10, Y1; \
	VPAND   Y14, Y1, Y1; \
	VPSRLW  $2, Y11, Y2; \
	VPAND   Y13, Y2, Y2; \
	VPOR    Y2, Y1, Y1; \
	Q6K_SET((q8+96), (s0+3))

DATA mask30<>+0(SB)/8, $0x3030303030303030
DATA mask30<>+8(SB)/8, $0x3030303030303030
DATA mask30<>+16(SB)/8, $0x3030303030303030
DATA mask30<>+24(SB)/8, $0x3030303030303030
GLOBL mask30<>(SB), RODATA|NOPTR, $32

// func dotQ6KAVX2(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ6KAVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), DX
dotQ6KAVX2rows:
	MOVQ DX, SI
	MOVQ x+16(FP), DI
	MOVQ nb+24(FP), CX
	VXORPS  Y0, Y0, Y0
	VMOVDQU mask0f<>(SB), Y14
	VMOVDQU mask30<>(SB), Y13
	TESTQ   CX, CX
	JZ      q6kdone

q6kloop:
	// Software prefetch 4 KB ahead in the row stream (see MV_PREFETCH in
	// matvec_amd64.s): a super-block spans up to four cache lines.
	PREFETCHT2 4096(SI)
	PREFETCHT2 4160(SI)
	PREFETCHT2 4224(SI)
	PREFETCHT2 4288(SI)
	// d·dx broadcast in Y6.
	MOVWLZX      208(SI), AX
	VMOVD        AX, X6
	VCVTPH2PS    X6, X6
	VMULSS       (DI), X6, X6
	VBROADCASTSS X6, Y6

	// Scales: X8 holds the 16 int8 scales; the correction
	// 32·Σ_g sc_g·bsum_g removes the +32 offset of the quants.
	VMOVDQU   192(SI), X8
	VPMOVSXBW X8, Y7
	VPMADDWD  (4+256)(DI), Y7, Y7
	VPSLLD    $5, Y7, Y7

	VPXOR Y5, Y5, Y5
	Q6K_HALF(0, 128, 4, 0)
	Q6K_HALF(64, 160, 132, 4)
	VPSUBD      Y7, Y5, Y5
	VCVTDQ2PS   Y5, Y5
	VFMADD231PS Y5, Y6, Y0

	ADDQ $210, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  q6kloop

q6kdone:
	HSUM_Y0
	STORE_ROW_AND_NEXT(dotQ6KAVX2rows)
	VZEROUPPER
	RET

// The Q6_K kernel on AVX-512 VNNI: dotQ6KAVX2's integers and floats, two
// 32-element sets at a time in 512-bit registers. A set's 6-bit quants are
// built as there (four ql nibbles, two qh bits), a pair of sets at once
// with per-half shift counts (VPSLLVW, VPSRLVW); VPDPBUSD gives each dword
// lane the sum of four quant·activation products that VPMADDUBSW and
// VPMADDWD give there, and VPMULLD applies the lane's scale, which
// VPMADDWD applied there. Lanes 8–15 hold the odd set of each pair and
// are added onto lanes 0–7 once per super-block, so every lane ends with
// the same integer as in dotQ6KAVX2, and from there the float work is the
// same: the results are identical bit for bit.

// q6kIdx holds the VPERMD indices that spread four scales (dwords 4p to
// 4p+3) over sixteen lanes, four each, for p = 0…3.
#define Q6K_IDX(p) \
	DATA q6kIdx<>+(64*p)(SB)/8, $(0x0000000000000000 + (4*p)*0x0000000100000001); \
	DATA q6kIdx<>+(64*p+8)(SB)/8, $(0x0000000000000000 + (4*p)*0x0000000100000001); \
	DATA q6kIdx<>+(64*p+16)(SB)/8, $(0x0000000100000001 + (4*p)*0x0000000100000001); \
	DATA q6kIdx<>+(64*p+24)(SB)/8, $(0x0000000100000001 + (4*p)*0x0000000100000001); \
	DATA q6kIdx<>+(64*p+32)(SB)/8, $(0x0000000200000002 + (4*p)*0x0000000100000001); \
	DATA q6kIdx<>+(64*p+40)(SB)/8, $(0x0000000200000002 + (4*p)*0x0000000100000001); \
	DATA q6kIdx<>+(64*p+48)(SB)/8, $(0x0000000300000003 + (4*p)*0x0000000100000001); \
	DATA q6kIdx<>+(64*p+56)(SB)/8, $(0x0000000300000003 + (4*p)*0x0000000100000001)

Q6K_IDX(0)
Q6K_IDX(1)
Q6K_IDX(2)
Q6K_IDX(3)
GLOBL q6kIdx<>(SB), RODATA|NOPTR, $256

// q6kShift holds per-word shift counts: 4 then 2 (qh bits 0–1 and 2–3 to
// bits 4–5), and 0 then 2 (bits 4–5 and 6–7 to 4–5), for the low and high
// 256 bits.
DATA q6kShift<>+0(SB)/8, $0x0004000400040004
DATA q6kShift<>+8(SB)/8, $0x0004000400040004
DATA q6kShift<>+16(SB)/8, $0x0004000400040004
DATA q6kShift<>+24(SB)/8, $0x0004000400040004
DATA q6kShift<>+32(SB)/8, $0x0002000200020002
DATA q6kShift<>+40(SB)/8, $0x0002000200020002
DATA q6kShift<>+48(SB)/8, $0x0002000200020002
DATA q6kShift<>+56(SB)/8, $0x0002000200020002
DATA q6kShift<>+64(SB)/8, $0
DATA q6kShift<>+72(SB)/8, $0
DATA q6kShift<>+80(SB)/8, $0
DATA q6kShift<>+88(SB)/8, $0
DATA q6kShift<>+96(SB)/8, $0x0002000200020002
DATA q6kShift<>+104(SB)/8, $0x0002000200020002
DATA q6kShift<>+112(SB)/8, $0x0002000200020002
DATA q6kShift<>+120(SB)/8, $0x0002000200020002
GLOBL q6kShift<>(SB), RODATA|NOPTR, $128

DATA q6kBytes<>+0(SB)/4, $0x0f0f0f0f
DATA q6kBytes<>+4(SB)/4, $0x30303030
GLOBL q6kBytes<>(SB), RODATA|NOPTR, $8

// Q6KZ_PAIR dots one pair of sets, quants in Z1, against the 64
// activations at q8(DI), scales S, into Z5.
#define Q6KZ_PAIR(q8, S) \
	VPXORD   Z10, Z10, Z10; \
	VPDPBUSD q8(DI), Z1, Z10; \
	VPMULLD  S, Z10, Z10; \
	VPADDD   Z10, Z5, Z5

// Q6KZ_HALF is Q6K_HALF: 128 elements, ql at ql(SI), qh at qh(SI), q8 at
// q8(DI), the scale vectors of its two pairs in SA and SB.
#define Q6KZ_HALF(ql, qh, q8, SA, SB) \
	VMOVDQU64       ql(SI), Z9; \
	VBROADCASTI64X4 qh(SI), Z11; \
	VPANDD          Z14, Z9, Z1; \
	VPSLLVW         Z24, Z11, Z2; \
	VPANDD          Z13, Z2, Z2; \
	VPORD           Z2, Z1, Z1; \
	Q6KZ_PAIR(q8, SA); \
	VPSRLW          $4, Z9, Z1; \
	VPANDD          Z14, Z1, Z1; \
	VPSRLVW         Z25, Z11, Z2; \
	VPANDD          Z13, Z2, Z2; \
	VPORD           Z2, Z1, Z1; \
	Q6KZ_PAIR((q8+64), SB)

// func dotQ6KVNNI(w *byte, rowBytes int, x *byte, nb int, dst *float32, rows int)
TEXT ·dotQ6KVNNI(SB), NOSPLIT, $0-48
	VPBROADCASTD q6kBytes<>+0(SB), Z14
	VPBROADCASTD q6kBytes<>+4(SB), Z13
	VMOVDQU64    q6kShift<>+0(SB), Z24
	VMOVDQU64    q6kShift<>+64(SB), Z25
	VMOVDQU64    q6kIdx<>+0(SB), Z20
	VMOVDQU64    q6kIdx<>+64(SB), Z21
	VMOVDQU64    q6kIdx<>+128(SB), Z22
	VMOVDQU64    q6kIdx<>+192(SB), Z23
	MOVQ w+0(FP), DX

dotQ6KVNNIrows:
	MOVQ   DX, SI
	MOVQ   x+16(FP), DI
	MOVQ   nb+24(FP), CX
	VXORPS Y0, Y0, Y0
	TESTQ  CX, CX
	JZ     q6kzdone

q6kzloop:
	// Non-temporal prefetch 16 KB ahead, as the strip kernels (STRIP_PF).
	PREFETCHNTA 16384(SI)
	PREFETCHNTA 16448(SI)
	PREFETCHNTA 16512(SI)
	PREFETCHNTA 16576(SI)
	MOVWLZX      208(SI), AX
	VMOVD        AX, X6
	VCVTPH2PS    X6, X6
	VMULSS       (DI), X6, X6
	VBROADCASTSS X6, Y6

	VMOVDQU   192(SI), X8
	VPMOVSXBW X8, Y7
	VPMADDWD  (4+256)(DI), Y7, Y7
	VPSLLD    $5, Y7, Y7
	VPMOVSXBD X8, Z12
	VPERMD    Z12, Z20, Z16
	VPERMD    Z12, Z21, Z17
	VPERMD    Z12, Z22, Z18
	VPERMD    Z12, Z23, Z19

	VPXORD Z5, Z5, Z5
	Q6KZ_HALF(0, 128, 4, Z16, Z17)
	Q6KZ_HALF(64, 160, 132, Z18, Z19)
	VEXTRACTI64X4 $1, Z5, Y1
	VPADDD        Y1, Y5, Y5
	VPSUBD        Y7, Y5, Y5
	VCVTDQ2PS     Y5, Y5
	VFMADD231PS   Y5, Y6, Y0

	ADDQ $210, SI
	ADDQ $292, DI
	DECQ CX
	JNZ  q6kzloop

q6kzdone:
	HSUM_Y0
	STORE_ROW_AND_NEXT(dotQ6KVNNIrows)
	VZEROUPPER
	RET

// HALF_DOT is the body of the 16-bit float dot products: CONV8(off, Y)
// turns 8 weights at off(SI) into floats in Y; n (CX) is a multiple of 8.
#define HALF_DOT(CONV8, LOOP, TAIL, TAILLOOP, DONE) \
	VXORPS Y0, Y0, Y0; \
	VXORPS Y1, Y1, Y1; \
	VXORPS Y2, Y2, Y2; \
	VXORPS Y3, Y3, Y3; \
	CMPQ   CX, $32; \
	JLT    TAIL; \
LOOP: \
	CONV8(0, Y4); \
	CONV8(16, Y5); \
	CONV8(32, Y6); \
	CONV8(48, Y7); \
	VFMADD231PS (DI), Y4, Y0; \
	VFMADD231PS 32(DI), Y5, Y1; \
	VFMADD231PS 64(DI), Y6, Y2; \
	VFMADD231PS 96(DI), Y7, Y3; \
	ADDQ        $64, SI; \
	ADDQ        $128, DI; \
	SUBQ        $32, CX; \
	CMPQ        CX, $32; \
	JGE         LOOP; \
TAIL: \
	TESTQ CX, CX; \
	JZ    DONE; \
TAILLOOP: \
	CONV8(0, Y4); \
	VFMADD231PS (DI), Y4, Y0; \
	ADDQ        $16, SI; \
	ADDQ        $32, DI; \
	SUBQ        $8, CX; \
	JNZ         TAILLOOP; \
DONE: \
	VADDPS Y1, Y0, Y0; \
	VADDPS Y3, Y2, Y2; \
	VADDPS Y2, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS  X1, X0, X0; \
	VHADDPS X0, X0, X0; \
	VHADDPS X0, X0, X0

#define F16_CONV8(off, Y) VCVTPH2PS off(SI), Y
#define BF16_CONV8(off, Y) VPMOVZXWD off(SI), Y; VPSLLD $16, Y, Y

// func dotF16AVX2(w *uint16, x *float32, n int) float32  (n multiple of 8)
TEXT ·dotF16AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	HALF_DOT(F16_CONV8, f16loop, f16tail, f16tailloop, f16done)
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func dotBF16AVX2(w *uint16, x *float32, n int) float32  (n multiple of 8)
TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-28
	MOVQ w+0(FP), SI
	MOVQ x+8(FP), DI
	MOVQ n+16(FP), CX
	HALF_DOT(BF16_CONV8, bf16loop, bf16tail, bf16tailloop, bf16done)
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func streamReadAVX2(p *byte, n int) uint64  (n multiple of 256)
TEXT ·streamReadAVX2(SB), NOSPLIT, $0-24
	MOVQ  p+0(FP), SI
	MOVQ  n+8(FP), CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	TESTQ CX, CX
	JZ    srdone

srloop:
	VPXOR (SI), Y0, Y0
	VPXOR 32(SI), Y1, Y1
	VPXOR 64(SI), Y2, Y2
	VPXOR 96(SI), Y3, Y3
	VPXOR 128(SI), Y0, Y0
	VPXOR 160(SI), Y1, Y1
	VPXOR 192(SI), Y2, Y2
	VPXOR 224(SI), Y3, Y3
	ADDQ  $256, SI
	SUBQ  $256, CX
	JNZ   srloop

srdone:
	VPXOR  Y1, Y0, Y0
	VPXOR  Y3, Y2, Y2
	VPXOR  Y2, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPXOR  X1, X0, X0
	VMOVQ  X0, AX
	MOVQ   AX, ret+16(FP)
	VZEROUPPER
	RET

// func weightedSumF32AVX2(dst, m *float32, stride, n int, w *float32, rows int, add int)
// dst[j] = Σ_i w[i]·(float j of the row at m + i·stride bytes) for j < n,
// n a positive multiple of 8 and rows ≥ 1, starting from dst[j] when add
// is 1 and from 0 otherwise: 64 columns at a time in eight accumulators
// (one FMA chain per column, rows in order), then 8 at a time.
TEXT ·weightedSumF32AVX2(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ m+8(FP), DX
	MOVQ stride+16(FP), R8
	MOVQ n+24(FP), BX
	MOVQ w+32(FP), R9
	MOVQ rows+40(FP), R10
	MOVQ add+48(FP), R11

ws64:
	CMPQ   BX, $64
	JLT    ws8
	TESTQ  R11, R11
	JNZ    ws64load
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	JMP    ws64go

ws64load:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7

ws64go:
	MOVQ   DX, SI
	MOVQ   R9, AX
	MOVQ   R10, CX

ws64row:
	VBROADCASTSS (AX), Y8
	VFMADD231PS  (SI), Y8, Y0
	VFMADD231PS  32(SI), Y8, Y1
	VFMADD231PS  64(SI), Y8, Y2
	VFMADD231PS  96(SI), Y8, Y3
	VFMADD231PS  128(SI), Y8, Y4
	VFMADD231PS  160(SI), Y8, Y5
	VFMADD231PS  192(SI), Y8, Y6
	VFMADD231PS  224(SI), Y8, Y7
	ADDQ         R8, SI
	ADDQ         $4, AX
	DECQ         CX
	JNZ          ws64row
	VMOVUPS      Y0, (DI)
	VMOVUPS      Y1, 32(DI)
	VMOVUPS      Y2, 64(DI)
	VMOVUPS      Y3, 96(DI)
	VMOVUPS      Y4, 128(DI)
	VMOVUPS      Y5, 160(DI)
	VMOVUPS      Y6, 192(DI)
	VMOVUPS      Y7, 224(DI)
	ADDQ         $256, DI
	ADDQ         $256, DX
	SUBQ         $64, BX
	JMP          ws64

ws8:
	TESTQ   BX, BX
	JZ      wsdone
	VXORPS  Y0, Y0, Y0
	TESTQ   R11, R11
	JZ      ws8go
	VMOVUPS (DI), Y0

ws8go:
	MOVQ   DX, SI
	MOVQ   R9, AX
	MOVQ   R10, CX

ws8row:
	VBROADCASTSS (AX), Y8
	VFMADD231PS  (SI), Y8, Y0
	ADDQ         R8, SI
	ADDQ         $4, AX
	DECQ         CX
	JNZ          ws8row
	VMOVUPS      Y0, (DI)
	ADDQ         $32, DI
	ADDQ         $32, DX
	SUBQ         $8, BX
	JMP          ws8

wsdone:
	VZEROUPPER
	RET

// func dotRowsF32AVX2(x, m *float32, stride, n int, dst *float32, rows int)
// dst[i] = x·(the n floats at m + i·stride bytes) for i < rows; n is a
// positive multiple of 8. Rows go four at a time, two accumulators each, so
// that eight FMA chains run side by side and the four sums are folded with
// three VHADDPS; the last rows go one at a time with four accumulators.
TEXT ·dotRowsF32AVX2(SB), NOSPLIT, $0-48
	MOVQ m+8(FP), DX
	MOVQ stride+16(FP), R8
	MOVQ dst+32(FP), R12
	MOVQ rows+40(FP), R13

dr4rows:
	CMPQ   R13, $4
	JLT    dr1rows
	MOVQ   x+0(FP), SI
	MOVQ   DX, DI
	LEAQ   (DI)(R8*1), R9
	LEAQ   (R9)(R8*1), R10
	LEAQ   (R10)(R8*1), R11
	MOVQ   n+24(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	CMPQ   CX, $16
	JLT    dr4tail

dr4loop:
	VMOVUPS     (SI), Y8
	VMOVUPS     32(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS (R9), Y8, Y2
	VFMADD231PS 32(R9), Y9, Y3
	VFMADD231PS (R10), Y8, Y4
	VFMADD231PS 32(R10), Y9, Y5
	VFMADD231PS (R11), Y8, Y6
	VFMADD231PS 32(R11), Y9, Y7
	ADDQ        $64, SI
	ADDQ        $64, DI
	ADDQ        $64, R9
	ADDQ        $64, R10
	ADDQ        $64, R11
	SUBQ        $16, CX
	CMPQ        CX, $16
	JGE         dr4loop

dr4tail:
	TESTQ       CX, CX
	JZ          dr4sum
	VMOVUPS     (SI), Y8
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS (R9), Y8, Y2
	VFMADD231PS (R10), Y8, Y4
	VFMADD231PS (R11), Y8, Y6

dr4sum:
	VADDPS       Y1, Y0, Y0
	VADDPS       Y3, Y2, Y2
	VADDPS       Y5, Y4, Y4
	VADDPS       Y7, Y6, Y6
	VHADDPS      Y2, Y0, Y0
	VHADDPS      Y6, Y4, Y4
	VHADDPS      Y4, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS       X1, X0, X0
	VMOVUPS      X0, (R12)
	ADDQ         $16, R12
	LEAQ         (DX)(R8*4), DX
	SUBQ         $4, R13
	JMP          dr4rows

dr1rows:
	TESTQ R13, R13
	JZ    drdone

drrow:
	MOVQ   x+0(FP), SI
	MOVQ   DX, DI
	MOVQ   n+24(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	CMPQ   CX, $32
	JLT    drtail

drloop32:
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	CMPQ        CX, $32
	JGE         drloop32

drtail:
	TESTQ       CX, CX
	JZ          drsum
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         drtail

drsum:
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	HSUM_Y0
	VMOVSS X0, (R12)
	ADDQ   $4, R12
	ADDQ   R8, DX
	DECQ   R13
	JNZ    drrow

drdone:
	VZEROUPPER
	RET

// func prefetchNTAAsm(p *byte, n int)  (n ≥ 1)
TEXT ·prefetchNTAAsm(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	ADDQ SI, CX
	ANDQ $-64, SI

pfloop:
	PREFETCHNTA (SI)
	ADDQ $64, SI
	CMPQ SI, CX
	JB   pfloop
	RET

// func tileScoresAVX2(dst *float32, dstStride int, keys *float32, tileStride, tiles, dim int, q *float32, qStride, heads int)
// TileScores for heads ≥ 1, tiles ≥ 1, dim ≥ 1, strides in bytes: for
// each head, eight tiles at a time (eight accumulators, one FMA chain per
// tile so that eight run side by side), then one at a time; every step
// broadcasts one query element and meets one element of eight keys.
TEXT ·tileScoresAVX2(SB), NOSPLIT, $0-72
	MOVQ tileStride+24(FP), R9
	LEAQ (R9)(R9*2), R10 // 3·tileStride
	MOVQ q+48(FP), R14
	MOVQ dst+0(FP), R15
	MOVQ heads+64(FP), R12

tshead:
	MOVQ keys+16(FP), R13
	MOVQ R15, DX
	MOVQ tiles+32(FP), R11

ts8:
	CMPQ   R11, $8
	JLT    ts1
	MOVQ   R13, DI
	LEAQ   (DI)(R9*4), R8
	MOVQ   R14, SI
	MOVQ   dim+40(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

ts8loop:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	VFMADD231PS  (DI)(R9*1), Y8, Y1
	VFMADD231PS  (DI)(R9*2), Y8, Y2
	VFMADD231PS  (DI)(R10*1), Y8, Y3
	VFMADD231PS  (R8), Y8, Y4
	VFMADD231PS  (R8)(R9*1), Y8, Y5
	VFMADD231PS  (R8)(R9*2), Y8, Y6
	VFMADD231PS  (R8)(R10*1), Y8, Y7
	ADDQ         $4, SI
	ADDQ         $32, DI
	ADDQ         $32, R8
	DECQ         CX
	JNZ          ts8loop
	VMOVUPS      Y0, (DX)
	VMOVUPS      Y1, 32(DX)
	VMOVUPS      Y2, 64(DX)
	VMOVUPS      Y3, 96(DX)
	VMOVUPS      Y4, 128(DX)
	VMOVUPS      Y5, 160(DX)
	VMOVUPS      Y6, 192(DX)
	VMOVUPS      Y7, 224(DX)
	LEAQ         (R13)(R9*8), R13
	ADDQ         $256, DX
	SUBQ         $8, R11
	JMP          ts8

ts1:
	TESTQ  R11, R11
	JZ     tsnext
	MOVQ   R13, DI
	MOVQ   R14, SI
	MOVQ   dim+40(FP), CX
	VXORPS Y0, Y0, Y0

ts1loop:
	VBROADCASTSS (SI), Y8
	VFMADD231PS  (DI), Y8, Y0
	ADDQ         $4, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          ts1loop
	VMOVUPS      Y0, (DX)
	ADDQ         R9, R13
	ADDQ         $32, DX
	DECQ         R11
	JMP          ts1

tsnext:
	ADDQ qStride+56(FP), R14
	ADDQ dstStride+8(FP), R15
	DECQ R12
	JNZ  tshead
	VZEROUPPER
	RET
