package rt

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Worker is one OS thread, locked for its whole life to one goroutine, that runs Jobs.
type Worker struct {
	cfg      Config
	clk      clock
	q        *queue
	obtained Obtained
	done     chan struct{}

	seq      uint32        // futex word (atomic): bumped on every event for the worker (Submit, Every, Close)
	sleeping atomic.Uint32 // 1 while the worker is (about to be) in futexWait
	closed   atomic.Bool
	inflight atomic.Int64 // Submit calls between their closed check and their push
	dropped  atomic.Uint64
	skipped  atomic.Uint64               // wake-up probe deadlines that passed while the worker was busy
	adds     atomic.Pointer[periodicJob] // Treiber stack of periodic jobs not yet seen by the worker

	// Owned by the worker thread.
	ts        unix.Timespec
	periodics []*periodicJob
	futexErr  bool
	inherited unix.CPUSet  // the thread's affinity before setup: the CPUs the process may use
	conf      *confinement // set by ConfineRuntime, undone by Close
	refused   bool         // the kernel refused the requested policy or nice (warning already logged)
	finish    sync.Once    // Close's clean-up after the loop ended
}

type periodicJob struct {
	next     *periodicJob // link in Worker.adds
	job      Job
	interval int64 // ns
	deadline int64 // CLOCK_MONOTONIC ns of the next intended start
}

// ErrNilJob is returned by Submit for a nil Job.
var ErrNilJob = errors.New("rt: nil job")

