package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"zhiwen/generation/gguf"
	"zhiwen/generation/llm"
	"zhiwen/generation/tensor"
)

func init() {
	register(&command{
		name: "bench", usage: "[--model FILE] [-p 512] [-n 128] [--quant q4_0,q8_0,q4_k_m] [--json]",
		summary: "Time prompt processing and generation like llama-bench (synthesizes Qwen2.5-0.5B-shaped models without --model).",
		setup: func(fs *flag.FlagSet) func(context.Context, []string) error {
			model := fs.String("model", "", "GGUF model to time (comma-separated for several); default: synthesize Qwen2.5-0.5B-shaped models with random weights")
			p := fs.Int("p", 512, "prompt tokens for the prompt-processing test (0 = skip)")
			n := fs.Int("n", 128, "tokens for the generation test (0 = skip)")
			depth := fs.Int("d", 0, "context depth: tokens already in the KV cache when the generation test starts (llama-bench's -d)")
			quant := fs.String("quant", "q4_0,q8_0,q4_k_m", "weight mixes to synthesize without --model: "+strings.Join(mixNames(), ", "))
			reps := fs.Int("r", 1, "repetitions of each test")
			threads := fs.Int("t", 0, "threads (default: all cores)")
			dir := fs.String("dir", "", "keep synthesized models in this directory and reuse them on later runs (default: a temporary directory)")
			asJSON := fs.Bool("json", false, "print JSON")
			keepLayout := fs.Bool("keep-layout", false, "read every weight in place from the mapped file instead of copying Q4_0/Q5_0/Q8_0 matrices into the interleaved decode layout")
			return func(ctx context.Context, args []string) error {
				if *p < 0 || *n < 0 || *depth < 0 || *p+*n == 0 || *reps < 1 {
					return fmt.Errorf("%w: need -p or -n > 0, -d ≥ 0 and -r ≥ 1", errUsage)
				}
				if *threads > 0 {
					tensor.SetThreads(*threads)
				}
				cfg := benchConfig{prompt: *p, gen: *n, depth: *depth, reps: *reps, keepLayout: *keepLayout}
				var paths []string
				if *model != "" {
					paths = strings.Split(*model, ",")
				} else {
					d := *dir
					if d == "" {
						tmp, err := os.MkdirTemp("", "zhiwen-bench-")
						if err != nil {
							return err
						}
						defer os.RemoveAll(tmp)
						d = tmp
					} else if err := os.MkdirAll(d, 0o755); err != nil {
						return err
					}
					for _, q := range strings.Split(*quant, ",") {
						q = strings.ToLower(strings.TrimSpace(q))
						mix, ok := benchMixes[q]
						if !ok {
							return fmt.Errorf("%w: unknown --quant %q (want %s)", errUsage, q, strings.Join(mixNames(), ", "))
						}
						path := filepath.Join(d, "qwen2.5-0.5b-shape-"+q+".gguf")
						if _, err := os.Stat(path); err != nil {
							start := time.Now()
							if err := synthModel(ctx, path, llm.Qwen25_05B(), mix, "", 1); err != nil {
								return err
							}
							fmt.Fprintf(os.Stderr, "synthesized %s in %v\n", filepath.Base(path), time.Since(start).Round(time.Second))
						}
						paths = append(paths, path)
					}
				}
				fmt.Fprintln(os.Stderr, "measuring memory read bandwidth...")
				rep := benchReport{Threads: tensor.Threads(), Kernel: tensor.KernelName(), CPU: cpuModel()}
				rep.BandwidthGBs = measureReadBandwidth(ctx)
				debug.FreeOSMemory()
				for _, path := range paths {
					r, err := benchModel(ctx, path, cfg)
					if err != nil {
						return err
					}
					if r.BandwidthGBs > 0 {
						r.CeilingTPS = r.BandwidthGBs * 1e9 / float64(r.WeightBytesPerToken)
					}
					rep.Models = append(rep.Models, r)
				}
				if *asJSON {
					return printJSON(cmdOut, rep)
				}
				rep.print(cmdOut, cfg)
				return nil
			}
		},
	})
}

type benchConfig struct {
	prompt, gen, depth, reps int
	keepLayout               bool
}

type benchReport struct {
	CPU     string `json:"cpu"`
	Threads int    `json:"threads"`
	Kernel  string `json:"kernel"`
	// BandwidthGBs is the memory read bandwidth of a 512 MiB array, in
	// 10^9 bytes/s, measured before the first model (for reference; each
	// model's decode ceiling uses its own weights' reading).
	BandwidthGBs float64       `json:"bandwidth_gb_s"`
	Models       []benchResult `json:"models"`
}

