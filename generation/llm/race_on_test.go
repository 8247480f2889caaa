//go:build race

package llm

// raceEnabled: the race detector makes sync.Pool drop items at random.
const raceEnabled = true