// Start sets up the worker thread and returns once it runs, or with an error for a bad Config or,
// with Required, when real-time scheduling is not permitted. Without Required, a missing permission
// makes the thread fall back to SCHED_OTHER with one warning; Obtained reports what it got.
func Start(cfg Config) (*Worker, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if cfg.ConfineRuntime && len(cfg.CPUs) == 0 {
		var allowed unix.CPUSet
		if err := unix.SchedGetaffinity(0, &allowed); err != nil {
			return nil, fmt.Errorf("rt: confine runtime: read CPU affinity: %w", err)
		}
		if cpus := cpuList(&allowed); len(cpus) >= 2 {
			cfg.CPUs = cpus[len(cpus)-1:]
		} else if cfg.Required {
			return nil, fmt.Errorf("rt: confine runtime needs 2 or more CPUs, the process may use %s: turn ConfineRuntime off", FormatCPUList(cpus))
		} else {
			cfg.Logger.Warn("rt: cannot confine the runtime: the process may use only one CPU; worker shares it", "cpus", FormatCPUList(cpus))
			cfg.ConfineRuntime = false
		}
	}
	w := &Worker{
		cfg:       cfg,
		clk:       newClock(),
		q:         newQueue(cfg.QueueSize),
		done:      make(chan struct{}),
		periodics: make([]*periodicJob, 0, 16),
	}
	ready := make(chan error, 1)
	go w.run(ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	if cfg.ConfineRuntime {
		if err := w.confine(); err != nil {
			_ = w.Close()
			return nil, err
		}
	}
	return w, nil
}

func (w *Worker) run(ready chan<- error) {
	// Stay off the main thread: a locked goroutine that exits there wedges it instead of ending it,
	// and its affinity is what tools read as the process's. If this goroutine landed there, hold the
	// main thread while a fresh goroutine locks another thread, then let go.
	if unix.Gettid() == unix.Getpid() {
		runtime.LockOSThread()
		locked := make(chan struct{})
		go w.runLocked(ready, locked)
		<-locked
		runtime.UnlockOSThread() // nothing about the main thread was changed
		return
	}
	w.runLocked(ready, nil)
}

func (w *Worker) runLocked(ready chan<- error, locked chan<- struct{}) {
	// Never unlocked: the thread's scheduling state is changed for good, so when this goroutine
	// returns the runtime terminates the thread instead of reusing it.
	runtime.LockOSThread()
	if locked != nil {
		close(locked)
	}
	defer close(w.done)
	if err := w.setup(); err != nil {
		ready <- err
		return
	}
	ready <- nil
	w.loop()
}

// Obtained reports what the worker thread got, as read back from the kernel at Start.
func (w *Worker) Obtained() Obtained {
	o := w.obtained
	o.CPUs = slices.Clone(o.CPUs)
	return o
}

// Dropped counts jobs that were never run: Submit calls that got ErrQueueFull, and jobs still
// queued when Close stopped the worker.
func (w *Worker) Dropped() uint64 { return w.dropped.Load() }

// WakeupsSkipped counts wake-up probe deadlines that passed while the worker was running a job
// (no sample is taken for them: the thread was not asleep, so there is no wake-up to measure).
func (w *Worker) WakeupsSkipped() uint64 { return w.skipped.Load() }

// Submit queues j to run once on the worker thread, stamped now (Stamps.Intended). It never
// blocks: a full queue returns ErrQueueFull and counts the job in Dropped.
func (w *Worker) Submit(j Job) error {
	stamp := nanotime()
	if j == nil {
		return ErrNilJob
	}
	w.inflight.Add(1)
	if w.closed.Load() {
		w.inflight.Add(-1)
		return ErrClosed
	}
	if !w.q.push(j, stamp) {
		w.inflight.Add(-1)
		w.dropped.Add(1)
		return ErrQueueFull
	}
	w.wake()
	w.inflight.Add(-1)
	return nil
}

// Every runs j on the worker thread every interval, the first time as soon as possible (its first
// deadline is now). Deadlines are absolute and kept by the worker thread; Stamps.Intended is the
// deadline, so a late run is measured from when it should have started. Safe to call from any
// goroutine at any time; a non-positive interval or nil job is logged and ignored, as is a call
// after Close.
func (w *Worker) Every(interval time.Duration, j Job) {
	w.EveryFrom(time.Now(), interval, j)
}

// EveryFrom is Every with the first deadline at first (e.g. to stagger several periodic jobs).
func (w *Worker) EveryFrom(first time.Time, interval time.Duration, j Job) {
	if interval <= 0 || j == nil {
		w.cfg.Logger.Error("rt: periodic job ignored: need a positive interval and a non-nil job", "interval", interval)
		return
	}
	if w.closed.Load() {
		return
	}
	p := &periodicJob{job: j, interval: int64(interval), deadline: w.clk.nanos(first)}
	for {
		head := w.adds.Load()
		p.next = head
		if w.adds.CompareAndSwap(head, p) {
			break
		}
	}
	w.wake()
}

// Close stops the worker: it waits for the job running now, then the goroutine returns and its
// thread exits. Jobs still queued are not run and are counted in Dropped; ConfineRuntime's changes
// to the other threads are undone. Close is idempotent; called from a Job it only marks the worker
// closed (the loop stops after that job), and a later Close from another goroutine waits and
// cleans up.
func (w *Worker) Close() error {
	w.closed.Store(true)
	w.wake()
	if unix.Gettid() == w.obtained.TID {
		return nil // on the worker thread itself, i.e. inside a Job
	}
	<-w.done
	w.finish.Do(func() {
		if w.conf != nil {
			w.conf.undo(w.obtained.TID)
		}
		for w.inflight.Load() != 0 {
			runtime.Gosched()
		}
		for {
			if _, _, ok := w.q.pop(); !ok {
				break
			}
			w.dropped.Add(1)
		}
	})
	return nil
}

func (w *Worker) wake() {
	atomic.AddUint32(&w.seq, 1)
	if w.sleeping.Load() != 0 {
		futexWakeOne(&w.seq)
	}
}

// loop is the worker thread's life: run the due work, then sleep in the kernel until the next
// deadline (wake-up probe or periodic job) or until Submit/Every/Close wakes it.
func (w *Worker) loop() {
	probe := int64(w.cfg.WakeupInterval)
	var probeNext int64
	if probe > 0 { // deadlines on multiples of the interval (cyclictest -A style), from the next one on
		probeNext = (nanotime()/probe + 1) * probe
	}
	slept := noDeadline // the deadline the thread was asleep for, until the first pass after waking
	for {
		s := atomic.LoadUint32(&w.seq)
		now := nanotime()
		if probe > 0 && now >= probeNext {
			if slept == probeNext {
				if w.cfg.OnWakeup != nil {
					w.cfg.OnWakeup(time.Duration(now - probeNext))
				}
			} else {
				w.skipped.Add(1)
			}
			probeNext += probe
			if probeNext <= now { // behind: skip forward like cyclictest
				probeNext += (now - probeNext + probe) / probe * probe
			}
		}
		slept = noDeadline
		if w.closed.Load() {
			return
		}
		if w.adds.Load() != nil {
			w.takeAdds()
		}
		if w.runQueued() || w.runDue() {
			continue
		}
		deadline := noDeadline
		if probe > 0 {
			deadline = probeNext
		}
		for _, p := range w.periodics {
			if deadline == noDeadline || p.deadline < deadline {
				deadline = p.deadline
			}
		}
		w.sleeping.Store(1)
		w.sleep(s, deadline)
		w.sleeping.Store(0)
		slept = deadline
	}
}

func (w *Worker) sleep(s uint32, deadline int64) {
	if !w.futexErr {
		switch e := futexWait(&w.seq, s, deadline, &w.ts); e {
		case 0, unix.ETIMEDOUT, unix.EAGAIN, unix.EINTR:
			return
		default:
			w.futexErr = true
			w.cfg.Logger.Error("rt: futex wait failed; worker falls back to polling every 1ms", "err", e)
		}
	}
	// Fallback (futex unusable): poll with clock_nanosleep.
	if lim := nanotime() + int64(time.Millisecond); deadline == noDeadline || deadline > lim {
		deadline = lim
	}
	w.ts = unix.NsecToTimespec(deadline)
	_ = unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &w.ts, nil)
}

