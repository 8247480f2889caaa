package retrieval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"

	chromem "github.com/philippgille/chromem-go"

	"zhiwen/generation/tensor"
)

const (
	// denseConfigFile records which embedder built the vectors in a Dense directory.
	denseConfigFile = "zhiwen-dense.json"
	// denseCollection is the name of the first chromem-go collection; overflow
	// collections (for IDs whose file names collide) are named denseCollection.N.
	denseCollection = "chunks"
	// chromem-go metadata keys: the document ID, and a prefix for Passage.Meta keys.
	denseKeyDoc     = "doc"
	denseMetaPrefix = "m:"
	denseKeyZero    = "zero"
	// chromem-go keeps the collection's own metadata in this file name, so no
	// document may take that slot.
	chromemMetaSlot = "00000000"
	// denseEmbedBatch bounds the texts per EmbedDocuments call.
	denseEmbedBatch = 256
)

// denseConfig is persisted in denseConfigFile.
type denseConfig struct {
	Embedder string `json:"embedder"`
	Dim      int    `json:"dim"`
}

// denseRow is one passage in the in-memory matrix.
type denseRow struct {
	id    string
	docID string
	meta  map[string]string
	// vec is the unit-length float32 vector, shared with chromem-go's copy.
	vec []float32
	// col is the chromem-go collection that persists the row.
	col  int
	live bool
	// zero marks a passage without features; it matches nothing.
	zero bool
}

// Dense is a cosine-similarity vector index over passages. chromem-go's
// persistent DB is the durable store (one gob file per passage); on open all
// vectors are loaded into a contiguous 4-bit (Q4_0) matrix that Search scans
// with tensor.MatVec's integer kernels on all cores, re-scoring the best
// candidates with the float32 vectors.
// It is safe for concurrent use; searches run while Put and Delete write.
type Dense struct {
	dir string
	emb Embedder
	dim int

	// wmu serializes writers, so slot assignment and persistence stay in step.
	wmu sync.Mutex
	db  *chromem.DB
	// cols are the chromem-go collections; slots maps each collection's
	// file slot (chromem-go names a document's file by 32 bits of SHA-256 of
	// its ID) to the ID holding it, so that two IDs never share a file.
	cols  []*chromem.Collection
	slots []map[string]string

	// mu guards the in-memory matrix below.
	mu     sync.RWMutex
	closed bool
	rows   []denseRow
	// scanType is the quantization of the scan matrix (denseScanType).
	scanType tensor.DType
	// padDim is dim rounded up to whole quantization blocks (zero-padded).
	padDim   int
	rowBytes int
	// scan holds every row quantized to scanType, contiguous, for
	// tensor.MatVec's integer kernels.
	scan  []byte
	rowOf map[string]int
	byDoc map[string][]int
	dead  int
}

// OpenDense opens the vector index in dir, creating it when absent. The
// index is bound to e: opening it with an embedder of another Name or Dim
// is an error. Files left half-written by a crash are removed (with a
// warning) so that the index always reopens.
func OpenDense(dir string, e Embedder) (*Dense, error) {
	if e == nil {
		return nil, fmt.Errorf("open dense index %s: nil embedder", dir)
	}
	if e.Dim() < 1 {
		return nil, fmt.Errorf("open dense index %s: embedder %s has dimension %d", dir, e.Name(), e.Dim())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open dense index %s: %w", dir, err)
	}
	if err := checkDenseConfig(dir, e); err != nil {
		return nil, err
	}
	db, err := chromem.NewPersistentDB(dir, false)
	if err != nil {
		slog.Warn("dense index did not load; removing unreadable files", "dir", dir, "err", err)
		if rerr := repairChromemDir(dir); rerr != nil {
			return nil, fmt.Errorf("open dense index %s: %w (repair: %v)", dir, err, rerr)
		}
		db, err = chromem.NewPersistentDB(dir, false)
		if err != nil {
			return nil, fmt.Errorf("open dense index %s: %w", dir, err)
		}
	}
	d := &Dense{
		dir: dir,
		emb: e,
		dim: e.Dim(),
		db:  db,
	}
	d.initMatrix(denseScanType)
	if err := d.load(); err != nil {
		return nil, fmt.Errorf("open dense index %s: %w", dir, err)
	}
	return d, nil
}

