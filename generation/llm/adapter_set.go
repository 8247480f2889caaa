package llm

import (
	"fmt"
	"strings"
	"sync"

	"zhiwen/generation/tensor"
)

// AdapterUse is one adapter of an AdapterSet with its strength: Scale
// multiplies the adapter's own LoRA scale (1 = as trained). Prefix
// adapters ignore it.
type AdapterUse struct {
	Adapter *Adapter
	Scale   float32
}

// AdapterSet is a combination of adapters applied together to one
// sequence: any number of LoRA adapters, each with its own scale, and at
// most one prefix. It is immutable and safe to share between sequences;
// the base model is never modified, so different sequences may use
// different sets over the same loaded model at the same time. Install a set
// on a KVCache with UseAdapters.
type AdapterSet struct {
	cfg    Config
	uses   []AdapterUse
	ops    [][numLoRATargets][]loraOp // [layer][target]
	prefix *Prefix
	name   string
}

// loraOp is one low-rank update of one weight.
type loraOp struct {
	a, b  *tensor.Matrix
	scale float32
}

// NewAdapterSet validates the adapters against the base model shape and
// combines them.
func NewAdapterSet(base Config, uses ...AdapterUse) (*AdapterSet, error) {
	s := &AdapterSet{cfg: base, uses: append([]AdapterUse(nil), uses...), ops: make([][numLoRATargets][]loraOp, base.Layers)}
	var names []string
	for _, u := range uses {
		a := u.Adapter
		if a == nil {
			return nil, fmt.Errorf("adapter set: nil adapter")
		}
		if err := a.Validate(base); err != nil {
			return nil, fmt.Errorf("adapter set: %w", err)
		}
		names = append(names, a.Name)
		switch a.Kind {
		case AdapterPrefix:
			if s.prefix != nil {
				return nil, fmt.Errorf("adapter set: more than one prefix adapter (%s)", a.Name)
			}
			s.prefix = a.Prefix
		case AdapterLoRA:
			for _, name := range a.loraNames() {
				w := a.LoRA[name]
				layer, t, _ := parseWeightName(name) // checked by Validate
				s.ops[layer][t] = append(s.ops[layer][t], loraOp{a: w.A, b: w.B, scale: u.Scale * w.Scale})
			}
		}
	}
	s.name = strings.Join(names, "+")
	return s, nil
}

// Name joins the adapters' names with "+".
func (s *AdapterSet) Name() string {
	if s == nil {
		return ""
	}
	return s.name
}

// Uses returns the adapters of the set.
func (s *AdapterSet) Uses() []AdapterUse {
	if s == nil {
		return nil
	}
	return append([]AdapterUse(nil), s.uses...)
}

// Prefix returns the set's prefix adapter, or nil.
func (s *AdapterSet) Prefix() *Prefix {
	if s == nil {
		return nil
	}
	return s.prefix
}

// check reports whether the set was built for a model of shape cfg; a nil
// set fits every model.
func (s *AdapterSet) check(cfg Config) error {
	if s == nil {
		return nil
	}
	c := s.cfg
	if c.Arch != cfg.Arch || c.Hidden != cfg.Hidden || c.Layers != cfg.Layers || c.Heads != cfg.Heads ||
		c.KVHeads != cfg.KVHeads || c.HeadDim != cfg.HeadDim || c.FFN != cfg.FFN {
		return fmt.Errorf("adapters %s were built for another model shape (%s, hidden %d, %d layers), this model is %s, hidden %d, %d layers",
			s.Name(), c.Arch, c.Hidden, c.Layers, cfg.Arch, cfg.Hidden, cfg.Layers)
	}
	return nil
}

// loraScratch pools the intermediate vectors of unmerged LoRA products.
var loraScratch = sync.Pool{New: func() any { return new([]float32) }}

// applyLoRA adds Σ scale·B·(A·x) over the set's updates of target in
// layer to dst (n rows of the weight's output width) for inputs x (n rows
// of its input width). A nil set does nothing.
func (s *AdapterSet) applyLoRA(layer int, t loraTarget, dst, x []float32, n int) {
	if s == nil || layer >= len(s.ops) {
		return
	}
	ops := s.ops[layer][t]
	if len(ops) == 0 {
		return
	}
	buf := loraScratch.Get().(*[]float32)
	defer loraScratch.Put(buf)
	for _, op := range ops {
		r, in, out := op.a.Rows, op.a.Cols, op.b.Rows
		need := n*r + n*out
		if cap(*buf) < need {
			*buf = make([]float32, need)
		}
		tmp, delta := (*buf)[:n*r], (*buf)[n*r:need]
		tensor.MatMul(tmp, op.a, x[:n*in], n)
		tensor.MatMul(delta, op.b, tmp, n)
		tensor.Axpy(op.scale, delta, dst[:n*out])
	}
}

// UseAdapters makes the cache's sequence run with the adapter set s (nil
// for the bare base model). Switching to a different set drops the cached
// tokens, since they were computed with other weights, and installs or
// removes the prefix; installing the set already in use keeps them. The
// base model is not touched, so switching costs no reload.
func (c *KVCache) UseAdapters(s *AdapterSet) error {
	if c.adapters == s {
		return nil
	}
	if s != nil && (s.cfg.Layers != c.layers || s.cfg.KVDim() != c.kvDim) {
		return fmt.Errorf("use adapters %s: built for %d layers × %d key/value width, cache has %d × %d",
			s.Name(), s.cfg.Layers, s.cfg.KVDim(), c.layers, c.kvDim)
	}
	c.Reset()
	if p := s.Prefix(); p != nil {
		for l := range c.layers {
			if err := c.SetPrefix(l, p.Keys[l], p.Values[l]); err != nil {
				return fmt.Errorf("use adapters %s: %w", s.Name(), err)
			}
		}
		c.PositionsAfterPrefix = p.PositionsAfterPrefix
	} else {
		if c.PrefixLen() > 0 {
			if err := c.SetPrefix(0, nil, nil); err != nil {
				return fmt.Errorf("use adapters %s: %w", s.Name(), err)
			}
		}
		c.PositionsAfterPrefix = false
	}
	c.adapters = s
	return nil
}

// Adapters returns the adapter set the cache's sequence runs with, or nil.
func (c *KVCache) Adapters() *AdapterSet { return c.adapters }