func (w *Worker) takeAdds() {
	head := w.adds.Swap(nil)
	start := len(w.periodics)
	for p := head; p != nil; p = p.next {
		w.periodics = append(w.periodics, p)
	}
	slices.Reverse(w.periodics[start:]) // in the order Every was called
	for _, p := range w.periodics[start:] {
		p.next = nil
	}
}

// runQueued runs the submitted jobs queued now (at most one queue's worth, so that periodic jobs
// get their turn); it reports whether it ran any.
func (w *Worker) runQueued() bool {
	ran := false
	for range len(w.q.slots) {
		j, stamp, ok := w.q.pop()
		if !ok {
			break
		}
		ran = true
		j.Run(Stamps{Intended: w.clk.time(stamp), Started: w.clk.time(nanotime())})
		if w.closed.Load() {
			break
		}
	}
	return ran
}

// runDue runs each periodic job whose deadline has passed, earliest first; it reports whether it
// ran any. A job late by more than its interval runs once, measured from its oldest missed
// deadline, and the deadlines it skips are reported in Stamps.Missed.
func (w *Worker) runDue() bool {
	ran := false
	for !w.closed.Load() {
		now := nanotime()
		var due *periodicJob
		for _, p := range w.periodics {
			if p.deadline <= now && (due == nil || p.deadline < due.deadline) {
				due = p
			}
		}
		if due == nil {
			break
		}
		ran = true
		intended := due.deadline
		missed := (now - intended) / due.interval
		due.deadline = intended + (missed+1)*due.interval
		due.job.Run(Stamps{Intended: w.clk.time(intended), Started: w.clk.time(now), Missed: int(missed)})
	}
	return ran
}

// setup configures the calling (locked) thread and reads back what it got.
func (w *Worker) setup() error {
	cfg := w.cfg
	tid := unix.Gettid()
	setThreadName(cfg.Name)
	// 1 ns timer slack (0 would mean "the default", 50µs); the kernel already uses 0 for RT tasks.
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	if err := unix.SchedGetaffinity(0, &w.inherited); err != nil {
		return fmt.Errorf("rt: read CPU affinity: %w", err)
	}
	if len(cfg.CPUs) > 0 {
		var set unix.CPUSet
		set.Zero()
		for _, c := range cfg.CPUs {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			var allowed unix.CPUSet
			_ = unix.SchedGetaffinity(0, &allowed)
			return fmt.Errorf("rt: set CPU affinity %s: %w: use CPUs this process may run on (%s)",
				FormatCPUList(cfg.CPUs), err, FormatCPUList(cpuList(&allowed)))
		}
	}
	if err := w.setPolicy(); err != nil {
		return err
	}
	if cfg.Mlock {
		// MCL_ONFAULT locks pages as they are first touched instead of faulting in every
		// mapping the Go runtime reserves (148 MiB RSS without it, 16 MiB with it in the
		// exporter); the worker's stack is pre-faulted below and its buffers are warm after
		// the first round trip. Kernels before 4.4 reject it: fall back to the plain form.
		err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE | unix.MCL_ONFAULT)
		if err == unix.EINVAL {
			err = unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE)
		}
		if err != nil {
			cfg.Logger.Warn("rt: mlockall failed; page faults may land on the real-time path",
				"err", err, "fix", "raise RLIMIT_MEMLOCK (systemd LimitMEMLOCK=infinity) or grant CAP_IPC_LOCK")
		}
	}
	prefaultStack(stackPrefaultFrames)
	return w.readBack(tid)
}

