package llm

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"zhiwen/generation/tensor"
)

// AdapterKind says how an adapter changes the base model.
type AdapterKind int

// Adapter kinds.
const (
	// AdapterLoRA adds low-rank updates s·B·A to weight matrices.
	AdapterLoRA AdapterKind = iota + 1
	// AdapterPrefix (p-tuning v2, deep prefix tuning) puts learned key and
	// value vectors ahead of the prompt in every layer's KV cache.
	AdapterPrefix
)

// String names the kind.
func (k AdapterKind) String() string {
	switch k {
	case AdapterLoRA:
		return "lora"
	case AdapterPrefix:
		return "prefix"
	default:
		return "unknown"
	}
}

// Adapter is a loaded LoRA or prefix adapter, validated against the shape of
// the base model it was loaded for. It never modifies the base weights; it
// is applied per sequence through an AdapterSet, or merged with MergeLoRA.
// An Adapter is immutable after loading and safe to share.
type Adapter struct {
	// Name identifies the adapter (by default the file or directory name).
	Name string
	Kind AdapterKind
	// Format is where it came from: "peft", "gguf" or "chatglm".
	Format string
	// LoRA holds the low-rank updates keyed by the GGUF name of the weight
	// they change ("blk.0.attn_q.weight"). Set for AdapterLoRA.
	LoRA map[string]*LoRAWeight
	// Prefix holds the prefix key/values. Set for AdapterPrefix.
	Prefix *Prefix
}

// LoRAWeight is the update of one weight W (rows×cols): W' = W + Scale·B·A.
type LoRAWeight struct {
	// A is rank×cols and B is rows×rank, both float32.
	A, B *tensor.Matrix
	// Scale is lora_alpha/rank (or lora_alpha/√rank for rsLoRA).
	Scale float32
	Rank  int
}

// Prefix is a p-tuning v2 prefix: Len virtual tokens whose keys and values
// every layer's attention sees ahead of the prompt. Keys are used as given
// (they carry no rotary embedding).
type Prefix struct {
	Len int
	// Keys[l][s] and Values[l][s] are layer l's KVHeads·HeadDim vectors for
	// prefix slot s.
	Keys, Values [][][]float32
	// PositionsAfterPrefix gives real tokens RoPE positions starting at Len
	// (Hugging Face PEFT on Llama/Qwen) instead of 0 (ChatGLM).
	PositionsAfterPrefix bool
}

// MaxLoRARank bounds the rank accepted from adapter files.
const MaxLoRARank = 4096

// loraTarget identifies which projection of a decoder layer a LoRA update
// applies to.
type loraTarget int

const (
	loraQ loraTarget = iota
	loraK
	loraV
	loraQKV
	loraO
	loraGate
	loraUp
	loraDown
	numLoRATargets
)

// loraTargetNames are the llama.cpp tensor names of the targets.
var loraTargetNames = [numLoRATargets]string{"attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}

func loraTargetByName(name string) (loraTarget, bool) {
	for i, n := range loraTargetNames {
		if n == name {
			return loraTarget(i), true
		}
	}
	return 0, false
}

// weightName is the GGUF tensor name of a target in layer l.
func weightName(layer int, t loraTarget) string {
	return fmt.Sprintf("blk.%d.%s.weight", layer, loraTargetNames[t])
}

// parseWeightName splits "blk.N.attn_q.weight" into layer and target.
func parseWeightName(name string) (int, loraTarget, bool) {
	var layer int
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, 0, false
	}
	num, rest, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(num, "%d", &layer); err != nil || fmt.Sprint(layer) != num {
		return 0, 0, false
	}
	base, ok := strings.CutSuffix(rest, ".weight")
	if !ok {
		return 0, 0, false
	}
	t, ok := loraTargetByName(base)
	return layer, t, ok
}

// fusedQKV reports whether the architecture stores Q, K and V as one
// attn_qkv matrix and gate and up as one ffn_up matrix (ChatGLM).
func fusedQKV(arch string) bool { return arch == "chatglm" }

