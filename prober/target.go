package prober

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/hist"
	"github.com/ec-exporter/ec_exporter/rt"
)

// opening is the inflight index of a device open.
const opening = -1

// target is one device and its state; mu guards everything below it.
type target struct {
	p        *Prober
	name     string
	open     Opener
	openJob  openJob
	liveness livenessJob
	identity refreshJob // Identity and State commands
	recovery refreshJob // State commands after a recovery

	dev      atomic.Pointer[ec.Device]
	openWait time.Duration // worker thread and retry timer only, never at once
	work     Answers       // scratch answers of the liveness commands (worker thread only)

	mu            sync.Mutex
	openFails     [ec.NumCauses]uint64
	openErr       string
	openCause     ec.Cause // of the latest failed open; CauseNone once open
	up, everUp    bool
	lastSuccess   time.Time
	cmds          []CommandStats
	unsupported   []bool
	delay         hist.Histogram
	answers       Answers
	uptimeAt      time.Time
	resets        uint64
	lastIntended  time.Time // latest liveness deadline accounted for
	busyThrough   time.Time // liveness deadlines up to here were counted as busy
	inflight      bool
	inflightIdx   int // index into cmds, or opening
	inflightStart time.Time
	inflightDone  bool // the watchdog counted the in-flight command as a timeout
}

func (t *target) device() *ec.Device { return t.dev.Load() }

func (t *target) cfg() *Config { return &t.p.cfg }

// submitOpen queues an attempt to open the device on the worker.
func (t *target) submitOpen() {
	if t.p.ctx.Err() != nil {
		return
	}
	if err := t.p.sched.Submit(t.openJob); err != nil {
		t.retryOpenLater()
	}
}

// retryOpenLater queues the next open attempt after the backoff.
func (t *target) retryOpenLater() {
	t.openWait = min(max(2*t.openWait, t.cfg().OpenRetry), MaxOpenRetry)
	time.AfterFunc(t.openWait, t.submitOpen)
}

// openJob opens the device on the worker thread.
type openJob struct{ t *target }

// Run tries to open the device once.
func (j openJob) Run(rt.Stamps) {
	t := j.t
	if t.device() != nil || t.p.ctx.Err() != nil {
		return
	}
	t.begin(opening, t.cfg().Now())
	dev, err := t.open()
	t.mu.Lock()
	counted := t.inflightDone
	t.inflight, t.inflightDone = false, false
	if err != nil {
		cause := ec.CauseOf(err)
		if cause == ec.CauseNone {
			cause = ec.CauseIO
		}
		if !counted {
			t.openFails[cause]++
		}
		t.openCause = cause
		changed := err.Error() != t.openErr
		t.openErr, t.up = err.Error(), false
		t.mu.Unlock()
		if changed { // log the reason once, not on every retry
			t.cfg().Logger.Warn("EC not available; reporting it down and retrying to open it", "device", t.name, "err", err, "retry_max", MaxOpenRetry)
		}
		t.retryOpenLater()
		return
	}
	hadErr := t.openErr != ""
	t.openErr, t.openCause = "", ec.CauseNone
	t.mu.Unlock()
	t.openWait = 0
	if hadErr {
		t.cfg().Logger.Info("EC opened", "device", t.name, "transport", dev.Transport().String())
	}
	t.dev.Store(dev)
	t.request(&t.identity)
	t.p.sched.Every(t.cfg().Interval, t.liveness)
}

// begin marks command i (or opening) as running on the worker.
func (t *target) begin(i int, start time.Time) {
	t.mu.Lock()
	t.inflight, t.inflightIdx, t.inflightStart, t.inflightDone = true, i, start, false
	t.mu.Unlock()
}

// run sends command i, records its outcome and returns its end time and error.
func (t *target) run(dev *ec.Device, i int, a *Answers) (time.Time, error) {
	now := t.cfg().Now
	start := now()
	t.begin(i, start)
	err := t.cfg().Commands[i].Run(dev, a)
	end := now()
	if t.finish(i, start, end, err, dev.LastRetries()) {
		t.request(&t.recovery)
	}
	return end, err
}

