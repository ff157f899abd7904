package main

import (
	"sync/atomic"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/prober"
	"github.com/ec-exporter/ec_exporter/rt"
)

// stressDevice is the EC the stress job talks to.
type stressDevice = *ec.Device

// The commands the stress job sends, by their name in prober's table: HELLO, and
// GET_VERSION like the seed's `ectool version` loop.
const (
	stressHello = iota
	stressVersion
	stressCommands
)

var stressCommandNames = [stressCommands]string{"hello", "get_version"}

// stressTable returns the table entries of the stress commands.
func stressTable() [stressCommands]prober.Command {
	var out [stressCommands]prober.Command
	for i, name := range stressCommandNames {
		c, ok := prober.Lookup(name)
		if !ok {
			panic("stress: command " + name + " is not in prober.Commands")
		}
		out[i] = c
	}
	return out
}

// policyStats are the counters of one policy's run. The counters are atomics so
// the progress line can read them while the worker writes; the histograms are
// written only by the worker thread and read after it has stopped.
type policyStats struct {
	transfers atomic.Uint64
	successes atomic.Uint64
	failures  atomic.Uint64
	retries   atomic.Uint64
	missed    atomic.Uint64               // periodic deadlines the worker skipped (rate N/s only)
	causes    [ec.NumCauses]atomic.Uint64 // by ec.Cause; [CauseNone] unused
	commands  [stressCommands]atomic.Uint64
	cmdFails  [stressCommands]atomic.Uint64
	sched     latencyHist // job intended start → started on the worker
	xfer      latencyHist // command start → answer verified (or failed)

	// The first failures and the first very slow successes, for diagnosis (worker-only).
	start   time.Time
	events  [maxEvents]stressEvent
	nEvents int
	nFailEv int // failure events among them
}

// maxEvents bounds the diagnostic events kept per policy; at most half go to slow successes.
const maxEvents = 64

// slowEvent is the transfer latency from which a successful command is kept as
// an event: past the EC's 8 ms CS budget, something stalled the host.
const slowEvent = 8 * time.Millisecond

// stressEvent is one failed or slow command.
type stressEvent struct {
	at    time.Duration // since the policy's start
	cmd   int
	cause ec.Cause // CauseNone for a slow success
	took  time.Duration
	delay time.Duration
}

// record books one finished command. It does not allocate.
func (s *policyStats) record(cmd int, delay, took time.Duration, retries int, err error) {
	s.sched.Record(delay)
	s.xfer.Record(took)
	s.commands[cmd].Add(1)
	if retries > 0 {
		s.retries.Add(uint64(retries))
	}
	c := ec.CauseNone
	if err == nil {
		s.successes.Add(1)
	} else {
		c = ec.CauseOf(err)
		if c == ec.CauseNone || int(c) >= ec.NumCauses {
			c = ec.CauseIO
		}
		s.causes[c].Add(1)
		s.cmdFails[cmd].Add(1)
		s.failures.Add(1)
	}
	keep := err != nil || (took >= slowEvent && s.nEvents-s.nFailEv < maxEvents/2)
	if keep && s.nEvents < maxEvents && !s.start.IsZero() {
		s.events[s.nEvents] = stressEvent{at: time.Since(s.start), cmd: cmd, cause: c, took: took, delay: delay}
		s.nEvents++
		if err != nil {
			s.nFailEv++
		}
	}
	s.transfers.Add(1) // last: a reader that sees it sees the rest
}

// stressJob sends one command per run: HELLO, and GET_VERSION every
// versionEvery-th run, like the seed's `ectool version` loop.
type stressJob struct {
	dev          stressDevice
	cmds         [stressCommands]prober.Command // from stressTable
	answers      prober.Answers
	st           *policyStats
	versionEvery uint64
	n            uint64
	// resubmit, when set, queues the job again at the end of each run (rate=max:
	// back to back on the worker thread, no other thread in between).
	resubmit func(rt.Job) error
	stop     *atomic.Bool
	// until ends the run on the worker thread itself, so the measured window
	// is exact even when the (SCHED_OTHER) main goroutine is starved by the load.
	until time.Time
	// queueErr counts resubmissions the worker refused (it is closing).
	queueErr atomic.Uint64
}

// Run implements rt.Job.
func (j *stressJob) Run(s rt.Stamps) {
	if j.stop.Load() {
		return
	}
	if !j.until.IsZero() && !s.Started.Before(j.until) {
		j.stop.Store(true)
		return
	}
	delay := s.Delay()
	if s.Missed > 0 {
		j.st.missed.Add(uint64(s.Missed))
	}
	cmd := stressHello
	j.n++
	if j.versionEvery > 0 && j.n%j.versionEvery == 0 {
		cmd = stressVersion
	}
	t0 := time.Now()
	err := j.cmds[cmd].Run(j.dev, &j.answers)
	took := time.Since(t0)
	j.st.record(cmd, delay, took, j.dev.LastRetries(), err)
	if j.resubmit != nil && !j.stop.Load() {
		if err := j.resubmit(j); err != nil {
			j.queueErr.Add(1)
		}
	}
}
