package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/ec-exporter/ec_exporter/rt"
)

// RTFlags configure the real-time worker thread (prefix "rt.").
type RTFlags struct {
	Policy   string        `default:"fifo" enum:"fifo,rr,other" help:"Scheduling policy of the EC worker thread (${enum})."`
	Priority int           `default:"50" help:"Real-time priority 1-99 for fifo/rr (50 = what the kernel gives cros_ec_spi's worker via sched_set_fifo)."`
	Nice     int           `default:"0" help:"Nice value for --rt.policy=other."`
	CPUs     string        `name:"cpus" default:"" help:"CPU list the worker thread may run on, e.g. 0 or 1-3 (empty = all)."`
	Mlock    bool          `default:"true" negatable:"" help:"Lock all memory (mlockall) so no page fault lands on the real-time path."`
	Required bool          `default:"false" help:"Fail at startup instead of falling back to SCHED_OTHER when real-time scheduling is not permitted."`
	Confine  bool          `name:"confine-runtime" default:"true" negatable:"" help:"Give the worker a CPU of its own (--rt.cpus, or the CPU serving the fewest device interrupts) and pin the process's other threads (Go runtime, HTTP) to the rest, so the worker never waits for a runtime thread it preempted (see docs/benchmarks.md)."`
	RTNice   int           `name:"runtime-nice" default:"-20" help:"With --rt.confine-runtime: nice value for the process's other threads, so CPU hogs cannot starve the Go runtime (0 = leave)."`
	Wakeup   time.Duration `name:"wakeup-interval" default:"100ms" help:"Interval of the cyclictest-style wake-up latency probe on the worker thread (0 = off)."`
}

// Config turns the flags into an rt.Config (OnWakeup is left for the caller to set).
func (f RTFlags) Config(logger *slog.Logger) (rt.Config, error) {
	policy, err := rt.ParsePolicy(f.Policy)
	if err != nil {
		return rt.Config{}, fmt.Errorf("--rt.policy: %w", err)
	}
	cpus, err := rt.ParseCPUList(f.CPUs)
	if err != nil {
		return rt.Config{}, fmt.Errorf("--rt.cpus: %w", err)
	}
	cfg := rt.Config{
		Policy:         policy,
		Nice:           f.Nice,
		CPUs:           cpus,
		Mlock:          f.Mlock,
		Required:       f.Required,
		WakeupInterval: f.Wakeup,
		ConfineRuntime: f.Confine,
		RuntimeNice:    f.RTNice,
		Logger:         logger,
		Name:           "ec-worker",
	}
	if policy.RealTime() {
		if f.Priority < 1 || f.Priority > 99 {
			return rt.Config{}, fmt.Errorf("--rt.priority=%d: use 1-99 for --rt.policy=%s", f.Priority, policy)
		}
		cfg.Priority = f.Priority
	}
	if f.Nice < -20 || f.Nice > 19 {
		return rt.Config{}, fmt.Errorf("--rt.nice=%d: use -20..19", f.Nice)
	}
	if f.RTNice < -20 || f.RTNice > 19 {
		return rt.Config{}, fmt.Errorf("--rt.runtime-nice=%d: use -20..19", f.RTNice)
	}
	if f.Wakeup < 0 {
		return rt.Config{}, fmt.Errorf("--rt.wakeup-interval=%v: use 0 (off) or a positive duration", f.Wakeup)
	}
	return cfg, nil
}
