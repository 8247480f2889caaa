package tensor

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// The row-interleaved ("strip") layouts, which the fastest decode kernels
// read. Rows are grouped eight at a time into strips; for each block b of
// its rows, a strip stores
//
//	16 bytes: the eight rows' f16 scales, row 0 first;
//	the rows' quant bytes four at a time: bytes 0–3 of rows 0…7, then
//	bytes 4–7 of rows 0…7, and so on (16 bytes a row for Q4_0, whose
//	nibbles stay as they are; 32 for Q8_0, stored as q+128; Q5_0 puts
//	its fifth bits first, see packQ5_0),
//
// the size of the eight rows' blocks (144 bytes for Q4_0, 176 for Q5_0,
// 272 for Q8_0):
// the copy is as large as the weights it replaces. With a dword of every
// row in one 32-byte load, the kernels' int32 lanes each belong to one row,
// so they never sum lanes across a register, the work that dominates the
// row-by-row kernels (see strips_amd64.s). llama.cpp's CPU back end
// repacks Q4_0 for the same reason.
const stripRows = 8

// stripFormat describes one weight type's strip layout: a block of
// blockBytes (a two-byte scale, then quants) and the value every quant
// byte is XORed with in the strip, or, for a layout of its own, pack and
// unpack.
type stripFormat struct {
	blockBytes int
	xor        byte
	// pack, if set, stores row r's block blk in the strip block sb (which
	// starts zeroed); unpack does the reverse.
	pack   func(sb []byte, r int, blk []byte)
	unpack func(blk, sb []byte, r int)
	// kernel is the decode kernel over strips, nil where there is none.
	kernel stripMatVecFunc
	// rebuild, if set, is the assembly for rebuildStripGo.
	rebuild func(strip []byte, nb int, rows []byte, rowBytes int)
}

// packBlock stores row r's block blk in the strip block sb.
func (f *stripFormat) packBlock(sb []byte, r int, blk []byte) {
	if f.pack != nil {
		f.pack(sb, r, blk)
		return
	}
	le := binary.LittleEndian
	x := uint32(f.xor) * 0x01010101
	le.PutUint16(sb[2*r:], le.Uint16(blk))
	for k := 0; 4*k < f.blockBytes-2; k++ {
		le.PutUint32(sb[16+32*k+4*r:], le.Uint32(blk[2+4*k:])^x)
	}
}

// unpackBlock writes row r's block of the strip block sb to blk.
func (f *stripFormat) unpackBlock(blk, sb []byte, r int) {
	if f.unpack != nil {
		f.unpack(blk, sb, r)
		return
	}
	le := binary.LittleEndian
	x := uint32(f.xor) * 0x01010101
	le.PutUint16(blk, le.Uint16(sb[2*r:]))
	for k := 0; 4*k < f.blockBytes-2; k++ {
		le.PutUint32(blk[2+4*k:], le.Uint32(sb[16+32*k+4*r:])^x)
	}
}

// The Q5_0 strip block (176 bytes): the eight scales, the eight rows' qh
// words (their fifth bits, one dword a row, from which the kernel picks
// each step's bits with VPSHUFBITQMB), then the nibbles as Q4_0 stores
// them.
func packQ5_0(sb []byte, r int, blk []byte) {
	sb[2*r], sb[2*r+1] = blk[0], blk[1]
	copy(sb[16+4*r:20+4*r], blk[2:6])
	for k := range 4 {
		copy(sb[48+32*k+4*r:48+32*k+4*r+4], blk[6+4*k:6+4*k+4])
	}
}

func unpackQ5_0(blk, sb []byte, r int) {
	blk[0], blk[1] = sb[2*r], sb[2*r+1]
	copy(blk[2:6], sb[16+4*r:20+4*r])
	for k := range 4 {
		copy(blk[6+4*k:6+4*k+4], sb[48+32*k+4*r:48+32*k+4*r+4])
	}
}

// stripBlock is the bytes a strip spends on one block of its eight rows.
func (f *stripFormat) stripBlock() int { return stripRows * f.blockBytes }

// stripFormats holds the formats with a strip kernel on this machine (set
// up by the assembly's init).
var stripFormats = map[DType]*stripFormat{}

