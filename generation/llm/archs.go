package llm

import (
	"fmt"
)

func init() {
	Register("qwen2", func(w *Weights, o LoadOptions) (Network, error) {
		return loadDecoder(w, o, decoderSpec{rope: RopeNeox, defaultEps: 1e-6, defaultBase: 1e6})
	})
	Register("llama", func(w *Weights, o LoadOptions) (Network, error) {
		return loadDecoder(w, o, decoderSpec{rope: RopeNormal, defaultEps: 1e-5, defaultBase: 1e4})
	})
	Register("chatglm", func(w *Weights, o LoadOptions) (Network, error) {
		return loadDecoder(w, o, decoderSpec{rope: RopeNormal, defaultEps: 1e-5, defaultBase: 1e4, halfRope: true})
	})
}

// decoderSpec is what differs between the decoder architectures at load
// time.
type decoderSpec struct {
	rope        RopeStyle
	defaultEps  float64
	defaultBase float64
	halfRope    bool // rotary on half the head dim by default (ChatGLM)
}

// readDecoderConfig reads the decoder hyper-parameters from GGUF metadata.
func readDecoderConfig(w *Weights, o LoadOptions, spec decoderSpec) (Config, error) {
	cfg := Config{Arch: w.Arch, Rope: spec.rope, Causal: true}
	var err error
	get := func(dst *int, key string, def int) {
		if err == nil {
			*dst, err = w.Int(key, def)
		}
	}
	get(&cfg.Hidden, "%s.embedding_length", -1)
	get(&cfg.Layers, "%s.block_count", -1)
	get(&cfg.FFN, "%s.feed_forward_length", -1)
	get(&cfg.Heads, "%s.attention.head_count", -1)
	get(&cfg.KVHeads, "%s.attention.head_count_kv", cfg.Heads)
	get(&cfg.ContextLen, "%s.context_length", 2048)
	if err != nil {
		return cfg, err
	}
	if cfg.Hidden <= 0 || cfg.Layers <= 0 || cfg.Heads <= 0 || cfg.KVHeads <= 0 || cfg.FFN <= 0 {
		return cfg, w.errorf("invalid model shape: hidden %d, layers %d, heads %d, kv heads %d, ffn %d",
			cfg.Hidden, cfg.Layers, cfg.Heads, cfg.KVHeads, cfg.FFN)
	}
	if cfg.Heads%cfg.KVHeads != 0 {
		return cfg, w.errorf("%d attention heads not divisible by %d kv heads", cfg.Heads, cfg.KVHeads)
	}
	get(&cfg.HeadDim, "%s.attention.key_length", cfg.Hidden/cfg.Heads)
	defRope := cfg.HeadDim
	if spec.halfRope {
		defRope = cfg.HeadDim / 2
	}
	get(&cfg.RopeDims, "%s.rope.dimension_count", defRope)
	if err != nil {
		return cfg, err
	}
	if cfg.RopeDims <= 0 || cfg.RopeDims > cfg.HeadDim || cfg.RopeDims%2 != 0 {
		return cfg, w.errorf("rope dimension count %d invalid for head dim %d", cfg.RopeDims, cfg.HeadDim)
	}
	eps, err := w.Float("%s.attention.layer_norm_rms_epsilon", spec.defaultEps)
	if err != nil {
		return cfg, err
	}
	cfg.NormEps = float32(eps)
	if cfg.RopeBase, err = w.Float("%s.rope.freq_base", spec.defaultBase); err != nil {
		return cfg, err
	}
	if o.ContextLen > 0 {
		cfg.ContextLen = o.ContextLen
	}
	ti, ok := w.File.Tensor("token_embd.weight")
	if !ok || len(ti.Shape) != 2 {
		return cfg, w.errorf("missing or malformed tensor token_embd.weight")
	}
	cfg.Vocab = int(ti.Shape[1])
	return cfg, nil
}

// loadDecoder builds a Decoder from llama.cpp-named tensors.
func loadDecoder(w *Weights, o LoadOptions, spec decoderSpec) (*Decoder, error) {
	cfg, err := readDecoderConfig(w, o, spec)
	if err != nil {
		return nil, err
	}
	d := &Decoder{cfg: cfg, layers: make([]decoderLayer, cfg.Layers), defaultCacheLen: min(cfg.ContextLen, DefaultContextLen)}
	if o.ContextLen > 0 {
		d.defaultCacheLen = o.ContextLen
	}
	d.rope = newRope(cfg.Rope, cfg.RopeDims, cfg.HeadDim, cfg.RopeBase)
	hd, qDim, kvDim, ffn := cfg.Hidden, cfg.Heads*cfg.HeadDim, cfg.KVDim(), cfg.FFN

	if d.tokenEmbd, err = w.Matrix("token_embd.weight", cfg.Vocab, hd); err != nil {
		return nil, err
	}
	if d.outputNorm, err = w.Vector("output_norm.weight", hd); err != nil {
		return nil, err
	}
	if d.output, err = w.OptMatrix("output.weight", cfg.Vocab, hd); err != nil {
		return nil, err
	}
	if d.output == nil {
		d.output = d.tokenEmbd // tied embeddings
	}
	lin := func(name string, rows, cols int, bias bool) (linear, error) {
		m, err := w.Matrix(name+".weight", rows, cols)
		if err != nil {
			return linear{}, err
		}
		l := linear{w: m}
		if bias {
			l.b, err = w.OptVector(name+".bias", rows)
		}
		return l, err
	}
	for i := range d.layers {
		ly := &d.layers[i]
		p := fmt.Sprintf("blk.%d.", i)
		var errs [8]error
		ly.attnNorm, errs[0] = w.Vector(p+"attn_norm.weight", hd)
		ly.ffnNorm, errs[1] = w.Vector(p+"ffn_norm.weight", hd)
		if w.Has(p + "attn_qkv.weight") {
			ly.qkv, errs[2] = lin(p+"attn_qkv", qDim+2*kvDim, hd, true)
		} else {
			ly.q, errs[2] = lin(p+"attn_q", qDim, hd, true)
			ly.k, errs[3] = lin(p+"attn_k", kvDim, hd, true)
			ly.v, errs[4] = lin(p+"attn_v", kvDim, hd, true)
		}
		ly.o, errs[5] = lin(p+"attn_output", hd, qDim, true)
		if w.Has(p + "ffn_gate.weight") {
			ly.gate, errs[6] = lin(p+"ffn_gate", ffn, hd, false)
			ly.up, errs[7] = lin(p+"ffn_up", ffn, hd, false)
		} else {
			ly.gateUp, errs[6] = lin(p+"ffn_up", 2*ffn, hd, false)
		}
		for _, e := range errs {
			if e != nil {
				return nil, e
			}
		}
		if ly.down, err = lin(p+"ffn_down", hd, ffn, false); err != nil {
			return nil, err
		}
	}
	if !o.KeepLayout {
		w.decodeLayout(d.decodeOrder())
	}
	return d, nil
}
