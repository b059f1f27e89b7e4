//go:build unix

package coordinator

import (
	"syscall"
	"time"
)

// cpuSeconds is the user+system CPU time this process has used; it makes
// a throughput figure that does not depend on how busy a shared machine is.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
