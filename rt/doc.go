// Package rt runs jobs on one dedicated, real-time OS thread and measures, honestly, how late they
// start. It is Linux-only and imports nothing from Prometheus: results leave as Stamps passed to
// jobs and as the wake-up overshoot histogram Worker.Wakeups copies (each overshoot also goes to
// Config.OnWakeup, for tools that want the raw values).
//
// # The thread
//
// Start launches a goroutine that calls runtime.LockOSThread and never unlocks: when the worker is
// closed the goroutine returns and the runtime terminates the thread, so its changed scheduling
// state can never leak to other goroutines. On that thread Start, in order: names it (Config.Name,
// visible in ps -L / top -H); sets a 1 ns timer slack (PR_SET_TIMERSLACK; the kernel already uses 0
// for RT tasks); sets the CPU affinity (Config.CPUs); sets the policy with sched_setattr, always
// with SCHED_FLAG_RESET_ON_FORK so that anything forked or exec'd from the thread starts as plain
// SCHED_OTHER; calls mlockall(MCL_CURRENT|MCL_FUTURE|MCL_ONFAULT) if Config.Mlock (process-wide: every page is
// locked once touched, so it is never paged out; ONFAULT avoids faulting in all the address space the
// Go runtime reserves, which cost 148 MiB of RSS); grows the goroutine stack by touching 64 KiB of frames
// so that stack growth (a copy) does not happen on the real-time path; and finally reads back what
// it got from the kernel (sched_getattr, sched_getaffinity, VmLck in /proc/self/status) into
// Obtained. The TID, policy and priority there are the kernel's, not the requested values.
//
// # Priority 50
//
// The default real-time priority is 50, the value the kernel's sched_set_fifo() gives its own
// real-time helpers (MAX_RT_PRIO/2), among them cros_ec_spi's transfer worker and the SPI core's
// message pump when a controller asks for real-time pumping. Running at the same priority puts the
// exporter's EC transfers on a par with the kernel's own EC traffic: above every SCHED_OTHER task
// (the nice −20 CPU hogs and I/O floods that starve a normal thread), but not above threaded IRQ
// handlers (also FIFO 50 and scheduled round in FIFO order) or anything an administrator deliberately
// put higher. A higher priority would let a buggy job starve the interrupt threads the SPI transfer
// itself needs. Priorities 1–99 are accepted.
//
// # Without permission
//
// Real-time policies need CAP_SYS_NICE or an RLIMIT_RTPRIO at least as high as the priority (and,
// with cgroup v1 RT group scheduling, RT runtime in the cgroup). When sched_setattr answers EPERM the
// worker falls back to SCHED_OTHER (with Config.Nice if permitted, else nice 0), logs exactly one
// warning that names the fix (setcap cap_sys_nice+ep, systemd AmbientCapabilities=CAP_SYS_NICE or
// LimitRTPRIO=, cpu.rt_runtime_us), and Obtained says policy other. With Config.Required the same
// refusal is a Start error instead.
//
// # Honest timing
//
// Every schedule delay is Stamps.Started − Stamps.Intended, both on CLOCK_MONOTONIC read through the
// vDSO (no syscall, no allocation). For periodic jobs (Every) the worker thread itself keeps absolute
// deadlines, like cyclictest's next: Intended is the deadline, so a late run is measured from when it
// should have started, never from when some possibly starved goroutine got round to asking. A run
// late by more than one interval stands for all the deadlines it missed: Intended is the oldest,
// Stamps.Missed counts the rest (skipped, as cyclictest skips), so the caller can account for them
// (coordinated omission). One-off jobs (Submit) are stamped when Submit is called, by the caller;
// the delay includes everything between the two stamps: queueing behind other jobs, waking the
// thread, the Go runtime and the kernel scheduler. The Submit queue is a bounded lock-free ring
// (producers never block and the worker never waits for a producer); a full queue returns
// ErrQueueFull and is counted in Dropped, as are jobs still queued at Close. No allocation per job
// or per wake-up (tested with testing.AllocsPerRun).
//
// The wake-up probe (Config.WakeupInterval > 0) is cyclictest's measurement on the worker thread:
// sleep to an absolute CLOCK_MONOTONIC deadline, read the clock as soon as the thread is back in
// user space, record that − deadline, advance next += interval and skip forward when behind. The
// clock is read inside the runtime's system-call bracket (entersyscall, the raw futex call, the
// vDSO clock read, exitsyscall: what syscall.Syscall6 does, plus the read), so the sample is the
// kernel's part of the wake-up, comparable with cyclictest's at the same priority; what
// exitsyscall then takes to give the goroutine a P (see below) is recorded apart, for every
// return from a sleep, in Worker.RuntimeDelays. A job's Stamps.Started is read after both: its
// delay is the whole of it. A sample is taken only when the thread was
// actually asleep for that deadline; deadlines that pass while a job runs have no wake-up to
// measure (cyclictest has no jobs; here the job's own delay is what Stamps report). The worker
// records into a hist.Recorder (a seqlock: about 50 ns, no lock, no allocation) that scrapes copy
// with Worker.Wakeups without ever making the worker wait; before, the samples went through a
// mutex that every scrape also took.
//
// # How the thread waits: futex in the kernel, not a channel
//
// Between jobs the thread sleeps in the kernel, in one futex(FUTEX_WAIT_BITSET) call whose timeout
// is the absolute CLOCK_MONOTONIC deadline min(next periodic job, next wake-up probe). That is the
// same hrtimer sleep as clock_nanosleep(TIMER_ABSTIME) (same clock, absolute, same slack rules), but
// it can also be ended early: Submit, Every and Close bump the futex word and, only if the worker is
// asleep, FUTEX_WAKE it. No signal is involved, so there is no EINTR storm and no interplay with
// the runtime's SIGURG preemption; EINTR from other signals just loops (deadlines are absolute).
// The wait is bracketed by the runtime's entersyscall/exitsyscall (as unix.Syscall6 does), never a
// bare RawSyscall: a goroutine blocked in a raw syscall keeps its P "running", a GC stop-the-world
// would wait for it, and sysmon would preempt it every 10 ms.
//
// The alternative, a locked goroutine blocked on a channel (and a Go timer for deadlines), was
// measured in the same conditions (tools/rtbench, docs/benchmarks.md) and rejected: with nice −20
// CPU hogs on both cores, its timer wake-ups had p50 ≈ 0.9 ms and p99 ≈ 87 ms, and channel
// Submit delays p99 ≈ 2.8 ms, because every hop before the final futex hand-off to the FIFO thread
// (readying the goroutine, an M picking it from a run queue, the timer being run by some P) is done
// by ordinary SCHED_OTHER runtime threads that the hogs starve. The futex path's p50/p99 (19/38 µs
// wake-up, 8/40 µs Submit) equal a bare clock_nanosleep loop's (17/32 µs) and cyclictest's.
//
// # GOMAXPROCS and the syscall return path
//
// Waking from the futex is not the end: exitsyscall must give the goroutine a P before any Go code
// runs. If the P it had is still its own (sysmon did not retake it), that is a CAS. Sysmon retakes a
// P blocked in a syscall when the syscall has lasted 10 ms, or after one sysmon tick (≥ 20 µs) if
// that P has queued goroutines or no other P is idle. The worker then needs an idle P; if every P is
// busy running goroutines, the worker's goroutine goes to the global run queue and the FIFO thread
// sleeps until some other (SCHED_OTHER) thread schedules it: the Go scheduler's time slice, 10 ms and
// more. Measured under CPU hogs with two CPU-bound goroutines in the same process, the periodic
// job's median was 0.8 s late at GOMAXPROCS=2; spare Ps (GOMAXPROCS=3 or 4) brought the wake-up
// p99 back to 35–37 µs, though not the rare stalls described below. So keep Ps idle beside the
// worker: a binary that also does CPU-heavy work should set GOMAXPROCS ≥ (CPU-bound goroutines) + 2
// (e.g. runtime.GOMAXPROCS(runtime.NumCPU()+2)). With Go ≥ 1.25 setting it also stops the periodic
// GOMAXPROCS re-evaluation, whose update stops the world. Jobs should not wake other goroutines
// (a goroutine readied from the worker lands in the worker P's run queue, which invites the retake).
//
// Measured with tracefs and uprobes on runtime.exitsyscall (TRACE=1 scripts/bench-wakeup.sh; Go
// 1.26.8, 2 vCPUs, CPU hogs): sysmon took the worker's P during 58 % of its 1 ms sleeps. Retake
// treats a P whose scheduling tick has not moved for 10 ms (forcePreemptNS) as running too long,
// and the worker's goroutine, which never passes through the Go scheduler, keeps one tick for
// ever; the sysretake branch skips the "no other work, idle Ps exist" exemption. Each such wake-up
// then takes exitsyscall's slow path (an idle P from the list under sched.lock, and a futex wake
// of sysmon, which went to deep sleep once every P was idle): sys_exit → Go code 26 µs at the
// median and 56 µs at p99, against 4 and 18 µs with the P kept. The tick only moves when the
// goroutine is rescheduled, and that round trip goes through the other (SCHED_OTHER) threads:
// a runtime.Gosched every 5 ms while idle kept the P in all but 4 of 9 980 wake-ups but raised
// the wake-up p99 to 1.5 ms (unconfined) and 27 ms (confined) under load, so the worker does not. This is the floor a locked Go
// thread pays over cyclictest at the median; docs/benchmarks.md has the figures. Worker.RuntimeDelays
// shows it on every host: ~4–5 µs with the P kept, ~20 µs without, milliseconds without an idle P.
//
// # GC off the job path
//
// The job path allocates nothing, so the worker never does GC assist work and never triggers a GC.
// While the worker sleeps in the futex the GC can stop the world and scan its stack without waiting
// for it; if the worker wakes during a stop-the-world it waits in exitsyscall until the world
// restarts (normally tens of µs; under CPU hogs much longer, see below: the stop-the-world is run
// by SCHED_OTHER threads). During a GC cycle, background mark workers occupy up to 25 % of the Ps,
// which makes an idle P rarer (see above). For the binary: keep GC cycles rare with
// debug.SetGCPercent(400) (or GOGC) plus debug.SetMemoryLimit as a backstop, and avoid
// runtime.ReadMemStats, goroutine profiles and runtime/trace in production (they stop the world).
// The pre-grown stack may be shrunk by a GC while the worker runs Go code (not while it is in a
// syscall); GODEBUG=gcshrinkstackoff=1 prevents that if it ever shows up. Jobs should finish well
// under 10 ms: a goroutine running longer is preempted by sysmon (SIGURG), and a preempted locked
// goroutine must be rescheduled through the Go scheduler.
//
// # What limits it: the runtime's own SCHED_OTHER threads
//
// Under nice −20 CPU hogs on both cores the worker matches cyclictest at p50 and p99 (and meets the
// ≤ 100 µs schedule-delay p99), but its rare worst cases are worse than cyclictest's: in 180 s side
// by side, cyclictest's maximum was 31 ms while Go threads (this worker, and equally a bare
// clock_nanosleep loop) saw single stalls of 0.2–1 s. Returning from any syscall needs the runtime:
// since Go 1.26 sysmon briefly holds the scan bit of a goroutine in a syscall
// (setBlockOnExitSyscall, in retake) and a goroutine returning in that window spins in exitsyscall
// until sysmon lets go; a GC stop-the-world blocks the return too. When the FIFO thread wakes on the
// CPU where sysmon (nice 0) runs, it preempts sysmon, then spins waiting for it, and sysmon must be
// migrated to the other CPU where the hogs leave it about 1 % of the time; RT throttling (950 ms per
// second) bounds the stall. Likewise a GC cycle's stop-the-world is run by SCHED_OTHER threads.
//
// Config.ConfineRuntime (with RuntimeNice −20) is the mitigation: the worker gets a CPU of its own
// and every other thread of the process is pinned to the remaining CPUs and reniced, so the worker
// never preempts a runtime thread and the runtime is not starved. Unless Config.CPUs names it, the
// worker's CPU is the one that has served the fewest device interrupts (WorkerCPU): a pinned
// thread cannot dodge the interrupt handlers and softirqs of its CPU, and on the 2-vCPU test VM
// the block device's interrupts all land on CPU 1. Measured under CPU hogs with GC
// churn (62 GCs in 15 s) the periodic job's max was 3.8 ms confined against 588–697 ms unconfined;
// in one 180 s run without GC the max fell from 975 ms to 9.8 ms, while in shorter runs it made no
// clear difference (a worker pinned to one CPU cannot dodge that CPU's other RT work, and its p99
// rises a little). Close undoes the confinement. The zero Config leaves it off, because it changes
// every thread of the process; the exporter turns it on by flag. docs/benchmarks.md has the figures.
package rt