type benchResult struct {
	Model     string `json:"model"`
	Type      string `json:"type"`
	FileBytes int64  `json:"file_bytes"`
	Params    int64  `json:"params"`
	// PromptTPS and GenTPS are means over the repetitions (tokens/s);
	// the Std fields are their standard deviations.
	PromptTPS float64 `json:"pp_tokens_per_s,omitempty"`
	PromptStd float64 `json:"pp_std,omitempty"`
	GenTPS    float64 `json:"tg_tokens_per_s,omitempty"`
	GenStd    float64 `json:"tg_std,omitempty"`
	// WeightBytesPerToken is what one decode step reads. BandwidthGBs is
	// how fast two threads stream the model's own weights, read right
	// before and right after each tg run (the better of the two, the
	// stricter ceiling, and the median over runs); CeilingTPS is it
	// divided by WeightBytesPerToken. DecodeEfficiency is the median over
	// runs of each run's tg t/s over its own ceiling, so that other load
	// on the machine, which moves the bandwidth from minute to minute,
	// weighs on both sides of the ratio.
	WeightBytesPerToken int64   `json:"weight_bytes_per_token"`
	BandwidthGBs        float64 `json:"bandwidth_gb_s"`
	CeilingTPS          float64 `json:"ceiling_tokens_per_s"`
	DecodeEfficiency    float64 `json:"decode_efficiency"`
	KVCacheBytes        int64   `json:"kv_cache_bytes"`
	// PeakRSS is the process's peak resident memory while the model ran
	// (0 where the OS does not say).
	PeakRSS int64 `json:"peak_rss_bytes"`
}

// benchModel loads the model at path and times its prompt processing and
// generation.
func benchModel(ctx context.Context, path string, cfg benchConfig) (benchResult, error) {
	res := benchResult{Model: filepath.Base(path)}
	debug.FreeOSMemory()
	resetPeakRSS()
	f, err := gguf.Open(path)
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	ctxLen := max(cfg.prompt, cfg.depth+cfg.gen) + 1
	net, err := llm.LoadNetwork(f, llm.LoadOptions{ContextLen: ctxLen, KeepLayout: cfg.keepLayout})
	if err != nil {
		return res, fmt.Errorf("bench: %w", err)
	}
	defer llm.ReleaseWeights(net) // before the next model loads
	m, ok := net.(llm.Model)
	if !ok {
		return res, fmt.Errorf("bench %s: %s is not a text-generation model", path, f.Architecture())
	}
	res.FileBytes = f.Size
	res.Type = fileTypeSummary(f)
	for i := range f.Tensors {
		res.Params += int64(f.Tensors[i].Elements())
	}
	res.WeightBytesPerToken = llm.DecodeBytesPerToken(f)
	c := m.Config()
	res.KVCacheBytes = int64(c.Layers) * int64(c.KVDim()) * 2 * 4 * int64(ctxLen)

	bar := newProgressBar(os.Stderr, "bench "+res.Model)
	bar.Set(0, "warm-up")
	// Warm up: fault the mapped weights in and start the worker threads.
	if _, err := llm.MeasureSpeed(ctx, m, 4, 2, 7); err != nil {
		return res, fmt.Errorf("bench %s: %w", path, err)
	}
	// The weights as the decode reads them (mapped, or copied into the
	// kernels' layout): streaming them measures the decode ceiling.
	weights := llm.DecodeWeights(m)
	if weights == nil {
		for i := range f.Tensors {
			if data, err := f.TensorData(&f.Tensors[i]); err == nil {
				weights = append(weights, data)
			}
		}
	}
	var pp, tg, bws, effs []float64
	for r := range cfg.reps {
		bar.Set(float64(r)/float64(cfg.reps), fmt.Sprintf("run %d/%d", r+1, cfg.reps))
		// As in llama-bench, the two tests are separate: pp from an empty
		// cache, tg after depth tokens (one at depth 0, to have a logit).
		if cfg.prompt > 0 {
			runtime.GC() // each test starts from a collected heap
			s, err := llm.MeasureSpeed(ctx, m, cfg.prompt, 0, uint64(r+1))
			if err != nil {
				return res, fmt.Errorf("bench %s: %w", path, err)
			}
			pp = append(pp, s.PrefillTPS())
		}
		if cfg.gen > 0 {
			runtime.GC()
			before := tensor.ReadBandwidth(weights, 3)
			s, err := llm.MeasureSpeed(ctx, m, max(cfg.depth, 1), cfg.gen, uint64(r+1))
			if err != nil {
				return res, fmt.Errorf("bench %s: %w", path, err)
			}
			bw := max(before, tensor.ReadBandwidth(weights, 3))
			tg = append(tg, s.DecodeTPS())
			bws = append(bws, bw)
			effs = append(effs, s.DecodeTPS()*float64(res.WeightBytesPerToken)/(bw*1e9))
		}
	}
	bar.Done("done")
	res.PromptTPS, res.PromptStd = meanStd(pp)
	res.GenTPS, res.GenStd = meanStd(tg)
	res.BandwidthGBs, res.DecodeEfficiency = median(bws), median(effs)
	res.PeakRSS = peakRSS()
	return res, nil
}

