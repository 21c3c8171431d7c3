//go:build race

package spec

// raceEnabled: the race detector adds allocations, so allocation checks are skipped.
const raceEnabled = true
