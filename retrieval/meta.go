package retrieval

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"zhiwen/ingest"
)

// Metadata layout in meta.db:
//
//	kbs/<kbID>            → kbRecord (JSON)
//	kbnames/<name>        → kbID
//	kb/<kbID>/            (bucket; its sequence numbers chunk generations)
//	  docs/<docID>        → docRecord (JSON)
//	  chunks/<chunkID>    → ingest.Chunk (JSON); present ⇔ committed
//	  hashes/<hash>\x00<docID> → empty
//	  pending/<docID>     → chunkSpan of a version being written
//	  garbage/<docID:gen> → chunkSpan of a version being removed from the indexes
var (
	bucketKBs     = []byte("kbs")
	bucketKBNames = []byte("kbnames")
	bucketKB      = []byte("kb")
	bucketDocs    = []byte("docs")
	bucketChunks  = []byte("chunks")
	bucketHashes  = []byte("hashes")
	bucketPending = []byte("pending")
	bucketGarbage = []byte("garbage")
)

type kbRecord struct {
	KBConfig
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Deleting marks a knowledge base whose removal has begun.
	Deleting bool `json:"deleting,omitempty"`
}

type docRecord struct {
	Doc     ingest.Document `json:"doc"`
	Version int             `json:"version"`
	Gen     uint64          `json:"gen"`
	Chunks  int             `json:"chunks"`
	// Fingerprint digests the stored content (see contentFingerprint).
	Fingerprint string    `json:"fingerprint"`
	Updated     time.Time `json:"updated"`
}

// chunkSpan names the chunk IDs <DocID>:<Gen>:0 … <DocID>:<Gen>:<N-1>.
type chunkSpan struct {
	DocID string `json:"doc_id"`
	Gen   uint64 `json:"gen"`
	N     int    `json:"n"`
}

func (sp chunkSpan) key() []byte { return []byte(sp.DocID + ":" + strconv.FormatUint(sp.Gen, 10)) }

func (sp chunkSpan) ids() []string {
	ids := make([]string, sp.N)
	for i := range ids {
		ids[i] = chunkID(sp.DocID, sp.Gen, i)
	}
	return ids
}

// chunkID is the index-wide ID of chunk seq of generation gen of a document.
// Generations are unique within a knowledge base, so IDs are never reused.
func chunkID(docID string, gen uint64, seq int) string {
	return docID + ":" + strconv.FormatUint(gen, 10) + ":" + strconv.Itoa(seq)
}

func initBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketKBs, bucketKBNames, bucketKB} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("bucket %s: %w", name, err)
		}
	}
	return nil
}

// kbBucket returns the bucket of one knowledge base, or nil.
func kbBucket(tx *bolt.Tx, kbID string) *bolt.Bucket {
	return tx.Bucket(bucketKB).Bucket([]byte(kbID))
}

func createKBBucket(tx *bolt.Tx, kbID string) error {
	b, err := tx.Bucket(bucketKB).CreateBucket([]byte(kbID))
	if err != nil {
		return fmt.Errorf("kb bucket %s: %w", kbID, err)
	}
	for _, name := range [][]byte{bucketDocs, bucketChunks, bucketHashes, bucketPending, bucketGarbage} {
		if _, err := b.CreateBucket(name); err != nil {
			return fmt.Errorf("kb bucket %s/%s: %w", kbID, name, err)
		}
	}
	return nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, data)
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

func getKBRecord(tx *bolt.Tx, kbID string) (kbRecord, bool, error) {
	var r kbRecord
	ok, err := getJSON(tx.Bucket(bucketKBs), []byte(kbID), &r)
	return r, ok, err
}

// lookupKB resolves a live knowledge base by name.
func lookupKB(tx *bolt.Tx, name string) (kbRecord, error) {
	id := tx.Bucket(bucketKBNames).Get([]byte(name))
	if id == nil {
		return kbRecord{}, fmt.Errorf("knowledge base %q: %w", name, ErrNotFound)
	}
	r, ok, err := getKBRecord(tx, string(id))
	if err != nil {
		return kbRecord{}, fmt.Errorf("knowledge base %q: %w", name, err)
	}
	if !ok || r.Deleting {
		return kbRecord{}, fmt.Errorf("knowledge base %q: %w", name, ErrNotFound)
	}
	return r, nil
}

func getDocRecord(kb *bolt.Bucket, docID string) (docRecord, bool, error) {
	var r docRecord
	ok, err := getJSON(kb.Bucket(bucketDocs), []byte(docID), &r)
	return r, ok, err
}

func hashKey(hash, docID string) []byte { return []byte(hash + "\x00" + docID) }

// spans decodes every chunkSpan in a pending or garbage bucket.
func spans(b *bolt.Bucket) ([]chunkSpan, error) {
	var out []chunkSpan
	err := b.ForEach(func(k, v []byte) error {
		var sp chunkSpan
		if err := json.Unmarshal(v, &sp); err != nil {
			return fmt.Errorf("decode span %s: %w", k, err)
		}
		out = append(out, sp)
		return nil
	})
	return out, err
}

func (s *LocalStore) kbRecords() ([]kbRecord, error) {
	var out []kbRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKBs).ForEach(func(k, v []byte) error {
			var r kbRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode kb %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list knowledge bases: %w", err)
	}
	return out, nil
}

// kbDirty reports whether a knowledge base has pending or garbage spans.
func (s *LocalStore) kbDirty(kbID string) (bool, error) {
	dirty := false
	err := s.db.View(func(tx *bolt.Tx) error {
		b := kbBucket(tx, kbID)
		if b == nil {
			return nil
		}
		k1, _ := b.Bucket(bucketPending).Cursor().First()
		k2, _ := b.Bucket(bucketGarbage).Cursor().First()
		dirty = k1 != nil || k2 != nil
		return nil
	})
	return dirty, err
}
