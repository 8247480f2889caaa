package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"zhiwen/generation"
	"zhiwen/generation/gguf"
	"zhiwen/generation/llm"
	"zhiwen/generation/tensor"
)

func init() {
	register(&command{
		name: "adapters list", usage: "[--model FILE] [--json]",
		summary: "List the adapters in $ZHIWEN_HOME/adapters, checked against the base model.",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			model := fs.String("model", "", "base GGUF model the adapters are for (default from config: model)")
			asJSON := fs.Bool("json", false, "print JSON")
			return func(ctx context.Context, args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: adapters list takes no arguments", errUsage)
				}
				home, m, err := adapterModel(*model)
				if err != nil {
					return err
				}
				list, err := listAdapters(m, filepath.Join(home, "adapters"))
				if err != nil {
					return err
				}
				if *asJSON {
					if list == nil {
						list = []generation.AdapterInfo{}
					}
					return printJSON(cmdOut, list)
				}
				if len(list) == 0 {
					fmt.Fprintf(cmdOut, "no adapters in %s\n", filepath.Join(home, "adapters"))
					return nil
				}
				tw := tabwriter.NewWriter(cmdOut, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tKIND\tFORMAT\tRANK/LEN\tTARGETS\tPATH")
				for _, a := range list {
					if a.Error != "" {
						fmt.Fprintf(tw, "%s\tunusable\t\t\t%s\t%s\n", a.Name, a.Error, a.Path)
						continue
					}
					size := strconv.Itoa(a.Rank)
					if a.Kind == llm.AdapterPrefix.String() {
						size = strconv.Itoa(a.PrefixTokens)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, a.Kind, a.Format, size, strings.Join(a.Targets, ","), a.Path)
				}
				return tw.Flush()
			}
		},
	})
	register(&command{
		name: "merge", usage: "--model BASE.gguf --adapter NAME|PATH[@scale] [--adapter ...] [--type q4_0|q8_0|q4_k_m|f16] OUT.gguf",
		summary: "Fold LoRA adapters into a base model's weights, writing a standalone GGUF model.",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			model := fs.String("model", "", "base GGUF model (default from config: model)")
			var adapters stringList
			fs.Var(&adapters, "adapter", "adapter name in $ZHIWEN_HOME/adapters or path, optionally @scale (repeatable)")
			typ := fs.String("type", "q8_0", "storage type of the merged weights: "+strings.Join(quantNames(), ", "))
			return func(ctx context.Context, args []string) error {
				if len(args) != 1 {
					return fmt.Errorf("%w: want OUT.gguf", errUsage)
				}
				if len(adapters) == 0 {
					return fmt.Errorf("%w: at least one --adapter is required", errUsage)
				}
				q, ok := quantTargets[strings.ToLower(*typ)]
				if !ok {
					return fmt.Errorf("%w: unknown --type %q (want %s)", errUsage, *typ, strings.Join(quantNames(), ", "))
				}
				home, m, err := adapterModel(*model)
				if err != nil {
					return err
				}
				return mergeAdapters(ctx, m, filepath.Join(home, "adapters"), adapters, q, args[0])
			}
		},
	})
}

// adapterDir is where the server looks for adapters.
func (a *app) adapterDir() string { return filepath.Join(a.home, "adapters") }

// homeConfig reads the data directory's configuration without opening the
// store (so it works next to a running server).
func homeConfig() (string, config, error) {
	home, err := homeDir()
	if err != nil {
		return "", config{}, err
	}
	cfg, err := loadConfig(home)
	return home, cfg, err
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// baseConfig reads the shape of the base model at path.
func baseConfig(f *gguf.File, path string) (llm.Config, error) {
	net, err := llm.LoadNetwork(f, llm.LoadOptions{})
	if err != nil {
		return llm.Config{}, err
	}
	if _, ok := net.(llm.Model); !ok {
		return llm.Config{}, fmt.Errorf("%s is not a text-generation model", path)
	}
	return net.Config(), nil
}

// listAdapters describes the adapters in dir as loaded for the model at path.
func listAdapters(path, dir string) ([]generation.AdapterInfo, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("base model: %w", err)
	}
	defer f.Close()
	cfg, err := baseConfig(f, path)
	if err != nil {
		return nil, err
	}
	reg := llm.NewAdapterRegistry(dir, cfg)
	entries, err := reg.List()
	if err != nil {
		return nil, err
	}
	var out []generation.AdapterInfo
	for _, e := range entries {
		a, err := reg.Get(e.Name)
		if err != nil {
			out = append(out, generation.AdapterInfo{Name: e.Name, Path: e.Path, Error: err.Error()})
			continue
		}
		out = append(out, generation.DescribeAdapter(e.Path, a))
	}
	return out, nil
}

