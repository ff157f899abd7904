package rt

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

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