// targetShape is the rows×cols of a target's weight in the base model, or
// ok=false when the model has no such weight.
func targetShape(cfg Config, t loraTarget) (rows, cols int, ok bool) {
	qDim, kvDim := cfg.Heads*cfg.HeadDim, cfg.KVDim()
	fused := fusedQKV(cfg.Arch)
	switch t {
	case loraQ:
		return qDim, cfg.Hidden, !fused
	case loraK, loraV:
		return kvDim, cfg.Hidden, !fused
	case loraQKV:
		return qDim + 2*kvDim, cfg.Hidden, fused
	case loraO:
		return cfg.Hidden, qDim, true
	case loraGate:
		return cfg.FFN, cfg.Hidden, !fused
	case loraUp:
		if fused {
			return 2 * cfg.FFN, cfg.Hidden, true
		}
		return cfg.FFN, cfg.Hidden, true
	case loraDown:
		return cfg.Hidden, cfg.FFN, true
	}
	return 0, 0, false
}

// Validate checks that the adapter fits a base model of shape cfg. Errors
// name the offending tensor.
func (a *Adapter) Validate(cfg Config) error {
	if cfg.Layers <= 0 || cfg.Hidden <= 0 {
		return fmt.Errorf("adapter %s: base model shape is empty", a.Name)
	}
	switch a.Kind {
	case AdapterLoRA:
		if len(a.LoRA) == 0 {
			return fmt.Errorf("adapter %s: no LoRA tensors", a.Name)
		}
		for _, name := range a.loraNames() {
			w := a.LoRA[name]
			layer, t, ok := parseWeightName(name)
			if !ok {
				return fmt.Errorf("adapter %s: tensor %s: not a LoRA-capable weight", a.Name, name)
			}
			if layer >= cfg.Layers {
				return fmt.Errorf("adapter %s: tensor %s: layer %d but the base model has %d layers", a.Name, name, layer, cfg.Layers)
			}
			rows, cols, ok := targetShape(cfg, t)
			if !ok {
				return fmt.Errorf("adapter %s: tensor %s: the %s base model has no such weight", a.Name, name, cfg.Arch)
			}
			if w.A == nil || w.B == nil || w.Rank <= 0 || w.A.Rows != w.Rank || w.B.Cols != w.Rank {
				return fmt.Errorf("adapter %s: tensor %s: inconsistent LoRA rank", a.Name, name)
			}
			if w.A.Cols != cols {
				return fmt.Errorf("adapter %s: tensor %s.lora_a: %d input columns, base weight has %d", a.Name, name, w.A.Cols, cols)
			}
			if w.B.Rows != rows {
				return fmt.Errorf("adapter %s: tensor %s.lora_b: %d output rows, base weight has %d", a.Name, name, w.B.Rows, rows)
			}
		}
	case AdapterPrefix:
		p := a.Prefix
		if p == nil || p.Len <= 0 {
			return fmt.Errorf("adapter %s: empty prefix", a.Name)
		}
		if len(p.Keys) != cfg.Layers || len(p.Values) != cfg.Layers {
			return fmt.Errorf("adapter %s: prefix for %d layers, base model has %d", a.Name, len(p.Keys), cfg.Layers)
		}
		for l := range cfg.Layers {
			if len(p.Keys[l]) != p.Len || len(p.Values[l]) != p.Len {
				return fmt.Errorf("adapter %s: prefix layer %d: %d/%d slots, want %d", a.Name, l, len(p.Keys[l]), len(p.Values[l]), p.Len)
			}
			for s := range p.Len {
				if len(p.Keys[l][s]) != cfg.KVDim() || len(p.Values[l][s]) != cfg.KVDim() {
					return fmt.Errorf("adapter %s: prefix layer %d slot %d: width %d, base model's key/value width is %d", a.Name, l, s, len(p.Keys[l][s]), cfg.KVDim())
				}
			}
		}
	default:
		return fmt.Errorf("adapter %s: unknown kind", a.Name)
	}
	return nil
}