// resolveAdapter loads "NAME|PATH[@scale]": an existing path is loaded
// directly, anything else is looked up in the adapter directory.
func resolveAdapter(reg *llm.AdapterRegistry, cfg llm.Config, spec string) (llm.AdapterUse, error) {
	ref, scaleText := spec, ""
	if i := strings.LastIndex(spec, "@"); i >= 0 {
		if _, err := os.Stat(spec); err != nil { // a path may contain '@'
			ref, scaleText = spec[:i], spec[i+1:]
		}
	}
	use := llm.AdapterUse{Scale: 1}
	if scaleText != "" {
		v, err := strconv.ParseFloat(scaleText, 32)
		if err != nil {
			return use, fmt.Errorf("%w: --adapter %q: bad scale %q", errUsage, spec, scaleText)
		}
		use.Scale = float32(v)
	}
	var err error
	if _, statErr := os.Stat(ref); statErr == nil {
		use.Adapter, err = llm.LoadAdapter(ref, cfg)
	} else {
		use.Adapter, err = reg.Get(ref)
	}
	if err != nil {
		return use, fmt.Errorf("--adapter %s: %w", spec, err)
	}
	return use, nil
}

// mergeAdapters folds the LoRA adapters specs into the model at path and
// writes out, with a progress bar driven by the output's size.
func mergeAdapters(ctx context.Context, path, dir string, specs []string, q quantTarget, out string) error {
	f, err := gguf.Open(path)
	if err != nil {
		return fmt.Errorf("merge: base model: %w", err)
	}
	defer f.Close()
	cfg, err := baseConfig(f, path)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	reg := llm.NewAdapterRegistry(dir, cfg)
	var uses []llm.AdapterUse
	for _, s := range specs {
		u, err := resolveAdapter(reg, cfg, s)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		uses = append(uses, u)
	}
	set, err := llm.NewAdapterSet(cfg, uses...)
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	bar := newProgressBar(os.Stderr, "merge "+set.Name())
	want := mergedSize(f, set, q.base)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				bar.Set(float64(tempSize(out))/float64(max(1, want)), "")
			}
		}
	}()
	start := time.Now()
	err = llm.MergeLoRA(ctx, out, f, set, q.base)
	close(stop)
	wg.Wait()
	if err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	bar.Set(1, "")
	bar.Done(fmt.Sprintf("%s + %s → %s (%s, %s) in %v", path, set.Name(), out, q.name, formatBytes(st.Size()), time.Since(start).Round(time.Millisecond)))
	return nil
}

// tempSize is the size of the temporary file gguf.WriteFile is filling
// next to out (0 when there is none yet).
func tempSize(out string) int64 {
	matches, _ := filepath.Glob(out + ".tmp*")
	var n int64
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil {
			n = max(n, st.Size())
		}
	}
	return n
}

// mergedSize estimates the merged file's size: merged weights stored as
// typ (with the quantizer's fallback for rows that are not whole blocks),
// everything else as in the base.
func mergedSize(f *gguf.File, set *llm.AdapterSet, typ tensor.DType) int64 {
	changed := map[string]bool{}
	for _, u := range set.Uses() {
		for name := range u.Adapter.LoRA {
			changed[name] = true
		}
	}
	var n int64
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if !changed[ti.Name] || len(ti.Shape) != 2 {
			n += int64(ti.Size)
			continue
		}
		rows, cols := int64(ti.Shape[1]), int(ti.Shape[0])
		t := tensor.StorageType(typ, cols)
		n += rows * int64(cols/t.BlockSize()*t.BlockBytes())
	}
	return n
}

// adapterModel returns the data directory and the base model the adapter
// commands work on: the --model flag, else the configured model.
func adapterModel(flag string) (home, model string, err error) {
	home, cfg, err := homeConfig()
	if err != nil {
		return "", "", err
	}
	model = cmp.Or(flag, cfg.Model)
	if model == "" {
		return "", "", fmt.Errorf("%w: --model is required (no model is configured)", errUsage)
	}
	return home, model, nil
}
