package retrieval

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// MaxKBNameRunes is the longest knowledge base name accepted.
const MaxKBNameRunes = 64

// ValidateKBName checks a knowledge base name: non-empty after trimming
// spaces, at most 64 runes, valid UTF-8, no '/' or '\\', no control characters.
func ValidateKBName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return fmt.Errorf("knowledge base name is empty: %w", ErrInvalid)
	case name != strings.TrimSpace(name):
		return fmt.Errorf("knowledge base name %q has leading or trailing space: %w", name, ErrInvalid)
	case !utf8.ValidString(name):
		return fmt.Errorf("knowledge base name %q is not valid UTF-8: %w", name, ErrInvalid)
	case utf8.RuneCountInString(name) > MaxKBNameRunes:
		return fmt.Errorf("knowledge base name %q is longer than %d characters: %w", name, MaxKBNameRunes, ErrInvalid)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("knowledge base name %q contains a slash: %w", name, ErrInvalid)
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("knowledge base name %q contains a control character: %w", name, ErrInvalid)
	}
	return nil
}

// kbHandle holds the open indexes of one knowledge base.
//
// Lock order: writeMu, then life. Writers hold writeMu for a whole document
// operation and life.RLock while touching indexes; searches hold only
// life.RLock; closing the indexes (DeleteKB, Close) takes both exclusively.
type kbHandle struct {
	id      string
	writeMu sync.Mutex
	life    sync.RWMutex
	closed  bool
	lex     *Lexical
	dense   *Dense
	emb     Embedder
	embErr  error // set when the KB's embedder is not configured
}

func (h *kbHandle) closeIndexes() error {
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	if h.lex != nil {
		if err := h.lex.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close lexical %s: %w", h.id, err))
		}
	}
	if h.dense != nil {
		if err := h.dense.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close dense %s: %w", h.id, err))
		}
	}
	return errors.Join(errs...)
}

func (s *LocalStore) kbDir(kbID string) string { return filepath.Join(s.dir, "kb", kbID) }

// handleByID returns the open handle of a knowledge base, opening its indexes if needed.
func (s *LocalStore) handleByID(kbID string) (*kbHandle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("store %s is closed: %w", s.dir, ErrInvalid)
	}
	if h, ok := s.handles[kbID]; ok {
		return h, nil
	}
	var rec kbRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		r, ok, err := getKBRecord(tx, kbID)
		if err != nil {
			return err
		}
		if !ok || r.Deleting {
			return fmt.Errorf("knowledge base id %s: %w", kbID, ErrNotFound)
		}
		rec = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	h := &kbHandle{id: kbID}
	if e, ok := s.embedders[rec.Embedder]; ok {
		h.emb = e
	} else {
		h.embErr = fmt.Errorf("knowledge base %q uses embedder %q: %w", rec.Name, rec.Embedder, ErrNoEmbedder)
	}
	dir := s.kbDir(kbID)
	if h.lex, err = OpenLexical(filepath.Join(dir, "lexical")); err != nil {
		return nil, fmt.Errorf("knowledge base %q: open lexical index: %w", rec.Name, err)
	}
	if h.emb != nil {
		if h.dense, err = OpenDense(filepath.Join(dir, "dense"), h.emb); err != nil {
			h.lex.Close()
			return nil, fmt.Errorf("knowledge base %q: open dense index: %w", rec.Name, err)
		}
	}
	s.handles[kbID] = h
	return h, nil
}

// resolve maps a knowledge base name to its record.
func (s *LocalStore) resolve(name string) (kbRecord, error) {
	var rec kbRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = lookupKB(tx, name)
		return err
	})
	return rec, err
}

