//go:build race

package llama

// raceEnabled: the race detector adds allocations, so allocation checks are skipped.
const raceEnabled = true
