package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"zhiwen/generation/gguf"
	"zhiwen/generation/tensor"
)

// rawTensor is one tensor of a safetensors or PyTorch file.
type rawTensor struct {
	shape []int // PyTorch order
	data  func() ([]float32, error)
}

// tensorFile is the tensors of an adapter weight file, by state-dict name.
type tensorFile struct {
	name    string
	tensors map[string]rawTensor
}

func (tf *tensorFile) floats(key string) ([]float32, []int, error) {
	t, ok := tf.tensors[key]
	if !ok {
		return nil, nil, fmt.Errorf("%s: missing tensor %s", tf.name, key)
	}
	v, err := t.data()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: tensor %s: %w", tf.name, key, err)
	}
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	if len(v) != n {
		return nil, nil, fmt.Errorf("%s: tensor %s: %d values for shape %v", tf.name, key, len(v), t.shape)
	}
	return v, t.shape, nil
}

// openTensorFile reads a safetensors or PyTorch zip file. The values are
// copied out, so nothing stays mapped.
func openTensorFile(path, kind string) (*tensorFile, error) {
	tf := &tensorFile{name: filepath.Base(path), tensors: map[string]rawTensor{}}
	switch kind {
	case "safetensors":
		st, err := gguf.OpenSafetensors(path)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		for i := range st.Tensors {
			t := &st.Tensors[i]
			v, err := t.Float32s()
			if err != nil {
				return nil, fmt.Errorf("%s: tensor %s: %w", tf.name, t.Name, err)
			}
			tf.tensors[t.Name] = rawTensor{shape: t.Shape, data: func() ([]float32, error) { return v, nil }}
		}
	case "torch":
		ts, err := gguf.ReadTorch(path)
		if err != nil {
			return nil, err
		}
		for name, t := range ts {
			tf.tensors[name] = rawTensor{shape: t.Shape, data: t.Float32s}
		}
	default:
		return nil, fmt.Errorf("%s: not a tensor file", path)
	}
	return tf, nil
}

// peftConfig is the part of adapter_config.json that inference needs;
// unknown keys are ignored.
type peftConfig struct {
	PeftType     string         `json:"peft_type"`
	R            int            `json:"r"`
	LoraAlpha    float64        `json:"lora_alpha"`
	UseRSLoRA    bool           `json:"use_rslora"`
	UseDoRA      bool           `json:"use_dora"`
	LoraBias     bool           `json:"lora_bias"`
	RankPattern  orderedNumbers `json:"rank_pattern"`
	AlphaPattern orderedNumbers `json:"alpha_pattern"`
	// Prefix tuning.
	NumVirtualTokens int `json:"num_virtual_tokens"`
	NumLayers        int `json:"num_layers"`
	TokenDim         int `json:"token_dim"`
}

// chatglmPrefixKey is the ChatGLM p-tuning v2 prefix embedding tensor.
const chatglmPrefixKey = "transformer.prefix_encoder.embedding.weight"