// stripMu serialises Interleave calls.
var stripMu sync.Mutex

// Interleave stores a copy of m's rows in the row-interleaved layout that
// this machine's fastest decode kernel reads, when there is such a kernel
// for m's type and shape (today: Q4_0, Q5_0 and Q8_0 with AVX-512 VNNI, whole
// groups of four blocks per row, at least eight rows), and reports whether
// it did. From then on MatVec, MatVecs, MatMul and Row read the copy; Data
// is left as it was and is read only for the last Rows mod 8 rows, so the
// pages of a mapped file behind it can be released (see
// gguf.File.Release): if release is not nil, it is called on each part of
// Data as soon as that part has been copied (a few MiB at a time). The
// results of every operation are unchanged, bit for bit. Interleave must
// be called before m is shared between goroutines and not from inside
// ParallelFor (it copies on the kernels' threads), and m must not be
// copied by value afterwards (the copy lives only as long as m); calling
// it again does nothing.
func (m *Matrix) Interleave(release func(copied []byte)) bool {
	return m.InterleaveIn(nil, release)
}

// DropInterleaved frees m's row-interleaved copy now rather than when m
// becomes unreachable; from then on m is read from Data again. No other
// goroutine may be using m.
func (m *Matrix) DropInterleaved() {
	CancelPrefetch() // a read-ahead may be reading the copy
	stripMu.Lock()
	defer stripMu.Unlock()
	free := m.freeStrips
	m.strips, m.freeStrips, m.arena = nil, nil, nil
	if free != nil {
		free()
	}
}

// Interleaved reports whether m has a row-interleaved copy (see Interleave).
func (m *Matrix) Interleaved() bool { return m.strips != nil }

// DecodeBytes returns the memory a MatVec over m reads: the row-interleaved
// copy and the rows after it where m has one, else Data.
func (m *Matrix) DecodeBytes() [][]byte {
	rb := RowBytes(m.Type, m.Cols)
	if m.strips == nil {
		return [][]byte{m.Data[:m.Rows*rb]}
	}
	out := [][]byte{m.strips}
	if n := m.stripRowCount(); n < m.Rows {
		out = append(out, m.Data[n*rb:m.Rows*rb])
	}
	return out
}

// stripsSupported reports whether Interleave applies to m on this machine.
func stripsSupported(m *Matrix) bool {
	f := stripFormats[m.Type]
	return f != nil && f.kernel != nil && m.Rows >= stripRows && m.Cols%(4*QK) == 0 &&
		len(m.Data) >= m.Rows*RowBytes(m.Type, m.Cols)
}

// stripRowCount is how many of m's rows its strips hold.
func (m *Matrix) stripRowCount() int {
	if m.strips == nil {
		return 0
	}
	return m.Rows - m.Rows%stripRows
}

// releaseEvery is how many bytes of the source Interleave copies between
// calls of its release function.
const releaseEvery = 4 << 20

// interleave copies the whole strips of a rows×cols matrix into format f's
// strip layout, in memory from alloc (make if nil), on the kernels'
// threads, calling release (if not nil) on the source bytes copied so far
// every releaseEvery bytes and at the end.
func interleave(f *stripFormat, data []byte, rows, cols int, release func([]byte), alloc func(int) []byte) []byte {
	nb, bb, sbb := cols/QK, f.blockBytes, f.stripBlock()
	rb := nb * bb
	strips, stripBytes := rows/stripRows, stripRows*rb
	var out []byte
	if alloc != nil {
		out = alloc(strips * stripBytes)
	} else {
		out = make([]byte, strips*stripBytes)
	}
	batch := max(1, releaseEvery/stripBytes)
	for s0 := 0; s0 < strips; s0 += batch {
		s1 := min(strips, s0+batch)
		ParallelFor(s1-s0, func(i int) {
			s := s0 + i
			src, dst := data[s*stripBytes:(s+1)*stripBytes], out[s*stripBytes:(s+1)*stripBytes]
			for b := range nb {
				sb := dst[b*sbb : (b+1)*sbb]
				for r := range stripRows {
					f.packBlock(sb, r, src[r*rb+b*bb:r*rb+(b+1)*bb])
				}
			}
		})
		if release != nil {
			release(data[s0*stripBytes : s1*stripBytes])
		}
	}
	return out
}

