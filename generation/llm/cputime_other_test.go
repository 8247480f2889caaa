//go:build !unix

package llm

import "time"

// processCPUTime is unavailable here; benchmarks then report 0 CPU time.
func processCPUTime() time.Duration { return 0 }