// adapterFromTensors builds an adapter from a safetensors/PyTorch file,
// reading adapter_config.json from dir when present.
func adapterFromTensors(tf *tensorFile, dir string, base Config) (*Adapter, error) {
	var cfg *peftConfig
	raw, err := os.ReadFile(filepath.Join(dir, "adapter_config.json"))
	switch {
	case err == nil:
		cfg = new(peftConfig)
		if err := json.Unmarshal(raw, cfg); err != nil {
			return nil, fmt.Errorf("adapter_config.json: %w", err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	}
	if key, ok := findSuffix(tf, chatglmPrefixKey); ok {
		return chatglmPrefix(tf, key, base)
	}
	if cfg == nil {
		return nil, fmt.Errorf("%s: no adapter_config.json next to it and no ChatGLM prefix tensor %s", tf.name, chatglmPrefixKey)
	}
	switch strings.ToUpper(cfg.PeftType) {
	case "LORA":
		return peftLoRA(tf, cfg, base)
	case "PREFIX_TUNING":
		return peftPrefix(tf, cfg, base)
	case "":
		return nil, fmt.Errorf("adapter_config.json: no peft_type")
	}
	return nil, fmt.Errorf("adapter_config.json: unsupported peft_type %q (supported: LORA, PREFIX_TUNING)", cfg.PeftType)
}

func findSuffix(tf *tensorFile, suffix string) (string, bool) {
	for name := range tf.tensors {
		if name == suffix || strings.HasSuffix(name, "."+suffix) {
			return name, true
		}
	}
	return "", false
}

// peftLayerRE finds the layer number and module path inside a PEFT key.
var peftLayerRE = regexp.MustCompile(`(?:^|\.)layers\.(\d+)\.(.+)$`)

// peftTarget maps a PEFT module path (without the lora_A suffix) to a
// layer and target.
func peftTarget(module string) (int, loraTarget, error) {
	m := peftLayerRE.FindStringSubmatch(module)
	if m == nil {
		return 0, 0, fmt.Errorf("not a transformer-layer module (LoRA on embeddings or the LM head is not supported)")
	}
	layer, err := strconv.Atoi(m[1])
	if err != nil || layer > 1<<20 {
		return 0, 0, fmt.Errorf("bad layer number %q", m[1])
	}
	path := m[2]
	last := path[strings.LastIndex(path, ".")+1:]
	switch last {
	case "q_proj":
		return layer, loraQ, nil
	case "k_proj":
		return layer, loraK, nil
	case "v_proj":
		return layer, loraV, nil
	case "o_proj":
		return layer, loraO, nil
	case "gate_proj":
		return layer, loraGate, nil
	case "up_proj", "dense_h_to_4h":
		return layer, loraUp, nil
	case "down_proj", "dense_4h_to_h":
		return layer, loraDown, nil
	case "query_key_value":
		return layer, loraQKV, nil
	case "dense":
		if strings.Contains(path, "attention") {
			return layer, loraO, nil
		}
	}
	return 0, 0, fmt.Errorf("unsupported LoRA target module %q", path)
}

// orderedNumbers is a JSON object of numbers kept in file order, since
// PEFT takes the first matching pattern in that order.
type orderedNumbers []struct {
	key   string
	value float64
}

// UnmarshalJSON reads the object's entries in order.
func (o *orderedNumbers) UnmarshalJSON(data []byte) error {
	*o = nil
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("want an object of numbers")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var v float64
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("pattern %q: %w", key, err)
		}
		*o = append(*o, struct {
			key   string
			value float64
		}{key, v})
	}
	_, err := dec.Token()
	return err
}

// match returns the value of the first pattern matching module the way
// PEFT does: the pattern (a regular expression) must match the whole module
// name or a dotted suffix of it.
func (o orderedNumbers) match(module string) (float64, bool) {
	for _, e := range o {
		re, err := regexp.Compile(`(^|.*\.)(?:` + e.key + `)$`)
		if err != nil {
			if module == e.key || strings.HasSuffix(module, "."+e.key) {
				return e.value, true
			}
			continue
		}
		if re.MatchString(module) {
			return e.value, true
		}
	}
	return 0, false
}

