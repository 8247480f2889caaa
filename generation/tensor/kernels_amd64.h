// Macros shared by the amd64 kernel files.

// HSUM_Y0 leaves the sum of Y0's eight floats in X0 (clobbers X1).
#define HSUM_Y0 \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VHADDPS      X0, X0, X0; \
	VHADDPS      X0, X0, X0

// HMAX_Y leaves the largest of Y's eight floats in every lane of X's
// 128-bit half (X, T: the X registers of Y and a scratch; clobbers T).
#define HMAX_Y(Y, X, T) \
	VEXTRACTF128 $1, Y, T; \
	VMAXPS       T, X, X; \
	VPERMILPS    $0x4e, X, T; \
	VMAXPS       T, X, X; \
	VPERMILPS    $0xb1, X, T; \
	VMAXPS       T, X, X

// CONST32 defines the file-local 32-byte constant name<> from four
// quadwords, lowest first.
#define CONST32(name, q0, q1, q2, q3) \
	DATA name<>+0(SB)/8, $q0; \
	DATA name<>+8(SB)/8, $q1; \
	DATA name<>+16(SB)/8, $q2; \
	DATA name<>+24(SB)/8, $q3; \
	GLOBL name<>(SB), RODATA|NOPTR, $32

// Constants several kernel files use; each file that includes this header
// gets its own file-local copy.
CONST32(ones16, 0x0001000100010001, 0x0001000100010001, 0x0001000100010001, 0x0001000100010001)
CONST32(mask0f, 0x0f0f0f0f0f0f0f0f, 0x0f0f0f0f0f0f0f0f, 0x0f0f0f0f0f0f0f0f, 0x0f0f0f0f0f0f0f0f)
CONST32(highF0, 0xf0f0f0f0f0f0f0f0, 0xf0f0f0f0f0f0f0f0, 0xf0f0f0f0f0f0f0f0, 0xf0f0f0f0f0f0f0f0)
CONST32(eights, 0x0808080808080808, 0x0808080808080808, 0x0808080808080808, 0x0808080808080808)
CONST32(sixteens, 0x1010101010101010, 0x1010101010101010, 0x1010101010101010, 0x1010101010101010)

// lowHighShift shifts the upper 128-bit lane's quadwords right by 4 (to
// reach the high nibbles) and leaves the lower lane alone.
CONST32(lowHighShift, 0, 0, 4, 4)

// bitsShuf spreads the 4 bytes of a broadcast uint32 so that byte i of the
// result holds byte i/8 of the word; bitsMask has every bit set except bit
// i%8 of byte i.
CONST32(bitsShuf, 0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303)
CONST32(bitsMask, 0x7fbfdfeff7fbfdfe, 0x7fbfdfeff7fbfdfe, 0x7fbfdfeff7fbfdfe, 0x7fbfdfeff7fbfdfe)
