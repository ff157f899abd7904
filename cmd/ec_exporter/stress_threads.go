package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// raiseRuntimeThreads puts every thread of this process except the worker
// (skipTID) into SCHED_FIFO at prio, below the worker and above any
// SCHED_OTHER load. Go's scheduler hands a preempted goroutine, also one
// locked to a real-time thread, back through one of these threads
// (runtime.stoplockedm/startlockedm); at SCHED_OTHER they can be starved for
// tens of ms by nice −20 load. Threads the runtime creates later inherit the
// policy from their creator. The returned restore puts every thread back to
// SCHED_OTHER at the nice value the process had.
func raiseRuntimeThreads(skipTID, prio int) (restore func() error, n int, err error) {
	nice, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("stress: read nice: %w", err)
	}
	nice = 20 - nice // the raw syscall returns 20 - nice
	tids, err := threadIDs()
	if err != nil {
		return nil, 0, err
	}
	restore = func() error {
		tids, err := threadIDs()
		if err != nil {
			return err
		}
		var errs []error
		for _, tid := range tids {
			if tid == skipTID {
				continue
			}
			attr := unix.SchedAttr{Policy: unix.SCHED_NORMAL, Nice: int32(nice)}
			if err := unix.SchedSetAttr(tid, &attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("thread %d: %w", tid, err))
			}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("stress: restore SCHED_OTHER on runtime threads: %w", err)
		}
		return nil
	}
	for _, tid := range tids {
		if tid == skipTID {
			continue
		}
		attr := unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: uint32(prio)}
		if err := unix.SchedSetAttr(tid, &attr, 0); err != nil {
			if errors.Is(err, unix.ESRCH) {
				continue // exited meanwhile
			}
			_ = restore()
			return nil, 0, fmt.Errorf("stress: SCHED_FIFO %d for runtime thread %d: %w (needs CAP_SYS_NICE)", prio, tid, err)
		}
		n++
	}
	return restore, n, nil
}

// threadIDs lists the threads of this process.
func threadIDs() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("stress: list threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