// encodedRow returns row i of m in the standard layout: a view of Data, or,
// for a row held in strips, the row rebuilt from them in buf (which must
// hold RowBytes(m.Type, m.Cols) bytes).
func (m *Matrix) encodedRow(i int, buf []byte) []byte {
	rb := RowBytes(m.Type, m.Cols)
	if i >= m.stripRowCount() {
		return m.Data[i*rb : (i+1)*rb]
	}
	f := stripFormats[m.Type]
	s, r := i/stripRows, i%stripRows
	rebuildRow(f, m.strips[s*stripRows*rb:(s+1)*stripRows*rb], m.Cols/QK, r, buf[:rb])
	return buf[:rb]
}

// rebuildRow writes row r of a strip of nb blocks to row in the standard
// layout.
func rebuildRow(f *stripFormat, strip []byte, nb, r int, row []byte) {
	bb, sbb := f.blockBytes, f.stripBlock()
	for b := range nb {
		f.unpackBlock(row[b*bb:(b+1)*bb:(b+1)*bb], strip[b*sbb:(b+1)*sbb:(b+1)*sbb], r)
	}
}

// rebuildStrip writes the eight rows of a strip of nb blocks to rows
// (eight rows rowBytes apart) in the standard layout.
func rebuildStrip(f *stripFormat, strip []byte, nb int, rows []byte, rowBytes int) {
	if f.rebuild != nil {
		_, _ = strip[nb*f.stripBlock()-1], rows[7*rowBytes+nb*f.blockBytes-1]
		f.rebuild(strip, nb, rows, rowBytes)
		return
	}
	rebuildStripGo(f, strip, nb, rows, rowBytes)
}

// rebuildStripGo is rebuildStrip in Go.
func rebuildStripGo(f *stripFormat, strip []byte, nb int, rows []byte, rowBytes int) {
	for r := range stripRows {
		rebuildRow(f, strip, nb, r, rows[r*rowBytes:r*rowBytes+nb*f.blockBytes])
	}
}

// stripCache holds the rows of the last strip a tile job rebuilt.
type stripCache struct {
	w     *Matrix
	strip int
	rows  []byte
}

// row returns row i of w in the standard layout, rebuilding its whole
// strip into the cache when i lies in strips, so that the rows of a tile
// (which walks a strip's rows in order) cost one rebuild per strip.
func (c *stripCache) row(w *Matrix, i int) []byte {
	rb := RowBytes(w.Type, w.Cols)
	if i >= w.stripRowCount() {
		return w.Data[i*rb : (i+1)*rb]
	}
	if s := i / stripRows; c.w != w || c.strip != s {
		if cap(c.rows) < stripRows*rb {
			c.rows = make([]byte, stripRows*rb)
		}
		c.rows = c.rows[:stripRows*rb]
		rebuildStrip(stripFormats[w.Type], w.strips[s*stripRows*rb:(s+1)*stripRows*rb], w.Cols/QK, c.rows, rb)
		c.w, c.strip = w, s
	}
	r := i % stripRows
	return c.rows[r*rb : (r+1)*rb]
}

// stripMatVecFunc is a strip decode kernel: for len(dst)/8 strips of cols
// columns in w, dst receives their rows' dots with the Q8_0 activations x
// (and decodeSide's side data). It equals the active decode kernel of the
// weight type on the same rows bit for bit.
type stripMatVecFunc func(w, x []byte, side []int32, cols int, dst []float32)

// checkStrips panics unless w is a whole number of strips of type t for
// dst and x and side are long enough.
func checkStrips(t DType, w, x []byte, side []int32, cols int, dst []float32) {
	nb := cols / QK
	if len(dst)%stripRows != 0 || len(w) != len(dst)*RowBytes(t, cols) || cols%(4*QK) != 0 || len(x) < nb*34 || len(side) < 4*nb {
		panic(fmt.Sprintf("tensor: %s strip kernel: %d bytes for %d rows of %d columns", t, len(w), len(dst), cols))
	}
}