// acquireRead resolves a knowledge base and read-locks its indexes.
func (s *LocalStore) acquireRead(name string) (*kbHandle, kbRecord, error) {
	rec, err := s.resolve(name)
	if err != nil {
		return nil, rec, err
	}
	h, err := s.handleByID(rec.ID)
	if err != nil {
		return nil, rec, err
	}
	h.life.RLock()
	if h.closed {
		h.life.RUnlock()
		return nil, rec, fmt.Errorf("knowledge base %q: %w", name, ErrNotFound)
	}
	return h, rec, nil
}

// acquireWrite resolves a knowledge base, takes its writer lock and
// read-locks its indexes. release undoes both.
func (s *LocalStore) acquireWrite(name string) (h *kbHandle, rec kbRecord, release func(), err error) {
	rec, err = s.resolve(name)
	if err != nil {
		return nil, rec, nil, err
	}
	h, err = s.handleByID(rec.ID)
	if err != nil {
		return nil, rec, nil, err
	}
	h.writeMu.Lock()
	h.life.RLock()
	if h.closed {
		h.life.RUnlock()
		h.writeMu.Unlock()
		return nil, rec, nil, fmt.Errorf("knowledge base %q: %w", name, ErrNotFound)
	}
	return h, rec, func() { h.life.RUnlock(); h.writeMu.Unlock() }, nil
}

func newKBID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new kb id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// CreateKB makes an empty knowledge base.
func (s *LocalStore) CreateKB(ctx context.Context, cfg KBConfig) (KBInfo, error) {
	if err := ValidateKBName(cfg.Name); err != nil {
		return KBInfo{}, err
	}
	if cfg.Embedder == "" {
		cfg.Embedder = s.opts.Embedder.Name()
	}
	if _, ok := s.embedders[cfg.Embedder]; !ok {
		return KBInfo{}, fmt.Errorf("create knowledge base %q: embedder %q: %w", cfg.Name, cfg.Embedder, ErrNoEmbedder)
	}
	id, err := newKBID()
	if err != nil {
		return KBInfo{}, err
	}
	rec := kbRecord{KBConfig: cfg, ID: id, Created: time.Now().UTC()}
	err = s.db.Update(func(tx *bolt.Tx) error {
		names := tx.Bucket(bucketKBNames)
		if names.Get([]byte(cfg.Name)) != nil {
			return fmt.Errorf("knowledge base %q: %w", cfg.Name, ErrExists)
		}
		if err := names.Put([]byte(cfg.Name), []byte(id)); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketKBs), []byte(id), rec); err != nil {
			return err
		}
		return createKBBucket(tx, id)
	})
	if err != nil {
		return KBInfo{}, fmt.Errorf("create knowledge base: %w", err)
	}
	s.log.Info("created knowledge base", "kb", cfg.Name, "id", id, "embedder", cfg.Embedder)
	return KBInfo{KBConfig: cfg, ID: id, Created: rec.Created}, nil
}

func kbInfo(tx *bolt.Tx, r kbRecord) KBInfo {
	info := KBInfo{KBConfig: r.KBConfig, ID: r.ID, Created: r.Created}
	if b := kbBucket(tx, r.ID); b != nil {
		info.Documents = b.Bucket(bucketDocs).Stats().KeyN
		info.Chunks = b.Bucket(bucketChunks).Stats().KeyN
	}
	return info
}

