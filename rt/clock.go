package rt

import (
	"time"
	_ "unsafe" // for go:linkname
)

// nanotime is the Go runtime's CLOCK_MONOTONIC reading through the vDSO (no syscall, no
// allocation); the runtime keeps this linkname for external users (go.dev/issue/67401).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// clock converts CLOCK_MONOTONIC nanoseconds into time.Time values that carry Go's monotonic
// reading, so that Sub between two converted values is exact in nanoseconds.
type clock struct {
	base     time.Time
	baseNano int64
}

func newClock() clock {
	best := clock{}
	bestGap := int64(1 << 62)
	for range 16 {
		t0 := nanotime()
		b := time.Now()
		t1 := nanotime()
		if g := t1 - t0; g < bestGap {
			bestGap = g
			best = clock{base: b, baseNano: t0 + g/2}
		}
	}
	return best
}

func (c *clock) time(ns int64) time.Time { return c.base.Add(time.Duration(ns - c.baseNano)) }

func (c *clock) nanos(t time.Time) int64 { return c.baseNano + int64(t.Sub(c.base)) }
