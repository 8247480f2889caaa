package generation

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrConversationNotFound is returned for an unknown conversation ID.
var ErrConversationNotFound = errors.New("conversation not found")

// Turn is one question and its answer.
type Turn struct {
	Question  string    `json:"question"`
	Query     string    `json:"query,omitempty"`
	Answer    string    `json:"answer"`
	Citations []Source  `json:"citations,omitempty"`
	Refused   bool      `json:"refused,omitempty"`
	Created   time.Time `json:"created"`
}

// Conversation is a stored multi-turn chat.
type Conversation struct {
	ID      string    `json:"id"`
	Title   string    `json:"title"`
	KBs     []string  `json:"kbs"`
	Turns   []Turn    `json:"turns"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// History returns the conversation as chat messages, oldest first.
func (c *Conversation) History() []Message {
	var out []Message
	for _, t := range c.Turns {
		out = append(out, Message{Role: "user", Content: t.Question}, Message{Role: "assistant", Content: t.Answer})
	}
	return out
}

var convBucket = []byte("conversations")

// Conversations keeps conversations in a bbolt file.
type Conversations struct {
	db *bolt.DB
}

// OpenConversations opens (or creates) the conversation store at path.
func OpenConversations(path string) (*Conversations, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open conversations %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(convBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open conversations %s: %w", path, err)
	}
	return &Conversations{db: db}, nil
}

// Close closes the store.
func (s *Conversations) Close() error { return s.db.Close() }

// Create starts a conversation over kbs titled after its first question.
func (s *Conversations) Create(kbs []string, firstQuestion string) (*Conversation, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	now := time.Now().UTC()
	c := &Conversation{ID: "c-" + hex.EncodeToString(b[:]), Title: snippet(firstQuestion, 40), KBs: kbs, Created: now, Updated: now}
	return c, s.put(c)
}

func (s *Conversations) put(c *Conversation) error {
	buf, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(convBucket).Put([]byte(c.ID), buf) }); err != nil {
		return fmt.Errorf("save conversation %s: %w", c.ID, err)
	}
	return nil
}

// Get returns one conversation.
func (s *Conversations) Get(id string) (*Conversation, error) {
	var c Conversation
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(convBucket).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("conversation %s: %w", id, ErrConversationNotFound)
		}
		return json.Unmarshal(v, &c)
	})
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// Append adds a turn to a conversation.
func (s *Conversations) Append(id string, t Turn) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(convBucket)
		v := b.Get([]byte(id))
		if v == nil {
			return fmt.Errorf("conversation %s: %w", id, ErrConversationNotFound)
		}
		var c Conversation
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("conversation %s: %w", id, err)
		}
		c.Turns = append(c.Turns, t)
		c.Updated = t.Created
		buf, err := json.Marshal(&c)
		if err != nil {
			return err
		}
		return b.Put([]byte(id), buf)
	})
}

// List returns conversations without their turns, most recently updated first.
func (s *Conversations) List() ([]Conversation, error) {
	var out []Conversation
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(convBucket).ForEach(func(k, v []byte) error {
			var c Conversation
			if err := json.Unmarshal(v, &c); err != nil {
				return fmt.Errorf("conversation %s: %w", k, err)
			}
			c.Turns = nil
			out = append(out, c)
			return nil
		})
	})
	sort.Slice(out, func(a, b int) bool { return out[a].Updated.After(out[b].Updated) })
	return out, err
}

// Delete removes a conversation.
func (s *Conversations) Delete(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(convBucket)
		if b.Get([]byte(id)) == nil {
			return fmt.Errorf("conversation %s: %w", id, ErrConversationNotFound)
		}
		return b.Delete([]byte(id))
	})
}
