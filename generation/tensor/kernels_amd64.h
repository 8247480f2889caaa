// Macros shared by the amd64 kernel files.

// HSUM_Y0 leaves the sum of Y0's eight floats in X0 (clobbers X1).
#define HSUM_Y0 \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VHADDPS      X0, X0, X0; \
	VHADDPS      X0, X0, X0

// CONST32 defines the file-local 32-byte constant name<> from four
// quadwords, lowest first.
#define CONST32(name, q0, q1, q2, q3) \
	DATA name<>+0(SB)/8, $q0; \
	DATA name<>+8(SB)/8, $q1; \
	DATA name<>+16(SB)/8, $q2; \
	DATA name<>+24(SB)/8, $q3; \
	GLOBL name<>(SB), RODATA|NOPTR, $32