// peftLoRA converts the lora_A/lora_B pairs of a PEFT LoRA file.
func peftLoRA(tf *tensorFile, cfg *peftConfig, base Config) (*Adapter, error) {
	if cfg.UseDoRA {
		return nil, fmt.Errorf("adapter_config.json: DoRA (use_dora) adapters are not supported")
	}
	if cfg.LoraBias {
		return nil, fmt.Errorf("adapter_config.json: LoRA with bias (lora_bias) is not supported")
	}
	a := &Adapter{Kind: AdapterLoRA, Format: "peft", LoRA: map[string]*LoRAWeight{}}
	names := make([]string, 0, len(tf.tensors))
	for n := range tf.tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, key := range names {
		module, ok := cutLoRAKey(key, "lora_A")
		if !ok {
			if _, isB := cutLoRAKey(key, "lora_B"); isB {
				continue
			}
			return nil, fmt.Errorf("%s: tensor %s: not a LoRA tensor (lora_A/lora_B); modules_to_save, DoRA and embedding LoRA are not supported", tf.name, key)
		}
		layer, target, err := peftTarget(strings.TrimPrefix(module, "base_model.model."))
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", tf.name, key, err)
		}
		bKey := strings.Replace(key, ".lora_A.", ".lora_B.", 1)
		aVals, aShape, err := tf.floats(key)
		if err != nil {
			return nil, err
		}
		bVals, bShape, err := tf.floats(bKey)
		if err != nil {
			return nil, err
		}
		if len(aShape) != 2 || len(bShape) != 2 || aShape[0] != bShape[1] {
			return nil, fmt.Errorf("%s: tensors %s %v and %s %v: want A [r, in] and B [out, r]", tf.name, key, aShape, bKey, bShape)
		}
		rank := aShape[0]
		wantRank := cfg.R
		if r, ok := cfg.RankPattern.match(module); ok {
			wantRank = int(r)
		}
		if wantRank != rank {
			return nil, fmt.Errorf("%s: tensor %s: rank %d, adapter_config.json says %d", tf.name, key, rank, wantRank)
		}
		alpha := cfg.LoraAlpha
		if v, ok := cfg.AlphaPattern.match(module); ok {
			alpha = v
		}
		scale := alpha / float64(rank)
		if cfg.UseRSLoRA {
			scale = alpha / math.Sqrt(float64(rank))
		}
		if base.Arch == "llama" && (target == loraQ || target == loraK) {
			heads := base.Heads
			if target == loraK {
				heads = base.KVHeads
			}
			if bShape[0] != heads*base.HeadDim {
				return nil, fmt.Errorf("%s: tensor %s: %d output rows, base weight has %d", tf.name, bKey, bShape[0], heads*base.HeadDim)
			}
			// llama.cpp stores Llama's Q and K rows permuted for its
			// interleaved RoPE; the update's output rows must follow.
			bVals = permuteRowsForRope(bVals, bShape[0], rank, heads)
		}
		w, err := newLoRAWeight(aVals, aShape, bVals, bShape, float32(scale))
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %s: %w", tf.name, key, err)
		}
		name := weightName(layer, target)
		if _, dup := a.LoRA[name]; dup {
			return nil, fmt.Errorf("%s: tensor %s: a second update for %s", tf.name, key, name)
		}
		a.LoRA[name] = w
	}
	return a, nil
}

// cutLoRAKey returns the module of "<module>.<part>.weight" or
// "<module>.<part>.<adapter>.weight".
func cutLoRAKey(key, part string) (string, bool) {
	i := strings.LastIndex(key, "."+part+".")
	if i < 0 || !strings.HasSuffix(key, ".weight") {
		return "", false
	}
	rest := key[i+len(part)+2:]
	if rest != "weight" && strings.Count(rest, ".") != 1 {
		return "", false
	}
	return key[:i], true
}

// permuteRowsForRope reorders the rows of a [heads·headDim, cols] matrix
// from Hugging Face's half-split RoPE layout to llama.cpp's interleaved one:
// within each head, row t·(d/2)+i moves to 2i+t.
func permuteRowsForRope(m []float32, rows, cols, heads int) []float32 {
	out := make([]float32, len(m))
	d := rows / heads
	half := d / 2
	for h := range heads {
		for t := range 2 {
			for i := range half {
				src := h*d + t*half + i
				dst := h*d + 2*i + t
				copy(out[dst*cols:(dst+1)*cols], m[src*cols:(src+1)*cols])
			}
		}
	}
	return out
}

func newLoRAWeight(a []float32, aShape []int, b []float32, bShape []int, scale float32) (*LoRAWeight, error) {
	rank := aShape[0]
	if rank <= 0 || rank > MaxLoRARank {
		return nil, fmt.Errorf("rank %d out of range [1,%d]", rank, MaxLoRARank)
	}
	for _, v := range a {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("lora_A holds NaN or Inf")
		}
	}
	for _, v := range b {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("lora_B holds NaN or Inf")
		}
	}
	am, err := tensor.NewF32Matrix(rank, aShape[1], a)
	if err != nil {
		return nil, fmt.Errorf("lora_A: %w", err)
	}
	bm, err := tensor.NewF32Matrix(bShape[0], rank, b)
	if err != nil {
		return nil, fmt.Errorf("lora_B: %w", err)
	}
	return &LoRAWeight{A: am, B: bm, Scale: scale, Rank: rank}, nil
}

