package rt

import (
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// WakeupPhase puts the wake-up probe's deadlines half a millisecond off whole milliseconds of
// CLOCK_MONOTONIC (modulo the interval). The kernel aligns its periodic tick to multiples of
// TICK_NSEC (1–10 ms) on that clock (kernel/time/tick-common.c, tick_setup_device), so a deadline
// on a whole millisecond expires in the same timer interrupt as the tick, and the woken thread
// waits for the tick's own work and the softirqs it raises before it runs. cyclictest's deadlines
// have a random phase; these have one as far from the tick as the 1 ms grid allows.
const WakeupPhase = 500 * time.Microsecond

// loop is the worker thread's life: run the due work, then sleep in the kernel until the next
// deadline (wake-up probe or periodic job) or until Submit/Every/Close wakes it.
func (w *Worker) loop() {
	probe := int64(w.cfg.WakeupInterval)
	var probeNext int64
	if probe > 0 { // deadlines a fixed phase past multiples of the interval, from the next one on
		probeNext = (nanotime()/probe+1)*probe + int64(WakeupPhase)%probe
	}
	slept := noDeadline // the deadline the thread was asleep for, until the first pass after waking
	var back int64      // when the thread came back from that sleep, before the runtime (futexWait)
	for {
		s := atomic.LoadUint32(&w.seq)
		now := nanotime()
		if back != 0 { // the runtime's share of the return from the last sleep
			w.returns.Observe(time.Duration(now - back))
		}
		if probe > 0 && now >= probeNext {
			// Only a deadline the thread slept for, and came back after, is a wake-up; one that
			// passed while a job ran has none to measure (the job's own delay is what its Stamps
			// report). The overshoot is taken when the thread returned from the kernel, as
			// cyclictest takes it; the runtime's share after that went to w.returns above.
			if slept == probeNext && back >= probeNext {
				d := time.Duration(back - probeNext)
				w.wakeups.Observe(d)
				if w.cfg.OnWakeup != nil {
					w.cfg.OnWakeup(d)
				}
			}
			probeNext += probe
			if probeNext <= now { // behind: skip forward like cyclictest
				probeNext += (now - probeNext + probe) / probe * probe
			}
		}
		slept, back = noDeadline, 0
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
		if deadline != noDeadline && nanotime() >= deadline {
			// It passed after the loop's top (the goroutine was held up before it could sleep, e.g.
			// preempted): no sleep, so no wake-up to measure.
			continue
		}
		w.sleeping.Store(1)
		back = w.sleep(s, deadline)
		w.sleeping.Store(0)
		slept = deadline
		preemptPoint()
	}
}

// preemptPoint is a call with a stack check: a preemption the runtime requested while the worker
// slept (gp.preempt survives the system call) is served here, inside the runtime share measured
// at the loop's top, and not at the first call inside a job.
//
//go:noinline
func preemptPoint() { preemptLeaf() }

//go:noinline
func preemptLeaf() {}

// sleep waits until deadline (noDeadline = none) or until the futex word moves from s, and
// returns when the thread came back from the kernel (futexWait).
func (w *Worker) sleep(s uint32, deadline int64) (back int64) {
	if !w.futexErr {
		var ts *unix.Timespec
		if deadline != noDeadline {
			w.ts = unix.NsecToTimespec(deadline)
			ts = &w.ts
		}
		e, back := futexWait(&w.seq, s, ts)
		switch e {
		case 0, unix.ETIMEDOUT, unix.EAGAIN, unix.EINTR:
			return back
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
	return nanosleepUntil(&w.ts)
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