// finish records the outcome of command i. It reports whether the EC just recovered.
func (t *target) finish(i int, start, end time.Time, err error, retries int) (recovered bool) {
	d := end.Sub(start)
	cause := ec.CauseOf(err)
	if cause == ec.CauseNone && d > t.cfg().Timeout {
		cause = ec.CauseTimeout
	}
	liveness := t.cfg().Commands[i].Class == Liveness
	t.mu.Lock()
	defer t.mu.Unlock()
	st := &t.cmds[i]
	st.Retries += uint64(max(retries, 0))
	if !t.inflightDone { // else the watchdog already counted it as a timeout
		st.Attempts++
		if cause != ec.CauseNone {
			st.Failures[cause]++
		}
	}
	t.inflight, t.inflightDone = false, false
	if cause == ec.CauseNone {
		if st.Transfer != nil {
			st.Transfer.Observe(d) // working transfers only: failures stay in the counters
		}
		t.lastSuccess = end
		if liveness {
			recovered = t.everUp && !t.up
			t.up, t.everUp = true, true
		}
	} else if liveness || cause == ec.CauseTimeout {
		t.up = false
	}
	return recovered
}

// checkStuck counts t's command or open running past the timeout as a timeout and
// reports whether t holds the worker stuck.
func (t *target) checkStuck(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.inflight || now.Sub(t.inflightStart) <= t.cfg().Timeout {
		return false
	}
	if !t.inflightDone {
		t.inflightDone = true
		if t.inflightIdx == opening {
			t.openFails[ec.CauseTimeout]++
			t.openCause = ec.CauseTimeout
			t.openErr = "opening the device did not finish within the probe timeout (EC or driver stuck)"
		} else {
			st := &t.cmds[t.inflightIdx]
			st.Attempts++
			st.Failures[ec.CauseTimeout]++
		}
		t.up = false
	}
	return true
}

// countBusy counts t's liveness deadlines that passed while the worker is stuck (in any
// device's command) as busy: the worker skips them.
func (t *target) countBusy(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lastIntended.IsZero() {
		return
	}
	iv := t.cfg().Interval
	from := t.lastIntended
	if t.busyThrough.After(from) {
		from = t.busyThrough
	}
	if n := uint64(now.Sub(from) / iv); n > 0 {
		t.addBusy(n)
		t.busyThrough = from.Add(time.Duration(n) * iv)
	}
}

// addBusy counts n skipped deadlines of every liveness command as busy.
func (t *target) addBusy(n uint64) {
	for i := range t.cmds {
		if t.cfg().Commands[i].Class == Liveness {
			t.cmds[i].Attempts += n
			t.cmds[i].Failures[ec.CauseBusy] += n
		}
	}
}

// account books the deadlines of one periodic run (its own and the Missed ones after
// it) and reports whether the run's own deadline was already counted as busy.
func (t *target) account(s rt.Stamps) (skip bool) {
	iv := t.cfg().Interval
	missed := uint64(max(s.Missed, 0))
	last := s.Intended.Add(time.Duration(missed) * iv)
	skip = !t.busyThrough.IsZero() && !s.Intended.After(t.busyThrough)
	if !t.busyThrough.Before(s.Intended.Add(iv)) {
		// Deadlines up to busyThrough were counted while the worker was stuck.
		missed -= min(missed, uint64(t.busyThrough.Sub(s.Intended)/iv))
	}
	t.addBusy(missed)
	t.lastIntended = last
	return skip
}

// livenessJob sends the Liveness commands of one device every interval.
type livenessJob struct{ t *target }

// Run sends one round of liveness commands; it runs on the worker thread and allocates nothing.
func (j livenessJob) Run(s rt.Stamps) {
	t := j.t
	dev := t.device()
	if dev == nil {
		return
	}
	t.mu.Lock()
	skip := t.account(s)
	if !skip {
		t.delay.Observe(s.Delay())
	}
	t.mu.Unlock()
	if skip {
		return
	}
	for i := range t.cfg().Commands {
		if t.cfg().Commands[i].Class == Liveness {
			t.run(dev, i, &t.work)
		}
	}
}

// refresh kinds.
const (
	identityRefresh = iota // Identity and State commands
	stateRefresh           // State commands only
)