// KBs lists every knowledge base, sorted by name.
func (s *LocalStore) KBs(ctx context.Context) ([]KBInfo, error) {
	recs, err := s.kbRecords()
	if err != nil {
		return nil, err
	}
	out := []KBInfo{}
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, r := range recs {
			if !r.Deleting {
				out = append(out, kbInfo(tx, r))
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// KB describes one knowledge base.
func (s *LocalStore) KB(ctx context.Context, name string) (KBInfo, error) {
	var info KBInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := lookupKB(tx, name)
		if err != nil {
			return err
		}
		info = kbInfo(tx, r)
		return nil
	})
	return info, err
}

// RenameKB changes a knowledge base's name; its ID and indexes stay.
func (s *LocalStore) RenameKB(ctx context.Context, oldName, newName string) error {
	if err := ValidateKBName(newName); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := lookupKB(tx, oldName)
		if err != nil {
			return err
		}
		if oldName == newName {
			return nil
		}
		names := tx.Bucket(bucketKBNames)
		if names.Get([]byte(newName)) != nil {
			return fmt.Errorf("knowledge base %q: %w", newName, ErrExists)
		}
		if err := names.Delete([]byte(oldName)); err != nil {
			return err
		}
		if err := names.Put([]byte(newName), []byte(r.ID)); err != nil {
			return err
		}
		r.Name = newName
		return putJSON(tx.Bucket(bucketKBs), []byte(r.ID), r)
	})
	if err != nil {
		return fmt.Errorf("rename knowledge base %q to %q: %w", oldName, newName, err)
	}
	return nil
}

// UpdateKB changes the description and/or default adapter.
func (s *LocalStore) UpdateKB(ctx context.Context, name string, u KBUpdate) (KBInfo, error) {
	var info KBInfo
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := lookupKB(tx, name)
		if err != nil {
			return err
		}
		if u.Description != nil {
			r.Description = *u.Description
		}
		if u.DefaultAdapter != nil {
			r.DefaultAdapter = *u.DefaultAdapter
		}
		if err := putJSON(tx.Bucket(bucketKBs), []byte(r.ID), r); err != nil {
			return err
		}
		info = kbInfo(tx, r)
		return nil
	})
	if err != nil {
		return KBInfo{}, fmt.Errorf("update knowledge base %q: %w", name, err)
	}
	return info, nil
}

// DeleteKB removes a knowledge base: it is marked deleted and its name
// freed in one transaction, then its index directories are removed, then its
// metadata is purged. Open finishes a delete interrupted between the steps.
func (s *LocalStore) DeleteKB(ctx context.Context, name string) error {
	var rec kbRecord
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := lookupKB(tx, name)
		if err != nil {
			return err
		}
		r.Deleting = true
		if err := tx.Bucket(bucketKBNames).Delete([]byte(r.Name)); err != nil {
			return err
		}
		rec = r
		return putJSON(tx.Bucket(bucketKBs), []byte(r.ID), r)
	})
	if err != nil {
		return fmt.Errorf("delete knowledge base %q: %w", name, err)
	}
	testHook("kb-delete-marked", 0)
	// From here on handleByID refuses this KB; close a handle opened earlier
	// once its writers and searches have finished.
	s.mu.Lock()
	h := s.handles[rec.ID]
	delete(s.handles, rec.ID)
	s.mu.Unlock()
	if h != nil {
		h.writeMu.Lock()
		h.life.Lock()
		if err := h.closeIndexes(); err != nil {
			s.log.Warn("closing indexes of deleted knowledge base", "kb", name, "err", err)
		}
		h.life.Unlock()
		h.writeMu.Unlock()
	}
	if err := s.purgeKB(rec.ID); err != nil {
		return fmt.Errorf("delete knowledge base %q: %w", name, err)
	}
	s.log.Info("deleted knowledge base", "kb", name, "id", rec.ID)
	return nil
}

// purgeKB removes the directories and then the metadata of a knowledge base
// already marked as deleting.
func (s *LocalStore) purgeKB(kbID string) error {
	if err := os.RemoveAll(s.kbDir(kbID)); err != nil {
		return fmt.Errorf("remove %s: %w", s.kbDir(kbID), err)
	}
	testHook("kb-delete-dirs-removed", 0)
	return s.db.Update(func(tx *bolt.Tx) error {
		if kbBucket(tx, kbID) != nil {
			if err := tx.Bucket(bucketKB).DeleteBucket([]byte(kbID)); err != nil {
				return fmt.Errorf("purge kb %s: %w", kbID, err)
			}
		}
		return tx.Bucket(bucketKBs).Delete([]byte(kbID))
	})
}