// median returns the middle value of xs (the mean of the two middle ones
// for an even count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func (rep benchReport) print(w io.Writer, cfg benchConfig) {
	fmt.Fprintf(w, "CPU: %s; %d threads; kernels %s; memory read bandwidth %.1f GB/s (512 MiB array)\n\n", rep.CPU, rep.Threads, rep.Kernel, rep.BandwidthGBs)
	fmt.Fprintln(w, "| model | type | size | params | threads | test | t/s |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: |")
	row := func(r benchResult, test string, mean, std float64) {
		fmt.Fprintf(w, "| %s | %s | %s | %.2f M | %d | %s | %.2f ± %.2f |\n", r.Model, r.Type, formatBytes(r.FileBytes), float64(r.Params)/1e6, rep.Threads, test, mean, std)
	}
	for _, r := range rep.Models {
		if cfg.prompt > 0 {
			row(r, fmt.Sprintf("pp%d", cfg.prompt), r.PromptTPS, r.PromptStd)
		}
		if cfg.gen > 0 {
			row(r, fmt.Sprintf("tg%d", cfg.gen), r.GenTPS, r.GenStd)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| model | weights read/token | bandwidth | decode ceiling | tg t/s | efficiency | peak RSS | file + KV cache | RSS / (file+KV) |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rep.Models {
		rss, ratio := "n/a", "n/a"
		if r.PeakRSS > 0 {
			rss = formatBytes(r.PeakRSS)
			ratio = fmt.Sprintf("%.2f", float64(r.PeakRSS)/float64(r.FileBytes+r.KVCacheBytes))
		}
		fmt.Fprintf(w, "| %s | %s | %.1f GB/s | %.1f t/s | %.2f | %.0f%% | %s | %s | %s |\n", r.Model, formatBytes(r.WeightBytesPerToken),
			r.BandwidthGBs, r.CeilingTPS, r.GenTPS, 100*r.DecodeEfficiency, rss, formatBytes(r.FileBytes+r.KVCacheBytes), ratio)
	}
	fmt.Fprintln(w, "\nbandwidth = how fast two threads stream the model's weights, read before and after each tg run (the better")
	fmt.Fprintln(w, "of the two; median over runs); decode ceiling = bandwidth ÷ weight bytes read per token; efficiency = median")
	fmt.Fprintln(w, "over runs of tg t/s ÷ that run's ceiling.")
	fmt.Fprintf(w, "pp starts from an empty KV cache; tg starts at context depth %d (set with -d), as llama-bench does.\n", max(cfg.depth, 1))
}

// fileTypeSummary names the weight types of a model, most bytes first
// ("Q4_K 64% Q6_K 20% ...").
func fileTypeSummary(f *gguf.File) string {
	bytes := map[string]uint64{}
	var total uint64
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if len(ti.Shape) < 2 {
			continue
		}
		bytes[ti.Type.String()] += ti.Size
		total += ti.Size
	}
	type kv struct {
		name string
		n    uint64
	}
	var list []kv
	for k, v := range bytes {
		list = append(list, kv{k, v})
	}
	if len(list) == 1 {
		return list[0].name
	}
	// Sort by bytes, descending.
	for i := range list {
		for j := i + 1; j < len(list); j++ {
			if list[j].n > list[i].n || (list[j].n == list[i].n && list[j].name < list[i].name) {
				list[i], list[j] = list[j], list[i]
			}
		}
	}
	var parts []string
	for _, e := range list {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", e.name, 100*float64(e.n)/float64(max(total, 1))))
	}
	return strings.Join(parts, " ")
}

func meanStd(xs []float64) (mean, std float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) > 1 {
		for _, x := range xs {
			std += (x - mean) * (x - mean)
		}
		std = math.Sqrt(std / float64(len(xs)-1))
	}
	return mean, std
}

// measureReadBandwidth streams a 512 MiB array (far larger than any cache)
// on every thread with tensor.ReadBandwidth and returns the best of three
// passes in 10^9 bytes per second.
func measureReadBandwidth(ctx context.Context) float64 {
	if ctx.Err() != nil {
		return 0
	}
	buf := make([]byte, 512<<20)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = byte(i >> 12) // touch every page
	}
	return tensor.ReadBandwidth([][]byte{buf}, 3)
}

// resetPeakRSS restarts the kernel's peak-RSS counter (Linux; a no-op
// elsewhere).
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns the process's peak resident set size in bytes since the
// last reset, or 0 where /proc is not available.
func peakRSS() int64 {
	v, _ := procStatus("VmHWM")
	return v
}

func procStatus(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/self/status %s: %w", field, err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("/proc/self/status: no " + field)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, val, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return runtime.GOARCH
}
