package llm

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// AdapterRegistry serves the adapters stored in one directory (for example
// $ZHIWEN_HOME/adapters) for one base model. Each entry of the directory is
// an adapter named after it: a PEFT directory, a GGUF LoRA file, or a
// ChatGLM prefix checkpoint (file or directory). Adapters are loaded on
// first use and kept; a changed file is reloaded. A malformed adapter only
// fails the requests that name it. Safe for concurrent use.
type AdapterRegistry struct {
	dir  string
	base Config

	mu     sync.Mutex
	loaded map[string]registered
	sets   map[string]*AdapterSet
}

type registered struct {
	adapter *Adapter
	path    string
	mod     time.Time
}

// AdapterInfo describes one registered adapter.
type AdapterInfo struct {
	Name string
	Path string
}

// NewAdapterRegistry serves the adapters in dir for a base model of shape
// base. The directory need not exist yet.
func NewAdapterRegistry(dir string, base Config) *AdapterRegistry {
	return &AdapterRegistry{dir: dir, base: base, loaded: map[string]registered{}, sets: map[string]*AdapterSet{}}
}

// Dir is the directory the registry reads.
func (r *AdapterRegistry) Dir() string { return r.dir }

// List returns the adapters present in the directory, sorted by name,
// without loading them.
func (r *AdapterRegistry) List() ([]AdapterInfo, error) {
	entries, err := os.ReadDir(r.dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list adapters: %w", err)
	}
	var out []AdapterInfo
	for _, e := range entries {
		name := adapterEntryName(e.Name(), e.IsDir())
		if name == "" || validAdapterName(name) != nil {
			continue
		}
		out = append(out, AdapterInfo{Name: name, Path: filepath.Join(r.dir, e.Name())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// adapterEntryName is the adapter name of a directory entry, or "" when
// the entry is not an adapter.
func adapterEntryName(entry string, dir bool) string {
	if strings.HasPrefix(entry, ".") {
		return ""
	}
	if dir {
		return entry
	}
	for _, ext := range []string{".gguf", ".safetensors", ".bin"} {
		if strings.HasSuffix(entry, ext) {
			return strings.TrimSuffix(entry, ext)
		}
	}
	return ""
}

func validAdapterName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\+@`) {
		return fmt.Errorf("invalid adapter name %q (no '/', '\\', '+' or '@')", name)
	}
	return nil
}

// path finds the directory entry of an adapter.
func (r *AdapterRegistry) path(name string) (string, error) {
	list, err := r.List()
	if err != nil {
		return "", err
	}
	for _, info := range list {
		if info.Name == name {
			return info.Path, nil
		}
	}
	return "", fmt.Errorf("adapter %q not found in %s", name, r.dir)
}

// Get returns the named adapter, loading it (or reloading it if its file
// changed) as needed.
func (r *AdapterRegistry) Get(name string) (*Adapter, error) {
	if err := validAdapterName(name); err != nil {
		return nil, err
	}
	p, err := r.path(name)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("adapter %s: %w", name, err)
	}
	mod := latestModTime(p, st)
	r.mu.Lock()
	reg, ok := r.loaded[name]
	r.mu.Unlock()
	if ok && reg.path == p && reg.mod.Equal(mod) {
		return reg.adapter, nil
	}
	start := time.Now()
	a, err := LoadAdapter(p, r.base)
	if err != nil {
		return nil, err
	}
	a.Name = name
	slog.Info("adapter loaded", "name", name, "adapter", a.Describe(), "took", time.Since(start))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.loaded[name] = registered{adapter: a, path: p, mod: mod}
	for spec := range r.sets { // sets built from the old version
		delete(r.sets, spec)
	}
	return a, nil
}

// latestModTime is the newest modification time of a file, or of a
// directory and the files directly in it.
func latestModTime(p string, st os.FileInfo) time.Time {
	t := st.ModTime()
	if !st.IsDir() {
		return t
	}
	entries, _ := os.ReadDir(p)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.ModTime().After(t) {
			t = info.ModTime()
		}
	}
	return t
}

// Set returns the adapter set described by spec: adapter names joined by
// "+", each optionally with a scale after "@" ("law+style@0.5"). An empty
// spec is the bare base model (nil set).
func (r *AdapterRegistry) Set(spec string) (*AdapterSet, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, nil
	}
	var uses []AdapterUse
	for _, part := range strings.Split(spec, "+") {
		name, scaleText, hasScale := strings.Cut(strings.TrimSpace(part), "@")
		scale := 1.0
		if hasScale {
			v, err := strconv.ParseFloat(scaleText, 32)
			if err != nil {
				return nil, fmt.Errorf("adapter spec %q: bad scale %q", spec, scaleText)
			}
			scale = v
		}
		a, err := r.Get(name)
		if err != nil {
			return nil, err
		}
		uses = append(uses, AdapterUse{Adapter: a, Scale: float32(scale)})
	}
	r.mu.Lock()
	if s, ok := r.sets[spec]; ok && sameAdapters(s, uses) {
		r.mu.Unlock()
		return s, nil
	}
	r.mu.Unlock()
	s, err := NewAdapterSet(r.base, uses...)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.sets[spec] = s
	r.mu.Unlock()
	return s, nil
}

func sameAdapters(s *AdapterSet, uses []AdapterUse) bool {
	if len(s.uses) != len(uses) {
		return false
	}
	for i, u := range uses {
		if s.uses[i] != u {
			return false
		}
	}
	return true
}

// SplitModelName splits an API model name "base+adapter[+adapter...]" into
// the base model name and the adapter spec ("" when there is none).
func SplitModelName(model string) (base, adapters string) {
	base, adapters, _ = strings.Cut(model, "+")
	return base, adapters
}
