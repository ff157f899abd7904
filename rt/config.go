package rt

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Config describes the worker thread to set up. The zero value is a SCHED_OTHER worker.
type Config struct {
	Policy   Policy // scheduling policy; FIFO is what an EC worker should use
	Priority int    // real-time priority 1-99 for FIFO/RR; 0 = DefaultPriority (50)
	Nice     int    // nice value -20..19 used whenever the thread runs SCHED_OTHER (asked for, or fallen back to)
	CPUs     []int  // CPUs the thread may run on; empty = leave the inherited affinity
	Mlock    bool   // mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT) for the whole process
	Required bool   // fail Start instead of falling back to SCHED_OTHER when real time is not permitted

	// WakeupInterval enables the cyclictest-style wake-up probe: the thread sleeps to absolute
	// CLOCK_MONOTONIC deadlines this far apart (500 µs past multiples of the interval since the
	// clock's origin, off the kernel tick's grid) and reports each overshoot to OnWakeup. 0 = off.
	WakeupInterval time.Duration
	// OnWakeup receives each wake-up overshoot, on the worker thread (never concurrently with a Job).
	// It must not block or allocate.
	OnWakeup func(overshoot time.Duration)

	// ConfineRuntime pins every other thread of the process (sysmon, the template thread, the
	// threads running other goroutines; later threads inherit it) to the allowed CPUs not in CPUs,
	// so the worker never preempts a runtime thread it then has to wait for (see the package doc).
	// CPUs must leave at least one allowed CPU to the rest of the process; with CPUs empty the
	// worker gets WorkerCPU: of the CPUs the process may use, the one that serves the fewest device
	// interrupts (with only one CPU: a warning, no confinement, or a Start error with Required). It also fixes
	// GOMAXPROCS at its current value (runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))), since the runtime
	// would otherwise lower it to match the narrowed affinity.
	ConfineRuntime bool
	// RuntimeNice, with ConfineRuntime, is the nice value given to those other threads (0 = leave),
	// e.g. -20 so that the runtime's helpers are not starved by nice −20 CPU hogs. A negative value
	// needs the same permission as real time; without it the threads keep their nice (after the
	// fallback warning, no second one). Close restores the CPUs and nice values.
	RuntimeNice int

	QueueSize int          // capacity of the Submit queue (rounded up to a power of two); 0 = DefaultQueueSize
	Logger    *slog.Logger // receives the one fallback warning and setup errors; nil = slog.Default()
	Name      string       // thread name shown by ps/top (at most 15 bytes); "" = "rt-worker"
}

// DefaultQueueSize is the Submit queue capacity used when Config.QueueSize is 0.
const DefaultQueueSize = 64

// maxQueueSize bounds Config.QueueSize.
const maxQueueSize = 1 << 20

// Obtained is what the worker thread actually got, read back from the kernel after setup.
type Obtained struct {
	Policy       Policy // policy reported by sched_getattr
	Priority     int    // real-time priority reported by sched_getattr (0 for SCHED_OTHER)
	Nice         int    // nice value reported by sched_getattr
	CPUs         []int  // CPUs in the thread's affinity mask (sched_getaffinity)
	MemoryLocked bool   // mlockall succeeded and the kernel reports locked memory (VmLck > 0)
	TID          int    // the thread's Linux thread id
	RealTime     bool   // Policy is FIFO or RR
}

// Stamps are the times of one job run, on CLOCK_MONOTONIC (both carry Go's monotonic reading).
type Stamps struct {
	// Intended is when the job should have started: the absolute deadline of a periodic job
	// (Every), or the moment Submit was called for a one-off job.
	Intended time.Time
	// Started is read on the worker thread just before Job.Run is called.
	Started time.Time
	// Missed counts deadlines of this periodic job that passed without a run since its previous run
	// (the worker was late by more than one interval). Always 0 for Submit.
	Missed int
}

// Delay is the schedule delay, Started − Intended: every delay between the two stamps.
func (s Stamps) Delay() time.Duration { return s.Started.Sub(s.Intended) }

// Job is work run on the worker thread. Run must not keep s beyond the call.
type Job interface {
	Run(s Stamps)
}

// JobFunc adapts a function to Job. A func value converted to an interface may allocate once;
// convert it once and reuse the Job.
type JobFunc func(s Stamps)

// Run calls f(s).
func (f JobFunc) Run(s Stamps) { f(s) }

// Errors returned by Submit.
var (
	ErrQueueFull = errors.New("rt: worker queue full, job dropped")
	ErrClosed    = errors.New("rt: worker closed")
)

// validate checks cfg and fills defaults; it returns a copy.
func (cfg Config) validate() (Config, error) {
	switch cfg.Policy {
	case Other, FIFO, RR:
	default:
		return cfg, fmt.Errorf("rt: unknown policy %d: use rt.FIFO, rt.RR or rt.Other", int(cfg.Policy))
	}
	if cfg.Policy.RealTime() {
		if cfg.Priority == 0 {
			cfg.Priority = DefaultPriority
		}
		if cfg.Priority < 1 || cfg.Priority > 99 {
			return cfg, fmt.Errorf("rt: priority %d out of range: use 1-99 for %s (%d = sched_set_fifo default)", cfg.Priority, cfg.Policy, DefaultPriority)
		}
	} else if cfg.Priority != 0 {
		return cfg, fmt.Errorf("rt: priority %d given for policy other: priority applies to fifo/rr only; use Nice for other", cfg.Priority)
	}
	if cfg.Nice < -20 || cfg.Nice > 19 {
		return cfg, fmt.Errorf("rt: nice %d out of range: use -20..19", cfg.Nice)
	}
	if cfg.RuntimeNice < -20 || cfg.RuntimeNice > 19 {
		return cfg, fmt.Errorf("rt: runtime nice %d out of range: use -20..19", cfg.RuntimeNice)
	}
	for _, c := range cfg.CPUs {
		if c < 0 || c >= MaxCPU {
			return cfg, fmt.Errorf("rt: CPU %d out of range: use 0-%d", c, MaxCPU-1)
		}
	}
	if cfg.WakeupInterval < 0 {
		return cfg, fmt.Errorf("rt: wake-up interval %v is negative: use 0 (off) or a positive duration", cfg.WakeupInterval)
	}
	if cfg.WakeupInterval > 0 && cfg.WakeupInterval < 10*time.Microsecond {
		return cfg, fmt.Errorf("rt: wake-up interval %v is too short: use at least 10µs", cfg.WakeupInterval)
	}
	if cfg.QueueSize < 0 || cfg.QueueSize > maxQueueSize {
		return cfg, fmt.Errorf("rt: queue size %d out of range: use 1-%d (0 = %d)", cfg.QueueSize, maxQueueSize, DefaultQueueSize)
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Name == "" {
		cfg.Name = "rt-worker"
	}
	if len(cfg.Name) > 15 || strings.ContainsRune(cfg.Name, 0) {
		return cfg, fmt.Errorf("rt: thread name %q too long: use at most 15 bytes", cfg.Name)
	}
	return cfg, nil
}
