//go:build !unix

package blockbench

import "time"

// cpuTime is not measured on this platform.
func cpuTime() time.Duration { return 0 }
