//go:build race

package tensor

// raceEnabled: the race detector is on (tests that count allocations or
// time things adjust).
const raceEnabled = true
