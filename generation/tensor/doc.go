// Package tensor is Zhiwen's numeric floor: the GGML tensor data types
// (F32, F16, BF16 and the block quantizations Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q8_1, Q4_K, Q5_K, Q6_K, Q8_K), their bit-exact encodings, and the CPU kernels the language models
// run on. It imports nothing above the standard library (and
// golang.org/x/sys/cpu for feature detection).
//
// # Formats
//
// Quantize encodes with ggml's reference quantizers (quantize_row_*_ref:
// round-to-nearest block scales, and the weighted scale/min search of the
// K-quants), so its output matches llama.cpp's byte for byte up to float
// rounding order; Dequantize is exact. A Matrix is a weight in GGML layout:
// Rows rows of Cols elements, each row a run of whole blocks.
//
// # Kernels
//
// MatVec and MatMul multiply a Matrix by activations. As in llama.cpp,
// quantized weights never meet floats: the activations are first quantized
// to 8 bits (Q8_0 for Q4_0/Q5_0/Q8_0 weights, Q8_1 for Q4_1/Q5_1, Q8_K for
// the K-quants) and each block is an integer dot product scaled by the two
// block scales.
// Float weights (F32, F16, BF16) use a float dot product, converting 16-bit
// weights on the fly.
//
// Every kernel has a readable pure-Go reference. On amd64 assembly kernels
// are chosen at start-up from the CPU's features: AVX2 (with FMA and F16C)
// for every weight type but Q8_1 and Q8_K (activation formats, rare as
// weights), and AVX-512 (VNNI's VPDPBUSD and BW's byte masks) for Q4_0,
// Q4_1, Q5_0, Q5_1, Q8_0 and Q5_K on 256-bit registers and for Q4_K and
// Q6_K on 512-bit ones (bit-identical to their AVX2 kernels).
// KernelName reports the choice. Building with the purego tag, or for
// another architecture, uses the references only.
//
// Decode (MatVec, and MatMul with n = 1) quantizes the activations with
// the AVX2 quantizer and, for Q4_0 and Q8_0 weights on AVX-512 VNNI, uses
// decode kernels that walk the rows one after another (one sequential
// stream through memory, which the hardware prefetcher follows best) and
// read per-call activation data prepared once per call (decodeSide): each
// group of four blocks' activation scales and, for Q4_0, −8·Σx per half
// block, so that the Q4_0 nibbles meet VPDPBUSD unsigned, with no shift and
// no sign trick. They perform the integer and float operations of the row
// kernels in the same order, so MatVec results are unchanged bit for bit.
//
// Faster still, a Matrix of Q4_0, Q5_0 or Q8_0 weights can keep a copy in
// a row-interleaved layout (Interleave; the model loader makes it by
// default): eight rows per strip, each block holding the rows' scales and
// then their quants a dword per row, so that one 32-byte load feeds the
// eight int32 lanes of VPDPBUSD one row each and no lane is summed across a
// register (strips.go, strips_amd64.s). These strip kernels, too, keep the
// row kernels' integer and float operations lane for lane, and MatMul and
// Row rebuild rows from the strips, so nothing changes but speed; the copy
// lives outside the Go heap and replaces the mapped file's pages.
//
// A decode step is held by memory, not by arithmetic (30% more vector work
// in the Q4_0 strip kernel left decode time unchanged), and on these
// kernels the hardware prefetcher alone does not keep up: the VNNI strip
// and K-quant kernels prefetch every cache line of their stream 16 KB
// ahead with PREFETCHNTA (prefetching every other line made decode 20–30%
// slower), and a thread prefetches the first 16 KB of any range its own
// read-ahead does not lead into (rangeLeader).
//
// Batched products (MatMul with n > 1, prefill) quantize the activations
// once and use tile kernels where they exist (Q4_0, Q5_0, Q8_0 with AVX2 or
// AVX-512 VNNI; Q4_K with VNNI; all four in pure Go): the work is split in
// two dimensions into tiles of weight rows × activation rows, each weight
// row is decoded once per tile and then meets every activation row of the
// tile. On VNNI the Q4_0/Q5_0/Q8_0 kernel computes 2 weight rows × 4
// activation rows at once, with weights stored as q+128 and activations
// repacked so that VPDPBUSD needs no sign trick and no horizontal adds. Every tile kernel
// performs the float operations of the row kernel of its family in the
// same order, so MatMul equals n MatVec calls bit for bit.
// QuantizeActivations and MatMulQ let several weights (q, k, v; gate, up)
// share one quantization of their input.
//
// Rows are shared out to a small persistent worker pool of Threads()
// threads (the caller included): each thread owns a contiguous segment,
// read front to back as one stream through memory in claims of a quarter
// of what is left, and a thread that runs out takes claims from the back
// of the others', so one slowed by other load does less of the work and
// the last claims are small enough for the threads to finish together; a
// helper that has not joined by the time every claim is taken is not
// waited for. Each worker has a mailbox of its own, one cache line that a
// caller writes and the idle worker polls (a hand-over moves as few lines
// between cores as it can: each costs a few hundred nanoseconds on a
// two-core VM); idle workers poll for 50 µs (yielding between polls)
// before they park, since a decode step issues a product every few tens
// of microseconds and waking a parked goroutine costs about as much. A
// decode call (MatVec, MatVecs) is one job over every matrix it is given,
// whatever their types, with the input encoded once per activation
// format. MatVecsThen names the next product's matrices to a decode
// call: its helper reads them ahead once done with its share, while the
// caller finishes and does the work in between (norms, attention).
// Steady-state calls do not allocate.
package tensor
