//go:build race

package tensor

// raceEnabled: the race detector makes sync.Pool drop items at random.
const raceEnabled = true