// refreshJob re-reads the Identity and State commands (or only the State ones) of one device.
type refreshJob struct {
	t       *target
	kind    int
	pending atomic.Bool
}

// request queues r unless it is already queued.
func (t *target) request(r *refreshJob) {
	if !r.pending.CompareAndSwap(false, true) {
		return
	}
	if err := t.p.sched.Submit(r); err != nil {
		r.pending.Store(false)
		// The refresh could not even be queued: count every command it would have sent as busy.
		t.mu.Lock()
		for i := range t.cmds {
			if r.wants(t.cfg().Commands[i].Class) && !t.unsupportedLocked(i) {
				t.cmds[i].Attempts++
				t.cmds[i].Failures[ec.CauseBusy]++
			}
		}
		t.mu.Unlock()
	}
}

func (r *refreshJob) wants(c Class) bool {
	return c == State || (c == Identity && r.kind == identityRefresh)
}

func (t *target) unsupportedLocked(i int) bool { return t.unsupported != nil && t.unsupported[i] }

// Run sends the commands of the refresh the EC supports, one after the other.
func (r *refreshJob) Run(s rt.Stamps) {
	r.pending.Store(false)
	t := r.t
	dev := t.device()
	if dev == nil {
		return
	}
	t.mu.Lock()
	t.delay.Observe(s.Delay())
	t.mu.Unlock()
	reset := false
	for i, c := range t.cfg().Commands {
		if !r.wants(c.Class) {
			continue
		}
		t.mu.Lock()
		a := t.answers
		skip := t.unsupportedLocked(i)
		t.mu.Unlock()
		if skip {
			continue
		}
		prevUptime := a.Uptime
		end, err := t.run(dev, i, &a)
		t.mu.Lock()
		if ec.IsUnsupported(err) {
			if t.unsupported == nil {
				t.unsupported = make([]bool, len(t.cmds))
			}
			t.unsupported[i] = true
			t.cfg().Logger.Info("EC does not support command, not asking again", "device", t.name, "command", c.Name)
		}
		if err == nil {
			if a.Uptime != prevUptime && a.Uptime != nil {
				reset = t.checkReset(prevUptime, a.Uptime, end) || reset
			}
			t.answers = a
		}
		t.mu.Unlock()
	}
	if reset && r.kind == stateRefresh {
		t.request(&t.identity)
	}
}

// uptimeWrap is the period of GET_UPTIME_INFO's u32 millisecond uptime.
const uptimeWrap = time.Duration(1<<32) * time.Millisecond

// checkReset compares a new uptime reading u (read at end, a fresh value it may adjust)
// with the previous one and reports whether the EC rebooted in between.
func (t *target) checkReset(prev, u *ec.UptimeInfo, end time.Time) bool {
	reset := false
	if prev != nil {
		// Expected uptime now, had the EC kept running since the last read.
		elapsed := end.Sub(t.uptimeAt)
		expected := prev.SinceBoot + elapsed
		// time_since_ec_boot_ms is a u32: it wraps every ~49.7 days without a reboot.
		// A reading that matches the expected uptime modulo the wrap is unwrapped.
		if k := (expected - u.SinceBoot + uptimeWrap/2) / uptimeWrap; k >= 1 {
			if d := u.SinceBoot + k*uptimeWrap - expected; d.Abs() <= time.Second+elapsed/100 {
				u.SinceBoot += k * uptimeWrap
			}
		}
		if u.SinceBoot+time.Second < expected-expected/100 {
			t.resets++
			reset = true
		}
	}
	t.uptimeAt = end
	return reset
}

func (t *target) snapshot(s *Snapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.Device = t.name
	s.Open = t.dev.Load() != nil
	s.OpenFailures = t.openFails
	s.OpenErr = t.openErr
	s.OpenCause = t.openCause
	s.Up = t.up && s.Open
	s.LastSuccess = t.lastSuccess
	s.Commands = make([]CommandStats, len(t.cmds))
	for i, c := range t.cmds {
		if c.Transfer != nil {
			h := *c.Transfer
			c.Transfer = &h
		}
		s.Commands[i] = c
	}
	s.ScheduleDelay = t.delay
	s.Answers = t.answers
	s.UptimeAt = t.uptimeAt
	s.ResetsDetected = t.resets
}