// checkDenseConfig writes the embedder's identity on first use and rejects a
// different embedder later.
func checkDenseConfig(dir string, e Embedder) error {
	path := filepath.Join(dir, denseConfigFile)
	want := denseConfig{Embedder: e.Name(), Dim: e.Dim()}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b, _ = json.Marshal(want)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	var got denseConfig
	if err := json.Unmarshal(b, &got); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	if got != want {
		return fmt.Errorf("dense index %s was built with embedder %s (dim %d), not %s (dim %d)",
			dir, got.Embedder, got.Dim, want.Embedder, want.Dim)
	}
	return nil
}

// chromemSlot is the file name chromem-go gives a document or collection ID.
func chromemSlot(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:4])
}

func collectionName(i int) string {
	if i == 0 {
		return denseCollection
	}
	return denseCollection + "." + strconv.Itoa(i)
}

// load reads every collection's vectors into the matrix.
func (d *Dense) load() error {
	ctx := context.Background()
	all := d.db.ListCollections()
	probe := make([]float32, d.dim)
	probe[0] = 1
	for i := 0; ; i++ {
		c, ok := all[collectionName(i)]
		if !ok {
			break
		}
		c = d.db.GetCollection(c.Name, d.noEmbed)
		d.cols = append(d.cols, c)
		d.slots = append(d.slots, make(map[string]string))
		n := c.Count()
		if n == 0 {
			continue
		}
		// chromem-go has no iterator; a query for all documents returns
		// every document with its (shared, not copied) embedding.
		res, err := c.QueryEmbedding(ctx, probe, n, nil, nil)
		if err != nil {
			return fmt.Errorf("read collection %s: %w", c.Name, err)
		}
		for _, r := range res {
			if len(r.Embedding) != d.dim {
				return fmt.Errorf("passage %s has a %d-dim vector, index is %d-dim", r.ID, len(r.Embedding), d.dim)
			}
			if r.Metadata[denseKeyZero] == "1" {
				r.Embedding = make([]float32, d.dim)
			}
			d.slots[i][chromemSlot(r.ID)] = r.ID
			docID, meta := splitChromemMeta(r.Metadata)
			d.setRow(r.ID, docID, meta, r.Embedding, i)
		}
	}
	if len(d.cols) == 0 {
		if _, err := d.addCollection(); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dense) addCollection() (int, error) {
	i := len(d.cols)
	c, err := d.db.CreateCollection(collectionName(i), nil, d.noEmbed)
	if err != nil {
		return 0, fmt.Errorf("create collection %s: %w", collectionName(i), err)
	}
	d.cols = append(d.cols, c)
	d.slots = append(d.slots, make(map[string]string))
	return i, nil
}

// noEmbed is the chromem-go embedding function: Dense always passes vectors.
func (d *Dense) noEmbed(context.Context, string) ([]float32, error) {
	return nil, errors.New("dense index embeds through its Embedder, not chromem-go")
}

func chromemMeta(p Passage) map[string]string {
	m := make(map[string]string, len(p.Meta)+1)
	m[denseKeyDoc] = p.DocID
	for k, v := range p.Meta {
		m[denseMetaPrefix+k] = v
	}
	return m
}

func splitChromemMeta(m map[string]string) (string, map[string]string) {
	var meta map[string]string
	for k, v := range m {
		if len(k) > len(denseMetaPrefix) && k[:len(denseMetaPrefix)] == denseMetaPrefix {
			if meta == nil {
				meta = make(map[string]string, len(m)-1)
			}
			meta[k[len(denseMetaPrefix):]] = v
		}
	}
	return m[denseKeyDoc], meta
}

// Put embeds passages with the index's Embedder and stores them, replacing
// any passage with the same ID.
func (d *Dense) Put(ctx context.Context, ps []Passage) error {
	for start := 0; start < len(ps); start += denseEmbedBatch {
		end := min(start+denseEmbedBatch, len(ps))
		texts := make([]string, end-start)
		for i, p := range ps[start:end] {
			texts[i] = p.Text
		}
		vecs, err := d.emb.EmbedDocuments(ctx, texts)
		if err != nil {
			return fmt.Errorf("dense put: embed with %s: %w", d.emb.Name(), err)
		}
		if err := d.PutVectors(ctx, ps[start:end], vecs); err != nil {
			return err
		}
	}
	return nil
}

// PutVectors stores passages with vectors computed elsewhere by the same
// embedder, replacing any passage with the same ID.
func (d *Dense) PutVectors(ctx context.Context, ps []Passage, vecs [][]float32) error {
	if len(ps) != len(vecs) {
		return fmt.Errorf("dense put: %d passages but %d vectors", len(ps), len(vecs))
	}
	if len(ps) == 0 {
		return nil
	}
	units := make([][]float32, len(ps))
	for i, v := range vecs {
		if ps[i].ID == "" {
			return fmt.Errorf("dense put: passage of document %q has an empty ID", ps[i].DocID)
		}
		if len(v) != d.dim {
			return fmt.Errorf("dense put %s: vector has %d dimensions, index has %d", ps[i].ID, len(v), d.dim)
		}
		u := make([]float32, d.dim)
		for j, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("dense put %s: vector has a non-finite value", ps[i].ID)
			}
			u[j] = x
		}
		tensor.NormalizeL2(u)
		units[i] = u
	}

	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.isClosed() {
		return ErrClosed
	}
	// Choose each passage's collection: where it already lives, else the
	// first one whose file slot for it is free.
	byCol := make(map[int][]chromem.Document)
	cols := make([]int, len(ps))
	for i, p := range ps {
		ci, err := d.collectionFor(p.ID)
		if err != nil {
			return fmt.Errorf("dense put %s: %w", p.ID, err)
		}
		cols[i] = ci
		d.slots[ci][chromemSlot(p.ID)] = p.ID
		emb, meta := units[i], chromemMeta(p)
		if isZero(emb) {
			// chromem-go would divide by zero normalizing it: a passage
			// without features is stored as a unit placeholder marked zero,
			// and matches nothing.
			emb = make([]float32, d.dim)
			emb[0] = 1
			meta[denseKeyZero] = "1"
		}
		byCol[ci] = append(byCol[ci], chromem.Document{ID: p.ID, Metadata: meta, Embedding: emb})
	}
	for ci, docs := range byCol {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("dense put: %w", err)
		}
		if err := d.cols[ci].AddDocuments(ctx, docs, runtime.GOMAXPROCS(0)); err != nil {
			return fmt.Errorf("dense put into %s: %w", d.cols[ci].Name, err)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, p := range ps {
		var meta map[string]string
		if len(p.Meta) > 0 {
			meta = make(map[string]string, len(p.Meta))
			for k, v := range p.Meta {
				meta[k] = v
			}
		}
		d.setRow(p.ID, p.DocID, meta, units[i], cols[i])
	}
	return nil
}

