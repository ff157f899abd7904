package rt

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// confinement remembers what ConfineRuntime changed, so that Close can undo it.
type confinement struct {
	allowed  unix.CPUSet // the process's CPUs before
	nice     map[int]int // nice of each thread before (for the threads that existed)
	mainNice int         // nice for threads created since (they inherited the confined value)
	reniced  bool
}

// confine pins every thread of the process except the worker to the CPUs the worker does not use
// and, with RuntimeNice, renices them (Config.ConfineRuntime). Threads created later inherit both.
func (w *Worker) confine() error {
	cfg := w.cfg
	others := w.inherited
	for _, c := range w.obtained.CPUs {
		others.Clear(c)
	}
	if others.Count() == 0 {
		return fmt.Errorf("rt: confine runtime: the worker's CPUs %s leave no CPU for the rest of the process: give the worker fewer CPUs",
			FormatCPUList(w.obtained.CPUs))
	}
	// The runtime re-derives GOMAXPROCS from the process's affinity about once a second and would
	// lower it to the CPUs left to the other threads; fix it at its current value (no STW).
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	c := &confinement{allowed: w.inherited, nice: map[int]int{}}
	if a, err := unix.SchedGetAttr(unix.Getpid(), 0); err == nil {
		c.mainNice = int(a.Nice)
	}
	nice := cfg.RuntimeNice
	if nice < 0 && w.refused {
		nice = 0 // the same permission is missing; the fallback warning already said how to grant it
	}
	var niceErr error
	for pass := range 2 { // the second pass catches threads created during the first
		tids, err := threads()
		if err != nil {
			return fmt.Errorf("rt: confine runtime: %w", err)
		}
		for _, tid := range tids {
			if tid == w.obtained.TID {
				continue
			}
			if pass == 0 { // later threads inherited a confined nice; undo gives them mainNice
				if a, err := unix.SchedGetAttr(tid, 0); err == nil {
					c.nice[tid] = int(a.Nice)
				}
			}
			err := unix.SchedSetaffinity(tid, &others)
			if err == nil && nice != 0 && niceErr == nil {
				if err = unix.Setpriority(unix.PRIO_PROCESS, tid, nice); errors.Is(err, unix.EPERM) {
					niceErr, err = err, nil
				}
				c.reniced = c.reniced || err == nil
			}
			if err != nil && !errors.Is(err, unix.ESRCH) { // ESRCH: the thread just exited
				c.undo(w.obtained.TID)
				return fmt.Errorf("rt: confine runtime: thread %d to CPUs %s: %w", tid, FormatCPUList(cpuList(&others)), err)
			}
		}
	}
	w.conf = c
	if niceErr != nil {
		if cfg.Required {
			c.undo(w.obtained.TID)
			w.conf = nil
			return fmt.Errorf("rt: confine runtime: nice %d not permitted (%w) and the requested scheduling is required: %s", nice, niceErr, howToGrant)
		}
		cfg.Logger.Warn("rt: runtime threads confined but not reniced: not permitted", "nice", nice, "err", niceErr.Error(), "fix", howToGrant)
	}
	cfg.Logger.Debug("rt: runtime confined", "cpus", FormatCPUList(cpuList(&others)), "nice", nice)
	return nil
}

// undo gives every thread but skip the process's CPUs and its nice value back.
// Two passes catch threads created meanwhile by a thread not yet restored.
func (c *confinement) undo(skip int) {
	for range 2 {
		tids, _ := threads()
		for _, tid := range tids {
			if tid == skip {
				continue
			}
			_ = unix.SchedSetaffinity(tid, &c.allowed)
			if c.reniced {
				n, ok := c.nice[tid]
				if !ok {
					n = c.mainNice
				}
				_ = unix.Setpriority(unix.PRIO_PROCESS, tid, n)
			}
		}
	}
}

// threads lists the TIDs of this process.
func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