// peftPrefix converts a PEFT PREFIX_TUNING adapter: prompt_embeddings
// [P, L·2·kvDim], each row laid out [layer·2 + {0 key, 1 value}][kvDim].
func peftPrefix(tf *tensorFile, cfg *peftConfig, base Config) (*Adapter, error) {
	key, ok := findSuffix(tf, "prompt_embeddings")
	if !ok {
		return nil, fmt.Errorf("%s: PREFIX_TUNING adapter without a prompt_embeddings tensor", tf.name)
	}
	vals, shape, err := tf.floats(key)
	if err != nil {
		return nil, err
	}
	if cfg.NumVirtualTokens > 0 && len(shape) == 2 && shape[0] != cfg.NumVirtualTokens {
		return nil, fmt.Errorf("%s: tensor %s: %d rows, adapter_config.json says num_virtual_tokens %d", tf.name, key, shape[0], cfg.NumVirtualTokens)
	}
	p, err := prefixFromRows(tf.name, key, vals, shape, base)
	if err != nil {
		return nil, err
	}
	// Hugging Face Llama/Qwen number real tokens after the past key
	// values; ChatGLM's modeling code starts them at 0 either way.
	p.PositionsAfterPrefix = base.Arch != "chatglm"
	if base.Arch == "llama" {
		permutePrefixKeys(p, base)
	}
	return &Adapter{Kind: AdapterPrefix, Format: "peft", Prefix: p}, nil
}

// chatglmPrefix converts a ChatGLM p-tuning v2 checkpoint, applying the
// prefix_projection MLP (trans.0, tanh, trans.2) when it is present.
func chatglmPrefix(tf *tensorFile, key string, base Config) (*Adapter, error) {
	vals, shape, err := tf.floats(key)
	if err != nil {
		return nil, err
	}
	stem := strings.TrimSuffix(key, "embedding.weight")
	if _, ok := tf.tensors[stem+"trans.0.weight"]; ok {
		if vals, err = prefixProjection(tf, stem, vals, shape); err != nil {
			return nil, err
		}
	}
	p, err := prefixFromRows(tf.name, key, vals, shape, base)
	if err != nil {
		return nil, err
	}
	return &Adapter{Kind: AdapterPrefix, Format: "chatglm", Prefix: p}, nil
}

// prefixProjection computes trans.2(tanh(trans.0(x))) for every row.
func prefixProjection(tf *tensorFile, stem string, x []float32, shape []int) ([]float32, error) {
	if len(shape) != 2 {
		return nil, fmt.Errorf("%s: tensor %sembedding.weight: shape %v, want 2-D", tf.name, stem, shape)
	}
	linear := func(name string, in []float32, inDim int) ([]float32, int, error) {
		w, ws, err := tf.floats(stem + name + ".weight")
		if err != nil {
			return nil, 0, err
		}
		b, bs, err := tf.floats(stem + name + ".bias")
		if err != nil {
			return nil, 0, err
		}
		if len(ws) != 2 || ws[1] != inDim || len(bs) != 1 || bs[0] != ws[0] {
			return nil, 0, fmt.Errorf("%s: tensor %s%s.weight: shape %v, want [*, %d] with a matching bias", tf.name, stem, name, ws, inDim)
		}
		rows := len(in) / inDim
		out := make([]float32, rows*ws[0])
		for r := range rows {
			for o := range ws[0] {
				out[r*ws[0]+o] = tensor.Dot(w[o*inDim:(o+1)*inDim], in[r*inDim:(r+1)*inDim]) + b[o]
			}
		}
		return out, ws[0], nil
	}
	h, hDim, err := linear("trans.0", x, shape[1])
	if err != nil {
		return nil, err
	}
	for i, v := range h {
		h[i] = float32(math.Tanh(float64(v)))
	}
	out, outDim, err := linear("trans.2", h, hDim)
	if err != nil {
		return nil, err
	}
	if outDim != shape[1] {
		return nil, fmt.Errorf("%s: tensor %strans.2.weight: %d outputs, want %d", tf.name, stem, outDim, shape[1])
	}
	return out, nil
}

// prefixFromRows splits [P, L·2·kvDim] rows into per-layer keys and values.
func prefixFromRows(file, key string, vals []float32, shape []int, base Config) (*Prefix, error) {
	kvDim := base.KVDim()
	want := base.Layers * 2 * kvDim
	if len(shape) != 2 || shape[1] != want || shape[0] <= 0 {
		return nil, fmt.Errorf("%s: tensor %s: shape %v, want [virtual tokens, %d] (%d layers × 2 × %d key/value width)", file, key, shape, want, base.Layers, kvDim)
	}
	for _, v := range vals {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%s: tensor %s holds NaN or Inf", file, key)
		}
	}
	n := shape[0]
	p := &Prefix{Len: n, Keys: make([][][]float32, base.Layers), Values: make([][][]float32, base.Layers)}
	for l := range base.Layers {
		p.Keys[l] = make([][]float32, n)
		p.Values[l] = make([][]float32, n)
		for s := range n {
			row := vals[s*want : (s+1)*want]
			p.Keys[l][s] = append([]float32(nil), row[(2*l)*kvDim:(2*l+1)*kvDim]...)
			p.Values[l][s] = append([]float32(nil), row[(2*l+1)*kvDim:(2*l+2)*kvDim]...)
		}
	}
	return p, nil
}

