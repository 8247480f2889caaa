package tokenizer

import (
	"os"
	"testing"
	"time"
)

// reportCPU adds MB per CPU second (cpuMB/s) and CPU ms per op to a
// benchmark that processed bytes per op, measured since start.
func reportCPU(b *testing.B, start time.Duration, bytes int) {
	cpu := processCPU() - start
	if cpu <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(bytes)*float64(b.N)/cpu.Seconds()/1e6, "cpuMB/s")
	b.ReportMetric(cpu.Seconds()*1e3/float64(b.N), "cpu-ms/op")
}

// BenchmarkEncodeQwenCMRC measures Qwen2 encode throughput (MB/s) on
// Chinese Wikipedia text, with a fresh pre-token cache every iteration.
func BenchmarkEncodeQwenCMRC(b *testing.B) {
	tok := qwenTokenizer(b)
	text := string(readShared(b, "docs", "cmrc_sample.txt"))
	b.SetBytes(int64(len(text)))
	start := processCPU()
	for b.Loop() {
		tok.bpe.cache = encodeCache{}
		tok.Encode(text, EncodeOptions{})
	}
	reportCPU(b, start, len(text))
}

// BenchmarkEncodeQwenCMRCWarm is the same with the pre-token cache warm,
// as in a long-running server.
func BenchmarkEncodeQwenCMRCWarm(b *testing.B) {
	tok := qwenTokenizer(b)
	text := string(readShared(b, "docs", "cmrc_sample.txt"))
	tok.Encode(text, EncodeOptions{})
	b.SetBytes(int64(len(text)))
	start := processCPU()
	for b.Loop() {
		tok.Encode(text, EncodeOptions{})
	}
	reportCPU(b, start, len(text))
}

func BenchmarkEncodeLlamaSPMCMRC(b *testing.B) {
	tok := llamaTokenizer(b)
	text := string(readShared(b, "docs", "cmrc_sample.txt"))
	b.SetBytes(int64(len(text)))
	start := processCPU()
	for b.Loop() {
		tok.Encode(text, EncodeOptions{})
	}
	reportCPU(b, start, len(text))
}

// BenchmarkLoadQwenTokenizerJSON measures parsing the 7 MB, 151k-token
// tokenizer.json.
func BenchmarkLoadQwenTokenizerJSON(b *testing.B) {
	data, err := os.ReadFile(sharedTestdata(b, "tokenizer", "qwen2.5", "tokenizer.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	start := processCPU()
	for b.Loop() {
		if _, err := FromHuggingFace(data); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start, len(data))
}
