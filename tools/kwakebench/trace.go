package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/ec-exporter/ec_exporter/rt"
	"github.com/ec-exporter/ec_exporter/tracefs"
)

// samples are the kernel's wake-up latencies of one thread.
type samples struct {
	mu       sync.Mutex
	wake     []time.Duration // sched_waking → sched_switch in, every wake-up
	deadline []time.Duration // hrtimer expires → sched_switch in, probe timer wake-ups
	probeWk  []time.Duration // sched_waking → sched_switch in, the same probe wake-ups
	final    []time.Duration // hrtimer expires → the last switch-in before the thread sleeps again
	toUser   []time.Duration // hrtimer expires → the sleeping syscall returns to user space
	lines    int
}

// tracer follows one thread's wake-ups in a private tracefs instance.
type tracer struct {
	tid     int
	probe   int64 // ns; deadlines rt.WakeupPhase past multiples of it are probe wake-ups; 0 = every timer wake-up
	in      *tracefs.Instance
	pipe    *os.File
	done    chan error
	s       samples
	expires int64 // latest deadline the thread armed, CLOCK_MONOTONIC ns
	waking  int64 // latest sched_waking of the thread, or 0
	probeAt int64 // the probe deadline being followed, or 0
	lastIn  int64 // the latest switch-in after probeAt
	exited  bool  // the syscall exit after probeAt was recorded
}

// startTrace creates the instance, enables the three events filtered to tid and reads.
func startTrace(root string, tid int, probe time.Duration) (*tracer, error) {
	in, err := tracefs.Open(root, tracefs.PIDName("kwakebench."), 1024)
	if err != nil {
		return nil, err
	}
	t := &tracer{tid: tid, probe: int64(probe), in: in, done: make(chan error, 1)}
	if err := os.WriteFile(filepath.Join(in.Dir, "trace_clock"), []byte("mono"), 0); err != nil {
		in.Remove()
		return nil, fmt.Errorf("trace_clock mono: %w", err)
	}
	for _, ev := range []struct{ sys, name, filter string }{
		{"timer", "hrtimer_start", fmt.Sprintf("common_pid == %d", tid)},
		{"sched", "sched_waking", fmt.Sprintf("pid == %d", tid)},
		{"sched", "sched_switch", fmt.Sprintf("next_pid == %d", tid)},
		{"raw_syscalls", "sys_exit", fmt.Sprintf("common_pid == %d", tid)},
	} {
		if err := in.Enable(ev.sys, ev.name); err != nil {
			in.Remove()
			return nil, err
		}
		_ = in.SetFilter(ev.sys, ev.name, ev.filter) // the code checks the pid anyway
	}
	if t.pipe, err = in.OpenPipe(); err != nil {
		in.Remove()
		return nil, err
	}
	go func() { t.done <- tracefs.Follow(t.pipe, t.handle) }()
	return t, nil
}

// stop ends reading and removes the instance.
func (t *tracer) stop() error {
	t.pipe.Close()
	<-t.done
	return t.in.Remove()
}

func field(body []byte, key string) (int64, bool) {
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return 0, false
	}
	v := body[i+len(key):]
	j := 0
	for j < len(v) && (v[j] >= '0' && v[j] <= '9' || j == 0 && v[j] == '-') {
		j++
	}
	n, err := strconv.ParseInt(string(v[:j]), 10, 64)
	return n, err == nil
}

func (t *tracer) handle(line []byte) {
	l, err := tracefs.ParseLine(line)
	if err != nil {
		return
	}
	ts := int64(l.Time)
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.s.lines++
	switch string(l.Event) {
	case "hrtimer_start":
		if l.PID == t.tid {
			// The thread goes to sleep again: its last switch-in after a probe deadline
			// is when it ran on, so the exporter read its clock after it.
			if t.probeAt != 0 {
				t.s.final = append(t.s.final, time.Duration(t.lastIn-t.probeAt))
				t.probeAt = 0
			}
			if e, ok := field(l.Body, " expires="); ok {
				t.expires = e
			}
		}
	case "sys_exit":
		// The first syscall exit after a probe wake-up is the sleep (futex or
		// clock_nanosleep) returning to user space, just before the exporter reads its clock.
		if l.PID == t.tid && t.probeAt != 0 && !t.exited {
			t.s.toUser = append(t.s.toUser, time.Duration(ts-t.probeAt))
			t.exited = true
		}
	case "sched_waking":
		if pid, ok := field(l.Body, " pid="); ok && pid == int64(t.tid) {
			t.waking = ts
		}
	case "sched_switch":
		next, ok := field(l.Body, " next_pid=")
		if !ok || next != int64(t.tid) || t.waking == 0 {
			return
		}
		if t.probeAt != 0 {
			t.lastIn = ts
		}
		wake := time.Duration(ts - t.waking)
		t.s.wake = append(t.s.wake, wake)
		// A timer wake-up at a probe deadline: woken at or after the deadline (trace
		// times have 1 µs resolution), the deadline on the probe's grid.
		if t.expires > 0 && t.waking >= t.expires-int64(time.Microsecond) && (t.probe == 0 || t.expires%t.probe == int64(rt.WakeupPhase)%t.probe) && ts >= t.expires {
			t.s.deadline = append(t.s.deadline, time.Duration(ts-t.expires))
			t.s.probeWk = append(t.s.probeWk, wake)
			t.probeAt, t.lastIn, t.exited = t.expires, ts, false
			t.expires = 0 // only the first switch-in after the deadline is its wake-up
		}
		t.waking = 0
	}
}