// permutePrefixKeys moves Hugging Face-layout Llama keys into llama.cpp's
// interleaved RoPE layout, matching the permuted K weights.
func permutePrefixKeys(p *Prefix, base Config) {
	for l := range p.Keys {
		for s, k := range p.Keys[l] {
			p.Keys[l][s] = permuteRowsForRope(k, len(k), 1, base.KVHeads)
		}
	}
}

// loadGGUFLoRA reads a llama.cpp LoRA adapter: general.type = adapter,
// adapter.type = lora, adapter.lora.alpha, tensors <weight>.lora_a
// (GGUF shape [in, r]) and <weight>.lora_b ([r, out]).
func loadGGUFLoRA(path string, base Config) (*Adapter, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if t, _ := f.String("general.type"); t != "adapter" {
		return nil, fmt.Errorf("general.type is %q, want \"adapter\"", t)
	}
	if t, _ := f.String("adapter.type"); t != "lora" {
		return nil, fmt.Errorf("adapter.type is %q, want \"lora\"", t)
	}
	if arch := f.Architecture(); arch != "" && base.Arch != "" && arch != base.Arch {
		return nil, fmt.Errorf("adapter for architecture %s, base model is %s", arch, base.Arch)
	}
	alpha, _ := f.Float("adapter.lora.alpha")
	a := &Adapter{Kind: AdapterLoRA, Format: "gguf", LoRA: map[string]*LoRAWeight{}}
	if n, ok := f.String("general.name"); ok && n != "" {
		a.Name = n
	}
	read := func(ti *gguf.TensorInfo) ([]float32, error) {
		data, err := f.TensorData(ti)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", ti.Name, err)
		}
		out := make([]float32, ti.Elements())
		if err := tensor.Dequantize(tensor.DType(ti.Type), data, out); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", ti.Name, err)
		}
		return out, nil
	}
	for i := range f.Tensors {
		ta := &f.Tensors[i]
		weight, ok := strings.CutSuffix(ta.Name, ".lora_a")
		if !ok {
			if strings.HasSuffix(ta.Name, ".lora_b") {
				continue
			}
			return nil, fmt.Errorf("tensor %s: not a LoRA tensor (.lora_a/.lora_b)", ta.Name)
		}
		layer, target, ok := parseWeightName(weight)
		if !ok {
			return nil, fmt.Errorf("tensor %s: LoRA on %s is not supported (only attention and feed-forward weights of decoder layers)", ta.Name, weight)
		}
		tb, ok := f.Tensor(weight + ".lora_b")
		if !ok {
			return nil, fmt.Errorf("tensor %s: no matching %s.lora_b", ta.Name, weight)
		}
		if len(ta.Shape) != 2 || len(tb.Shape) != 2 || ta.Shape[1] != tb.Shape[0] {
			return nil, fmt.Errorf("tensors %s %v and %s %v: want lora_a [in, r] and lora_b [r, out] (GGUF order)", ta.Name, ta.Shape, tb.Name, tb.Shape)
		}
		rank := int(ta.Shape[1])
		if rank <= 0 || rank > MaxLoRARank || ta.Shape[0] > 1<<24 || tb.Shape[1] > 1<<24 {
			return nil, fmt.Errorf("tensor %s: shape %v out of range", ta.Name, ta.Shape)
		}
		av, err := read(ta)
		if err != nil {
			return nil, err
		}
		bv, err := read(tb)
		if err != nil {
			return nil, err
		}
		// llama.cpp: scale = alpha/rank, or 1 when alpha is unset.
		scale := float32(1)
		if alpha != 0 {
			scale = float32(alpha / float64(rank))
		}
		w, err := newLoRAWeight(av, []int{rank, int(ta.Shape[0])}, bv, []int{int(tb.Shape[1]), rank}, scale)
		if err != nil {
			return nil, fmt.Errorf("tensor %s: %w", ta.Name, err)
		}
		a.LoRA[weightName(layer, target)] = w
	}
	return a, nil
}
