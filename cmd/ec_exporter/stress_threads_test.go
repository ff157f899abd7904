package main

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRaiseRuntimeThreads(t *testing.T) {
	// A locked thread stands in for the worker and must be left alone.
	skip := make(chan int)
	release := make(chan struct{})
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		skip <- unix.Gettid()
		<-release
		close(done)
	}()
	worker := <-skip
	defer func() { close(release); <-done }()

	restore, n, err := raiseRuntimeThreads(worker, 1)
	if err != nil {
		if os.Getenv("CI") != "true" && os.Geteuid() != 0 {
			t.Skipf("needs CAP_SYS_NICE: %v", err)
		}
		t.Fatal(err)
	}
	tids, err := threadIDs()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n >= len(tids)+1 {
		t.Errorf("raised %d of %d threads", n, len(tids))
	}
	raised := 0
	for _, tid := range tids {
		a, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			continue // exited
		}
		switch {
		case tid == worker && a.Policy != unix.SCHED_NORMAL:
			t.Errorf("worker thread %d changed to policy %d", tid, a.Policy)
		case tid != worker && a.Policy == unix.SCHED_FIFO && a.Priority == 1:
			raised++
		}
	}
	if raised == 0 {
		t.Error("no thread runs SCHED_FIFO 1")
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	tids, _ = threadIDs()
	for _, tid := range tids {
		if a, err := unix.SchedGetAttr(tid, 0); err == nil && a.Policy != unix.SCHED_NORMAL {
			t.Errorf("thread %d still policy %d after restore", tid, a.Policy)
		}
	}
}