func isZero(v []float32) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// collectionFor picks the collection that persists id. Callers hold wmu.
func (d *Dense) collectionFor(id string) (int, error) {
	d.mu.RLock()
	r, ok := d.rowOf[id]
	var col int
	if ok {
		col = d.rows[r].col
	}
	d.mu.RUnlock()
	if ok {
		return col, nil
	}
	slot := chromemSlot(id)
	if slot == chromemMetaSlot {
		// chromem-go keeps collection metadata under this file name; one ID
		// in 2^32 hashes there and cannot be persisted.
		return 0, fmt.Errorf("id hashes to chromem-go's metadata file name %s; choose another id", slot)
	}
	for ci := range d.cols {
		if holder, taken := d.slots[ci][slot]; !taken || holder == id {
			return ci, nil
		}
	}
	return d.addCollection()
}

// setRow inserts or replaces a row in the matrix. Callers hold mu (or are
// loading before the index is shared).
func (d *Dense) setRow(id, docID string, meta map[string]string, vec []float32, col int) {
	r, ok := d.rowOf[id]
	if !ok {
		r = len(d.rows)
		d.rows = append(d.rows, denseRow{})
		d.scan = append(d.scan, make([]byte, d.rowBytes)...)
		d.rowOf[id] = r
	} else if d.rows[r].docID != docID {
		d.byDoc[d.rows[r].docID] = removeInt(d.byDoc[d.rows[r].docID], r)
		ok = false
	}
	if !ok {
		d.byDoc[docID] = append(d.byDoc[docID], r)
	}
	d.rows[r] = denseRow{id: id, docID: docID, meta: meta, vec: vec, col: col, live: true, zero: isZero(vec)}
	d.quantizeRow(d.scan[r*d.rowBytes:(r+1)*d.rowBytes], vec)
}

// denseScanType quantizes the scan matrix. Q4_0 halves the memory read per
// query against Q8_0; the float32 re-score of k·4+32 candidates restores
// exact order (BenchmarkDenseScan100k, TestCMRCQuality).
const denseScanType = tensor.Q4_0