// loraNames lists the LoRA weight names in a stable order.
func (a *Adapter) loraNames() []string {
	names := make([]string, 0, len(a.LoRA))
	for n := range a.LoRA {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Describe summarizes the adapter in one line for logs and listings.
func (a *Adapter) Describe() string {
	switch a.Kind {
	case AdapterLoRA:
		maxRank := 0
		targets := map[string]bool{}
		for name, w := range a.LoRA {
			maxRank = max(maxRank, w.Rank)
			if _, t, ok := parseWeightName(name); ok {
				targets[loraTargetNames[t]] = true
			}
		}
		ts := make([]string, 0, len(targets))
		for t := range targets {
			ts = append(ts, t)
		}
		sort.Strings(ts)
		return fmt.Sprintf("%s LoRA (%s), %d weights, rank ≤ %d, targets %s", a.Name, a.Format, len(a.LoRA), maxRank, strings.Join(ts, ","))
	case AdapterPrefix:
		return fmt.Sprintf("%s prefix (%s), %d virtual tokens", a.Name, a.Format, a.Prefix.Len)
	}
	return a.Name
}

// LoadAdapter loads the adapter at path for a base model of shape base,
// recognizing:
//   - a PEFT directory (adapter_config.json with adapter_model.safetensors
//     or adapter_model.bin): LORA or PREFIX_TUNING;
//   - a GGUF LoRA adapter (general.type = adapter, adapter.type = lora);
//   - a ChatGLM p-tuning v2 checkpoint (transformer.prefix_encoder.*) as a
//     safetensors file, a PyTorch .bin zip file, or a directory holding one.
//
// The adapter is checked against base; a tensor that does not fit is
// reported by name. Parsers never panic past this call.
func LoadAdapter(path string, base Config) (a *Adapter, err error) {
	defer func() {
		if r := recover(); r != nil {
			a, err = nil, fmt.Errorf("load adapter %s: %v", path, r)
		}
	}()
	a, err = loadAdapter(path, base)
	if err != nil {
		return nil, fmt.Errorf("load adapter %s: %w", path, err)
	}
	if a.Name == "" {
		a.Name = adapterName(path)
	}
	if err := a.Validate(base); err != nil {
		return nil, fmt.Errorf("load adapter %s: %w", path, err)
	}
	return a, nil
}

func adapterName(path string) string {
	p := filepath.Clean(path)
	name := filepath.Base(p)
	switch strings.ToLower(name) {
	case "adapter_model.safetensors", "adapter_model.bin", "pytorch_model.bin", "model.safetensors":
		name = filepath.Base(filepath.Dir(p))
	}
	return strings.TrimSuffix(name, filepath.Ext(name))
}

func loadAdapter(path string, base Config) (*Adapter, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return loadAdapterDir(path, base)
	}
	kind, err := sniffFile(path)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "gguf":
		return loadGGUFLoRA(path, base)
	case "torch", "safetensors":
		ts, err := openTensorFile(path, kind)
		if err != nil {
			return nil, err
		}
		return adapterFromTensors(ts, filepath.Dir(path), base)
	}
	return nil, fmt.Errorf("unrecognized adapter file (want a PEFT directory, GGUF, safetensors or PyTorch .bin)")
}

// loadAdapterDir loads a PEFT directory or a directory holding a ChatGLM
// prefix checkpoint.
func loadAdapterDir(dir string, base Config) (*Adapter, error) {
	for _, name := range []string{"adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		kind, err := sniffFile(p)
		if err != nil {
			return nil, err
		}
		ts, err := openTensorFile(p, kind)
		if err != nil {
			return nil, err
		}
		return adapterFromTensors(ts, dir, base)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if len(matches) == 1 {
		return loadGGUFLoRA(matches[0], base)
	}
	return nil, fmt.Errorf("no adapter_model.safetensors, adapter_model.bin, pytorch_model.bin or single .gguf file in directory")
}

// sniffFile identifies a file by its first bytes.
func sniffFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var head [9]byte
	n, err := io.ReadFull(f, head[:])
	if err != nil && err != io.ErrUnexpectedEOF {
		return "", fmt.Errorf("read header: %w", err)
	}
	switch {
	case n >= 4 && string(head[:4]) == "GGUF":
		return "gguf", nil
	case n >= 4 && bytes.Equal(head[:4], []byte("PK\x03\x04")):
		return "torch", nil
	case n == 9 && head[8] == '{':
		return "safetensors", nil
	}
	return "", fmt.Errorf("unrecognized file format")
}
