package web

import (
	"context"
	"fmt"
	"strings"

	"zhiwen/generation"
	"zhiwen/generation/llm"
)

// adapterBackend is the answering backend when it applies adapters, else nil.
func (s *Server) adapterBackend() generation.AdapterBackend {
	if s.cfg.Answers == nil {
		return nil
	}
	ab, _ := s.cfg.Answers.Backend.(generation.AdapterBackend)
	return ab
}

// resolveModel decides the backend model name of an answer request:
//   - model "base+adapter" (or "+adapter") selects adapters explicitly;
//   - the field adapter adds adapters to whatever model names;
//   - otherwise the first knowledge base's DefaultAdapter applies, when the
//     backend applies adapters and the model is not exactly the backend's
//     base model name (which selects the bare base).
//
// The selection is checked against the backend before any reply is sent, so
// a bad adapter is a 4xx, not an error in the middle of a stream.
func (s *Server) resolveModel(ctx context.Context, model, adapter string, kbs []string) (string, error) {
	ab := s.adapterBackend()
	base, spec := llm.SplitModelName(model)
	adapter = strings.TrimSpace(adapter)
	if (spec != "" || adapter != "") && (s.cfg.Answers == nil || s.cfg.Answers.Backend == nil) {
		return "", fmt.Errorf("%w: extractive answers apply no adapters (asked for %q)", generation.ErrBadModel, strings.Trim(spec+"+"+adapter, "+"))
	}
	switch {
	case adapter != "":
		if ab == nil {
			return "", fmt.Errorf("%w: the answering backend %s does not apply adapters (asked for %q)", generation.ErrBadModel, s.backendName(), adapter)
		}
		// A base name without adapters means nothing to the backend (OpenAI
		// clients send their own), so only a base+adapter name keeps it.
		if spec == "" {
			model = "+" + adapter
		} else {
			model = base + "+" + spec + "+" + adapter
		}
	case spec == "" && ab != nil && base != ab.BaseModel():
		// The bare base model named exactly opts out of the default.
		for _, name := range kbs {
			info, err := s.cfg.Store.KB(ctx, name)
			if err != nil {
				return "", err
			}
			if info.DefaultAdapter != "" {
				model = "+" + info.DefaultAdapter
				break
			}
		}
	case spec == "" && ab == nil:
		s.logIgnoredDefault(ctx, kbs)
	}
	if ab != nil {
		if err := ab.CheckModel(model); err != nil {
			return "", err
		}
	}
	return model, nil
}

// logIgnoredDefault notes knowledge-base default adapters that a backend
// without adapter support cannot apply.
func (s *Server) logIgnoredDefault(ctx context.Context, kbs []string) {
	for _, name := range kbs {
		if info, err := s.cfg.Store.KB(ctx, name); err == nil && info.DefaultAdapter != "" {
			s.log.Debug("default adapter ignored: the backend does not apply adapters", "kb", name, "adapter", info.DefaultAdapter, "backend", s.backendName())
			return
		}
	}
}

// adapterModels lists one model per usable adapter, "base+adapter".
func (s *Server) adapterModels() []modelObject {
	ab := s.adapterBackend()
	if ab == nil {
		return nil
	}
	list, err := ab.Adapters()
	if err != nil {
		s.log.Warn("list adapters", "err", err)
		return nil
	}
	var out []modelObject
	for _, a := range list {
		if a.Error != "" {
			s.log.Warn("adapter not listed: it cannot be used", "adapter", a.Name, "err", a.Error)
			continue
		}
		out = append(out, modelObject{ID: ab.BaseModel() + "+" + a.Name, Object: "model", Created: s.started.Unix(), OwnedBy: "zhiwen"})
	}
	return out
}
