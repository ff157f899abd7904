package rt

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ec-exporter/ec_exporter/hist"
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
	adds     atomic.Pointer[periodicJob] // Treiber stack of periodic jobs not yet seen by the worker
	wakeups  *hist.Recorder              // wake-up probe overshoots: written by the worker, read by scrapes
	returns  *hist.Recorder              // the runtime's share of each return from a sleep (exitsyscall)

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
			cfg.CPUs = []int{WorkerCPU(cpus)}
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
		wakeups:   hist.NewRecorder(hist.Fine),
		returns:   hist.NewRecorder(hist.Native),
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

// Wakeups returns a copy of the wake-up probe's overshoot histogram (hist.Fine layout; empty
// with Config.WakeupInterval 0). The worker thread records into it without locking or
// allocating; a copy never makes the worker wait (hist.Recorder).
func (w *Worker) Wakeups() hist.Histogram { return w.wakeups.Snapshot() }

// RuntimeDelays returns a copy of the histogram of the Go runtime's share of every return from
// the worker's sleeps: from the thread back in user space (where Wakeups takes its sample) to the
// worker's Go code running, i.e. exitsyscall finding the goroutine a P (hist.Native layout).
func (w *Worker) RuntimeDelays() hist.Histogram { return w.returns.Snapshot() }

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
