package generation

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"

	"zhiwen/generation/llm"
)

// ErrBadModel marks a request whose model or adapter selection cannot be
// served: an unknown base model or adapter, a bad scale, or an adapter file
// that is malformed or does not fit the base model. It is a bad request
// (errors.Is(err, ErrBadRequest) holds too); the backend keeps serving.
var ErrBadModel = fmt.Errorf("%w: unusable model or adapter", ErrBadRequest)

// AdapterInfo describes an adapter a backend can apply over its base model.
type AdapterInfo struct {
	Name string `json:"name"`
	// Kind is "lora" or "prefix"; Format is "peft", "gguf" or "chatglm".
	Kind   string `json:"kind,omitempty"`
	Format string `json:"format,omitempty"`
	// Rank is the largest LoRA rank and Targets the weights it changes
	// ("attn_q", "ffn_up", ...); PrefixTokens is a prefix's length.
	Rank         int      `json:"rank,omitempty"`
	Targets      []string `json:"targets,omitempty"`
	PrefixTokens int      `json:"prefix_tokens,omitempty"`
	Path         string   `json:"path"`
	// Error says why the adapter cannot be used with this base model.
	Error string `json:"error,omitempty"`
}

// AdapterBackend is a Backend that applies adapters per request over one
// base model: ChatRequest.Model "base+adapter", "+adapter" or
// "+a@0.5+b" selects them.
type AdapterBackend interface {
	Backend
	// BaseModel is the name under which the base model is listed.
	BaseModel() string
	// Adapters lists the adapters that can be selected.
	Adapters() ([]AdapterInfo, error)
	// CheckModel resolves a model name as Chat would, loading its adapters,
	// so that a bad selection is reported before a reply starts streaming.
	CheckModel(model string) error
}

var _ AdapterBackend = (*LocalBackend)(nil)

// adapterRegistry holds a LocalBackend's registry; nil means no adapters.
type adapterRegistry = atomic.Pointer[llm.AdapterRegistry]

// ServeAdapters makes the backend serve the adapters stored in dir (one
// entry per adapter: a PEFT directory, a GGUF LoRA file, or a ChatGLM
// prefix checkpoint). They are loaded on first use; the base model is never
// reloaded.
func (b *LocalBackend) ServeAdapters(dir string) {
	b.registry.Store(llm.NewAdapterRegistry(dir, b.model.Model.Config()))
}

// BaseModel implements AdapterBackend: the same name as Name.
func (b *LocalBackend) BaseModel() string { return b.Name() }

// Adapters implements AdapterBackend. Each adapter is loaded (once) to
// describe it; one that cannot be loaded is listed with its Error.
func (b *LocalBackend) Adapters() ([]AdapterInfo, error) {
	reg := b.registry.Load()
	if reg == nil {
		return nil, nil
	}
	list, err := reg.List()
	if err != nil {
		return nil, fmt.Errorf("local backend %s: %w", b.name, err)
	}
	out := make([]AdapterInfo, 0, len(list))
	for _, e := range list {
		info := AdapterInfo{Name: e.Name, Path: e.Path}
		a, err := reg.Get(e.Name)
		if err != nil {
			info.Error = err.Error()
		} else {
			describeAdapter(&info, a)
		}
		out = append(out, info)
	}
	return out, nil
}

// DescribeAdapter fills an AdapterInfo from a loaded adapter.
func DescribeAdapter(path string, a *llm.Adapter) AdapterInfo {
	info := AdapterInfo{Name: a.Name, Path: path}
	describeAdapter(&info, a)
	return info
}

func describeAdapter(info *AdapterInfo, a *llm.Adapter) {
	info.Kind, info.Format = a.Kind.String(), a.Format
	switch a.Kind {
	case llm.AdapterLoRA:
		targets := map[string]bool{}
		for name, w := range a.LoRA {
			info.Rank = max(info.Rank, w.Rank)
			targets[loraTarget(name)] = true
		}
		for t := range targets {
			info.Targets = append(info.Targets, t)
		}
		sort.Strings(info.Targets)
	case llm.AdapterPrefix:
		if a.Prefix != nil {
			info.PrefixTokens = a.Prefix.Len
		}
	}
}

// loraTarget turns "blk.3.attn_q.weight" into "attn_q".
func loraTarget(weight string) string {
	name := strings.TrimSuffix(weight, ".weight")
	if rest, ok := strings.CutPrefix(name, "blk."); ok {
		if _, after, ok := strings.Cut(rest, "."); ok {
			return after
		}
	}
	return name
}

// CheckModel implements AdapterBackend.
func (b *LocalBackend) CheckModel(model string) error {
	_, err := b.adapterSet(model)
	return err
}

// isBaseName reports whether name names this backend's base model: empty,
// Name(), the file name, or the file name without its extension.
func (b *LocalBackend) isBaseName(name string) bool {
	switch name {
	case "", b.Name(), b.name, strings.TrimSuffix(b.name, filepath.Ext(b.name)):
		return true
	}
	return false
}

// adapterSet resolves a request's model name to the adapter set to run
// with (nil for the bare base model). A name without adapters is served by
// the base model whatever it says, as OpenAI clients send their own model
// names; with adapters, the base part must name this model (or be empty).
func (b *LocalBackend) adapterSet(model string) (*llm.AdapterSet, error) {
	base, spec := llm.SplitModelName(strings.TrimSpace(model))
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	if !b.isBaseName(base) {
		return nil, fmt.Errorf("%w %q: this server's base model is %s", ErrBadModel, model, b.Name())
	}
	reg := b.registry.Load()
	if reg == nil {
		return nil, fmt.Errorf("%w %q: %s serves no adapters", ErrBadModel, model, b.Name())
	}
	set, err := reg.Set(spec)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrBadModel, model, err)
	}
	return set, nil
}
