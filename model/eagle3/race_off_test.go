//go:build !race

package eagle3

const raceEnabled = false
