// Package rt runs jobs on one dedicated, real-time OS thread and measures, honestly, how late they
// start.
//
// A Worker locks a goroutine to its thread for the thread's whole life (runtime.LockOSThread, never
// unlocked: when the goroutine returns, the runtime kills the thread) and configures the thread
// through golang.org/x/sys/unix: sched_setattr with SCHED_FIFO (default), SCHED_RR or SCHED_OTHER with
// a nice value, always with SCHED_FLAG_RESET_ON_FORK so that a fork/exec never inherits real-time
// priority; an optional CPU affinity; optional mlockall(MCL_CURRENT|MCL_FUTURE); a 1 ns timer slack;
// and a pre-grown goroutine stack. What the thread actually got is read back from the kernel
// (sched_getattr, sched_getaffinity, VmLck) and reported by Obtained.
//
// The package is Linux-only.
package rt
