package main

import "time"

// RTFlags configure the real-time worker thread (prefix "rt.").
type RTFlags struct {
	Policy   string        `default:"fifo" enum:"fifo,rr,other" help:"Scheduling policy of the EC worker thread (${enum})."`
	Priority int           `default:"50" help:"Real-time priority 1-99 for fifo/rr (50 = what the kernel gives cros_ec_spi's worker via sched_set_fifo)."`
	Nice     int           `default:"0" help:"Nice value for --rt.policy=other."`
	CPUs     string        `name:"cpus" default:"" help:"CPU list the worker thread may run on, e.g. 0 or 1-3 (empty = all)."`
	Mlock    bool          `default:"true" negatable:"" help:"Lock all memory (mlockall) so no page fault lands on the real-time path."`
	Required bool          `default:"false" help:"Fail at startup instead of falling back to SCHED_OTHER when real-time scheduling is not permitted."`
	Wakeup   time.Duration `name:"wakeup-interval" default:"10ms" help:"Interval of the cyclictest-style wake-up latency probe on the worker thread (0 = off)."`
}