// howToGrant is the advice logged when real-time scheduling is refused.
const howToGrant = "grant CAP_SYS_NICE (setcap cap_sys_nice+ep <binary>, or systemd AmbientCapabilities=CAP_SYS_NICE), " +
	"or an RT priority limit (systemd LimitRTPRIO=<prio>, limits.conf rtprio), and with cgroup v1 RT group " +
	"scheduling give the cgroup RT runtime (cpu.rt_runtime_us)"

func (w *Worker) setPolicy() error {
	cfg := w.cfg
	var refused []any
	if cfg.Policy.RealTime() {
		attr := unix.SchedAttr{Policy: uint32(cfg.Policy), Priority: uint32(cfg.Priority), Flags: unix.SCHED_FLAG_RESET_ON_FORK}
		err := unix.SchedSetAttr(0, &attr, 0)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("rt: set %s priority %d: %w", cfg.Policy, cfg.Priority, err)
		}
		if cfg.Required {
			return fmt.Errorf("rt: %s priority %d not permitted (%w) and real time is required: %s", cfg.Policy, cfg.Priority, err, howToGrant)
		}
		refused = append(refused, "requested", cfg.Policy.String(), "priority", cfg.Priority, "err", err.Error())
	}
	attr := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: int32(cfg.Nice), Flags: unix.SCHED_FLAG_RESET_ON_FORK}
	err := unix.SchedSetAttr(0, &attr, 0)
	if errors.Is(err, unix.EPERM) && cfg.Nice < 0 {
		if cfg.Required {
			return fmt.Errorf("rt: nice %d not permitted (%w) and the requested scheduling is required: %s", cfg.Nice, err, howToGrant)
		}
		refused = append(refused, "nice_refused", cfg.Nice)
		if refused[0] != "requested" {
			refused = append(refused, "err", err.Error())
		}
		attr.Nice = 0
		err = unix.SchedSetAttr(0, &attr, 0)
	}
	if err != nil {
		return fmt.Errorf("rt: set policy other nice %d: %w", attr.Nice, err)
	}
	if refused != nil {
		w.refused = true
		refused = append(refused, "obtained", "other", "nice", int(attr.Nice), "fix", howToGrant)
		cfg.Logger.Warn("rt: real-time scheduling not permitted; worker thread falls back to SCHED_OTHER", refused...)
	}
	return nil
}

func (w *Worker) readBack(tid int) error {
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return fmt.Errorf("rt: read back scheduling policy: %w", err)
	}
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return fmt.Errorf("rt: read back CPU affinity: %w", err)
	}
	p := Policy(attr.Policy)
	w.obtained = Obtained{
		Policy:       p,
		Priority:     int(attr.Priority),
		Nice:         int(attr.Nice),
		CPUs:         cpuList(&set),
		MemoryLocked: lockedMemory() > 0,
		TID:          tid,
		RealTime:     p.RealTime(),
	}
	w.cfg.Logger.Debug("rt: worker thread ready", "tid", tid, "policy", p.String(), "priority", attr.Priority,
		"nice", attr.Nice, "cpus", FormatCPUList(w.obtained.CPUs), "memory_locked", w.obtained.MemoryLocked)
	return nil
}

func cpuList(set *unix.CPUSet) []int {
	var cpus []int
	for c := range MaxCPU {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}
