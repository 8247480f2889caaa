package retrieval

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"zhiwen/generation/tensor"
)

// memDense builds a Dense of n random unit vectors held only in memory (no
// chromem-go files), for measuring the scan itself.
func memDense(n, dim int, t tensor.DType) *Dense {
	rng := rand.New(rand.NewPCG(7, 8))
	d := &Dense{dim: dim}
	d.initMatrix(t)
	for i, v := range randomUnitVectors(rng, n, dim) {
		d.setRow(fmt.Sprintf("c%06d", i), fmt.Sprintf("d%d", i/10), nil, v, 0)
	}
	return d
}

// reportLatency adds p50 and p99 of per-operation durations to b's output.
func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkDenseScan100k measures SearchVector (Q8_0 scan with tensor.MatVec
// on all cores plus float32 re-score) over 100,000 in-memory rows, against a
// serial float32 scan of the same rows.
func BenchmarkDenseScan100k(b *testing.B) {
	for _, dim := range []int{512, 1024} {
		for _, t := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
			d := memDense(100_000, dim, t)
			rng := rand.New(rand.NewPCG(9, 9))
			qs := randomUnitVectors(rng, 64, dim)
			b.Run(fmt.Sprintf("%s/dim%d", t, dim), func(b *testing.B) {
				ctx := context.Background()
				// recall@10 of the quantized scan plus re-score against exact float32
				var found, total int
				vecs := make([][]float32, len(d.rows))
				idList := make([]string, len(d.rows))
				for r, row := range d.rows {
					vecs[r], idList[r] = row.vec, row.id
				}
				for _, q := range qs[:16] {
					got, err := d.SearchVector(ctx, q, 10, Filter{})
					if err != nil {
						b.Fatal(err)
					}
					want := exactTop(vecs, idList, q, 10, func(int) bool { return true })
					for _, id := range scoredIDs(got) {
						found += btoi(slices.Contains(want, id))
					}
					total += len(want)
				}
				var ds []time.Duration
				c0 := cpuTime()
				for i := 0; b.Loop(); i++ {
					start := time.Now()
					if _, err := d.SearchVector(ctx, qs[i%len(qs)], 10, Filter{}); err != nil {
						b.Fatal(err)
					}
					ds = append(ds, time.Since(start))
				}
				reportLatency(b, ds)
				b.ReportMetric(float64((cpuTime()-c0).Microseconds())/1000/float64(len(ds)), "cpu-ms/op")
				b.ReportMetric(float64(found)/float64(total), "recall@10")
			})
			if t != tensor.Q8_0 {
				continue
			}
			b.Run(fmt.Sprintf("float32-serial/dim%d", dim), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					q := qs[i%len(qs)]
					var h minHeap
					for r := range d.rows {
						h.offer(candidate{r, dotFloat32(q, d.rows[r].vec)}, 10)
					}
				}
			})
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
