package ecsim

import (
	"time"

	"golang.org/x/sys/unix"
)

// clock reads the monotonic clock as ns since its creation and sleeps to
// absolute CLOCK_MONOTONIC deadlines.
type clock struct {
	base     time.Time
	monoBase int64 // CLOCK_MONOTONIC ns at base
}

func newClock() clock {
	var a, b unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &a)
	base := time.Now()
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
	return clock{base: base, monoBase: (a.Nano() + b.Nano()) / 2}
}

// now returns ns since the clock's base (Go's monotonic clock is CLOCK_MONOTONIC).
func (c *clock) now() int64 { return int64(time.Since(c.base)) }

// waitUntil returns once now() >= t: sleeping on the calling thread with
// clock_nanosleep(TIMER_ABSTIME), or busy-waiting in PIO mode.
func (c *clock) waitUntil(t int64, mode WireMode) {
	if mode == WirePIO {
		for c.now() < t {
		}
		return
	}
	ts := unix.NsecToTimespec(c.monoBase + t)
	for {
		err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// sleepFor waits d from now.
func (c *clock) sleepFor(d time.Duration, mode WireMode) {
	if d > 0 {
		c.waitUntil(c.now()+int64(d), mode)
	}
}