// initMatrix sets up an empty scan matrix of type t for d.dim-long vectors.
func (d *Dense) initMatrix(t tensor.DType) {
	bs := t.BlockSize()
	d.scanType = t
	d.padDim = (d.dim + bs - 1) / bs * bs
	d.rowBytes = tensor.RowBytes(t, d.padDim)
	d.rowOf = make(map[string]int)
	d.byDoc = make(map[string][]int)
}

// quantizeRow writes v, zero-padded to padDim, as one scanType row into dst.
func (d *Dense) quantizeRow(dst []byte, v []float32) {
	padded := v
	if len(v) != d.padDim {
		padded = make([]float32, d.padDim)
		copy(padded, v)
	}
	b, err := tensor.Quantize(d.scanType, padded)
	if err != nil {
		panic(fmt.Sprintf("quantize %d-dim row to %s: %v", d.padDim, d.scanType, err)) // padDim is whole blocks: cannot happen
	}
	copy(dst, b)
}

func removeInt(s []int, x int) []int {
	for i, v := range s {
		if v == x {
			s[i] = s[len(s)-1]
			return s[:len(s)-1]
		}
	}
	return s
}

// Delete removes passages by ID; IDs not in the index are ignored.
func (d *Dense) Delete(ctx context.Context, ids []string) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.isClosed() {
		return ErrClosed
	}
	byCol := make(map[int][]string)
	d.mu.RLock()
	for _, id := range ids {
		if r, ok := d.rowOf[id]; ok {
			byCol[d.rows[r].col] = append(byCol[d.rows[r].col], id)
		}
	}
	d.mu.RUnlock()
	for ci, cids := range byCol {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("dense delete: %w", err)
		}
		// Only IDs known to live in this collection reach chromem-go, which
		// removes files by slot and would otherwise hit a colliding ID's file.
		if err := d.cols[ci].Delete(ctx, nil, nil, cids...); err != nil {
			return fmt.Errorf("dense delete from %s: %w", d.cols[ci].Name, err)
		}
		for _, id := range cids {
			delete(d.slots[ci], chromemSlot(id))
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, cids := range byCol {
		for _, id := range cids {
			r := d.rowOf[id]
			delete(d.rowOf, id)
			d.byDoc[d.rows[r].docID] = removeInt(d.byDoc[d.rows[r].docID], r)
			if len(d.byDoc[d.rows[r].docID]) == 0 {
				delete(d.byDoc, d.rows[r].docID)
			}
			d.rows[r] = denseRow{}
			d.dead++
		}
	}
	if d.dead > 1024 && d.dead*4 > len(d.rows) {
		d.compact()
	}
	return nil
}

// compact drops deleted rows from the matrix. Callers hold mu.
func (d *Dense) compact() {
	live := len(d.rows) - d.dead
	rows := make([]denseRow, 0, live)
	scan := make([]byte, 0, live*d.rowBytes)
	rowOf := make(map[string]int, live)
	byDoc := make(map[string][]int, len(d.byDoc))
	for r, row := range d.rows {
		if !row.live {
			continue
		}
		n := len(rows)
		rows = append(rows, row)
		scan = append(scan, d.scan[r*d.rowBytes:(r+1)*d.rowBytes]...)
		rowOf[row.id] = n
		byDoc[row.docID] = append(byDoc[row.docID], n)
	}
	d.rows, d.scan, d.rowOf, d.byDoc, d.dead = rows, scan, rowOf, byDoc, 0
}

func (d *Dense) isClosed() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.closed
}

// Search embeds query with the index's Embedder and returns up to k
// passages by cosine similarity, best first.
func (d *Dense) Search(ctx context.Context, query string, k int, f Filter) ([]Scored, error) {
	q, err := d.emb.EmbedQuery(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("dense search: embed query with %s: %w", d.emb.Name(), err)
	}
	return d.SearchVector(ctx, q, k, f)
}

// Count returns the number of passages in the index.
func (d *Dense) Count() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.rows) - d.dead
}

// Close releases the in-memory matrix; chromem-go has written every passage
// already. Later calls return ErrClosed.
func (d *Dense) Close() error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.rows, d.scan, d.rowOf, d.byDoc = nil, nil, nil, nil
	d.cols, d.slots, d.db = nil, nil, nil
	return nil
}
