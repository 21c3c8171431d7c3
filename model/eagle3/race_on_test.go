//go:build race

package eagle3

// raceEnabled: the race detector adds allocations, so allocation bounds are skipped.
const raceEnabled = true
