package web

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"zhiwen/ingest"
)

// latencyBuckets are the upper bounds, in seconds, of the request duration histogram.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

type routeKey struct{ method, route, code string }

type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	n      uint64
}

// metrics counts requests in the Prometheus text exposition format.
type metrics struct {
	mu       sync.Mutex
	requests map[routeKey]uint64
	latency  map[string]*histogram // by route
	answers  map[string]uint64     // by backend
	refusals uint64
}

func newMetrics() *metrics {
	return &metrics{requests: map[routeKey]uint64{}, latency: map[string]*histogram{}, answers: map[string]uint64{}}
}

func (m *metrics) observe(method, route string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[routeKey{method, route, strconv.Itoa(code)}]++
	h := m.latency[route]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets)+1)}
		m.latency[route] = h
	}
	sec := d.Seconds()
	i := sort.SearchFloat64s(latencyBuckets, sec)
	h.counts[i]++
	h.sum += sec
	h.n++
}

func (m *metrics) answered(backend string, refused bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.answers[backend]++
	if refused {
		m.refusals++
	}
}

// observe is the middleware that records every request.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	s.metrics.observe(c.Request.Method, route, c.Writer.Status(), time.Since(start))
}

func (s *Server) serveMetrics(c *gin.Context) {
	var b strings.Builder
	m := s.metrics
	m.mu.Lock()
	b.WriteString("# HELP zhiwen_http_requests_total HTTP requests by method, route and status code.\n# TYPE zhiwen_http_requests_total counter\n")
	keys := make([]routeKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].route+keys[i].method+keys[i].code < keys[j].route+keys[j].method+keys[j].code
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "zhiwen_http_requests_total{method=%q,route=%q,code=%q} %d\n", k.method, k.route, k.code, m.requests[k])
	}
	b.WriteString("# HELP zhiwen_http_request_duration_seconds HTTP request latency by route.\n# TYPE zhiwen_http_request_duration_seconds histogram\n")
	for _, r := range slices.Sorted(maps.Keys(m.latency)) {
		h := m.latency[r]
		var cum uint64
		for i, le := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(&b, "zhiwen_http_request_duration_seconds_bucket{route=%q,le=\"%g\"} %d\n", r, le, cum)
		}
		fmt.Fprintf(&b, "zhiwen_http_request_duration_seconds_bucket{route=%q,le=\"+Inf\"} %d\n", r, h.n)
		fmt.Fprintf(&b, "zhiwen_http_request_duration_seconds_sum{route=%q} %g\n", r, h.sum)
		fmt.Fprintf(&b, "zhiwen_http_request_duration_seconds_count{route=%q} %d\n", r, h.n)
	}
	b.WriteString("# HELP zhiwen_answers_total Answers given, by backend.\n# TYPE zhiwen_answers_total counter\n")
	for _, k := range slices.Sorted(maps.Keys(m.answers)) {
		fmt.Fprintf(&b, "zhiwen_answers_total{backend=%q} %d\n", k, m.answers[k])
	}
	fmt.Fprintf(&b, "# HELP zhiwen_answers_refused_total Answers that refused for lack of support.\n# TYPE zhiwen_answers_refused_total counter\nzhiwen_answers_refused_total %d\n", m.refusals)
	m.mu.Unlock()

	if s.cfg.Jobs != nil {
		if jobs, err := s.cfg.Jobs.List("", 0); err == nil {
			counts := map[ingest.JobStatus]int{}
			for _, j := range jobs {
				counts[j.Status]++
			}
			b.WriteString("# HELP zhiwen_ingest_jobs Ingest jobs by status.\n# TYPE zhiwen_ingest_jobs gauge\n")
			for _, st := range []ingest.JobStatus{ingest.JobQueued, ingest.JobRunning, ingest.JobSucceeded, ingest.JobFailed, ingest.JobCanceled} {
				fmt.Fprintf(&b, "zhiwen_ingest_jobs{status=%q} %d\n", st, counts[st])
			}
		}
	}
	if s.cfg.Store != nil {
		if kbs, err := s.cfg.Store.KBs(c.Request.Context()); err == nil {
			b.WriteString("# HELP zhiwen_kb_documents Documents per knowledge base.\n# TYPE zhiwen_kb_documents gauge\n")
			for _, kb := range kbs {
				fmt.Fprintf(&b, "zhiwen_kb_documents{kb=%q} %d\n", kb.Name, kb.Documents)
			}
			b.WriteString("# HELP zhiwen_kb_chunks Chunks per knowledge base.\n# TYPE zhiwen_kb_chunks gauge\n")
			for _, kb := range kbs {
				fmt.Fprintf(&b, "zhiwen_kb_chunks{kb=%q} %d\n", kb.Name, kb.Chunks)
			}
		}
	}
	c.Data(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", []byte(b.String()))
}
