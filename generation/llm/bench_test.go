package llm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchModel synthesizes (once, cached in the temp dir) a Qwen2.5-0.5B
// shaped model stored as mix.
func benchModel(b *testing.B, mix QuantMix) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("zhiwen-bench-qwen2-0.5b-%s-v1.gguf", mix.Name))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := SynthesizeQwen2(context.Background(), path, Qwen25_05B(), mix, 1); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkQwen05B measures pp512 (prefill) and tg128 (decode) tokens/s on a
// random-weight model of Qwen2.5-0.5B's shape, like llama-bench. Each
// iteration runs one full pp512 or tg128. Also reported: the weight bytes a
// decode step reads and the bandwidth that implies, and tokens per CPU
// second (independent of other load on the machine).
func BenchmarkQwen05B(b *testing.B) {
	for _, mix := range []QuantMix{MixQ4_0, MixQ8_0, MixQ4KM} {
		path := benchModel(b, mix)
		f := openGGUF(b, path)
		n, err := LoadNetwork(f, LoadOptions{ContextLen: 1024})
		if err != nil {
			b.Fatal(err)
		}
		m := n.(Model)
		bytesPerToken := DecodeBytesPerToken(f)
		ctx := context.Background()
		b.Run(mix.Name+"/pp512", func(b *testing.B) {
			var secs float64
			cpu0 := processCPUTime()
			for b.Loop() {
				r, err := MeasureSpeed(ctx, m, 512, 0, 1)
				if err != nil {
					b.Fatal(err)
				}
				secs += r.PromptSeconds
			}
			b.ReportMetric(float64(512*b.N)/secs, "tok/s")
			b.ReportMetric(float64(512*b.N)/(processCPUTime()-cpu0).Seconds(), "tok/cpu-s")
		})
		b.Run(mix.Name+"/tg128", func(b *testing.B) {
			var secs float64
			cpu0 := processCPUTime()
			for b.Loop() {
				r, err := MeasureSpeed(ctx, m, 8, 128, 1)
				if err != nil {
					b.Fatal(err)
				}
				secs += r.GenSeconds
			}
			tps := float64(128*b.N) / secs
			b.ReportMetric(tps, "tok/s")
			// CPU-normalized rate: with the machine to itself, wall-clock
			// speed approaches this times the number of cores.
			b.ReportMetric(float64(136*b.N)/(processCPUTime()-cpu0).Seconds(), "tok/cpu-s")
			b.ReportMetric(float64(bytesPerToken)/1e6, "MB/tok")
			b.ReportMetric(tps*float64(bytesPerToken)/1e9, "GB/s")
		})
	}
}
