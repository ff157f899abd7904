package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/ec-exporter/ec_exporter/load"
	"github.com/ec-exporter/ec_exporter/rt"
)

// StressCmd runs the starvation experiment: EC commands from the worker under
// competing CPU and IO load, once per scheduling policy, and a table of what failed.
type StressCmd struct {
	Conn ConnFlags `embed:""`
	RT   RTFlags   `embed:"" prefix:"rt."`

	Duration        time.Duration `default:"60s" help:"How long to run each policy."`
	Policies        []string      `default:"other,fifo" help:"Worker set-ups to run in turn: other (SCHED_OTHER at --rt.nice), highpri (SCHED_OTHER at nice -20, the HIGHPRI workqueue the transfers ran on before the realtime change), fifo, rr; overrides --rt.policy. The last one is the tested one for --max-failure-ratio."`
	Load            []string      `default:"cpu,io" help:"Competing load the tool generates itself, as child processes: cpu (a hog on every core at --load.cpu-nice), io (sequential writes with fsync), none."`
	LoadIOPath      string        `name:"load.io-path" placeholder:"DIR" help:"Directory for the IO flood's temporary file (unlinked at once; default: the TMPDIR directory, else /tmp). Put it on the disk you want to flood."`
	LoadIOSize      int64         `name:"load.io-size" default:"268435456" help:"Bytes the IO flood writes before it truncates its file and starts over."`
	LoadCPUNice     int           `name:"load.cpu-nice" default:"-20" help:"Nice value of the CPU hogs (-20 = what the kernel's HIGHPRI workqueues, e.g. dm-crypt's, run at)."`
	Rate            string        `default:"max" help:"Commands per second per policy (e.g. 500/s), or max: back to back on the worker thread."`
	VersionEvery    int           `default:"10" help:"Send GET_VERSION instead of HELLO every Nth command, like the seed's ectool version loop (0 = HELLO only)."`
	Settle          time.Duration `default:"500ms" help:"Let the load run this long before measuring each policy."`
	JSON            bool          `name:"json" help:"Print the result as JSON instead of a table."`
	JSONFile        string        `name:"json-file" placeholder:"FILE" help:"Also write the JSON result to FILE (for the record, e.g. with diagnostic events)."`
	MaxFailureRatio float64       `default:"1" help:"Exit with status 3 when the tested (last) policy's failure ratio is above this (0-1; 1 = never)."`
	RuntimeThreads  string        `default:"other" enum:"other,fifo" help:"Policy of the process's other threads (the Go runtime's) during fifo/rr runs: other (as the exporter runs) or fifo (SCHED_FIFO 1, below the worker, above CFS load), an experiment: Go hands a preempted locked goroutine back through those threads (${enum})."`
}

// stressExitFailures is the exit status when the tested policy failed too often.
const stressExitFailures = 3

// stressExitInterrupted is the exit status after SIGINT/SIGTERM (128+SIGINT, as shells do).
const stressExitInterrupted = 130

// Run runs the experiment, printing to stdout (and progress to stderr on a terminal).
func (c *StressCmd) Run(logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var progress io.Writer
	if isTerminal(os.Stderr) {
		progress = os.Stderr
	}
	return c.run(ctx, logger, os.Stdout, progress)
}

// run is Run with its outputs and cancellation given (tests call it directly).
// progress is nil when no live progress line is wanted.
func (c *StressCmd) run(ctx context.Context, logger *slog.Logger, out, progress io.Writer) error {
	plan, err := c.plan()
	if err != nil {
		return err
	}
	c.Conn.Log = logger
	devs, err := c.Conn.openAll()
	if err != nil {
		return fmt.Errorf("stress: %w", err)
	}
	defer func() {
		for _, d := range devs {
			_ = d.Close()
		}
	}()
	if len(devs) != 1 {
		return fmt.Errorf("stress: runs against one EC at a time, got %d: pass a single --ec.device", len(devs))
	}
	dev := devs[0]

	rep := stressReport{
		Transport:    dev.Transport().String(),
		Device:       dev.Name(),
		Duration:     c.Duration.Seconds(),
		Rate:         plan.rate,
		VersionEvery: c.VersionEvery,
		Host:         hostInfo(),
	}
	if plan.cpu {
		rep.Load = append(rep.Load, "cpu")
	}
	if plan.io {
		rep.Load = append(rep.Load, "io")
	}
	if sim := c.Conn.Sim; c.Conn.EC.Transport == "sim" {
		rep.Sim = &simReport{Clock: sim.Clock, Wire: sim.Wire, RxBudgetSeconds: sim.RxBudget.Seconds(), CSBudgetSeconds: sim.CSBudget.Seconds(), ProcessingSeconds: sim.Processing.Seconds(),
			Timing: sim.Timing}
	}

	if plan.cpus, err = load.AllowedCPUs(); err != nil {
		return fmt.Errorf("stress: %w", err)
	}
	if len(plan.cpus) > 1 {
		plan.worker = rt.WorkerCPU(plan.cpus)
	}
	var runErr error
	for i, pol := range plan.policies {
		pr, err := c.runPolicy(ctx, logger, plan, pol, i, dev, progress)
		if pr != nil {
			rep.Policies = append(rep.Policies, *pr)
		}
		if err != nil {
			runErr = err
			break
		}
	}
	interrupted := ctx.Err() != nil
	rep.Interrupted = interrupted
	if len(rep.Policies) > 0 {
		if err := rep.write(out, c.JSON); err != nil {
			return fmt.Errorf("stress: write result: %w", err)
		}
		if c.JSONFile != "" {
			if err := rep.writeFile(c.JSONFile); err != nil {
				return err
			}
		}
	}
	if runErr != nil {
		if interrupted {
			msg := "stress: interrupted before any policy ran"
			if len(rep.Policies) > 0 {
				msg = "stress: interrupted; the table shows what ran"
			}
			return &exitError{code: stressExitInterrupted, err: errors.New(msg)}
		}
		return runErr
	}
	tested := rep.Policies[len(rep.Policies)-1]
	if tested.FailureRatio > c.MaxFailureRatio {
		return &exitError{code: stressExitFailures, err: fmt.Errorf("stress: %s worker failed %d of %d commands (ratio %.4g), above --max-failure-ratio %g",
			tested.Policy, tested.Failures, tested.Transfers, tested.FailureRatio, c.MaxFailureRatio)}
	}
	return nil
}

// errStopped marks a run cut short by cancellation.
var errStopped = errors.New("stress: stopped")

// runPolicy runs one policy: load up, worker up, commands for c.Duration,
// worker down, load down. It returns the policy's report whenever the worker
// ran, also with an error.
func (c *StressCmd) runPolicy(ctx context.Context, logger *slog.Logger, plan stressPlan, sp stressPolicy, idx int, dev stressDevice, progress io.Writer) (*policyReport, error) {
	pol := sp.policy
	if ctx.Err() != nil {
		return nil, errStopped
	}
	cfg, err := c.RT.Config(logger)
	if err != nil {
		return nil, fmt.Errorf("stress: %w", err)
	}
	cfg.Policy = pol
	if cfg.ConfineRuntime && len(cfg.CPUs) == 0 && len(plan.cpus) > 1 {
		// rt's default CPU chosen from the process's affinity as it was at the start:
		// a previous policy's worker has narrowed this thread's.
		cfg.CPUs = []int{plan.worker}
	}
	cfg.Priority = 0 // --rt.priority applies to fifo/rr; other uses --rt.nice
	if sp.highpri {
		cfg.Nice = highpriNice
	}
	if pol.RealTime() {
		cfg.Priority = c.RT.Priority
	}

	var group *load.Group
	var loadFailed <-chan struct{}
	if plan.cpu || plan.io {
		group, err = load.Start(load.Config{
			CPU: plan.cpu, CPUs: plan.cpus, CPUNice: c.LoadCPUNice,
			IO: plan.io, IODir: c.LoadIOPath, IOSize: c.LoadIOSize,
			Lifetime: c.Duration + c.Settle + time.Minute,
			Logger:   logger,
		})
		if err != nil {
			return nil, fmt.Errorf("stress: %w", err)
		}
		loadFailed = group.Failed()
		defer group.Stop() // also on panic; Stop is idempotent
		logger.Debug("load started", "policy", pol, "children", len(group.Children()), "pgid", group.PGID())
	}
	if plan.io && idx == 0 {
		warnTmpfs(logger, c.LoadIOPath)
	}
	if c.Settle > 0 {
		select {
		case <-ctx.Done():
			return nil, errStopped
		case <-loadFailed:
			return nil, fmt.Errorf("stress: %w", group.Stop())
		case <-time.After(c.Settle):
		}
	}

	w, err := rt.Start(cfg)
	if err != nil {
		return nil, fmt.Errorf("stress: start %s worker: %w", pol, err)
	}
	runtimeThreads := "other"
	if c.RuntimeThreads == "fifo" && pol.RealTime() {
		restore, n, err := raiseRuntimeThreads(w.Obtained().TID, 1)
		if err != nil {
			_ = w.Close()
			return nil, err
		}
		defer func() {
			if err := restore(); err != nil {
				logger.Error("runtime threads stay SCHED_FIFO", "err", err)
			}
		}()
		runtimeThreads = "fifo 1"
		logger.Debug("runtime threads raised", "threads", n, "policy", "fifo", "priority", 1)
	}
	st := &policyStats{}
	var stopJobs atomic.Bool
	job := &stressJob{dev: dev, cmds: stressTable(), st: st, versionEvery: uint64(c.VersionEvery), stop: &stopJobs}
	start := time.Now()
	st.start = start
	job.until = start.Add(c.Duration)
	if plan.interval > 0 {
		w.Every(plan.interval, job)
	} else {
		job.resubmit = w.Submit
		if err := w.Submit(job); err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("stress: submit to %s worker: %w", pol, err)
		}
	}

	var runErr error
	deadline := time.NewTimer(c.Duration)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	label := fmt.Sprintf("[%d/%d %s]", idx+1, len(plan.policies), sp)
loop:
	for {
		select {
		case <-deadline.C:
			break loop
		case <-ctx.Done():
			runErr = errStopped
			break loop
		case <-loadFailed:
			runErr = fmt.Errorf("stress: competing load failed during the %s run: %w", pol, group.Err())
			break loop
		case <-tick.C:
			if progress != nil {
				printProgress(progress, label, time.Since(start), c.Duration, st)
			}
		}
	}
	stopJobs.Store(true)
	elapsed := min(time.Since(start), c.Duration) // the job stops itself at start+Duration
	obtained := w.Obtained()
	dropped := w.Dropped()
	if err := w.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("stress: close %s worker: %w", pol, err)
	}
	if progress != nil {
		printProgress(progress, label, elapsed, c.Duration, st)
		fmt.Fprintln(progress)
	}
	var kids []load.Child
	if group != nil {
		kids = group.Children()
		if err := group.Stop(); err != nil && runErr == nil {
			runErr = fmt.Errorf("stress: competing load: %w", err)
		}
	}
	pr := newPolicyReport(pol, obtained, dropped, elapsed, st, kids)
	pr.Policy = sp.String()
	pr.RuntimeThreads = runtimeThreads
	return &pr, runErr
}

// printProgress rewrites the live progress line.
func printProgress(w io.Writer, label string, elapsed, total time.Duration, st *policyStats) {
	n := st.transfers.Load()
	f := st.failures.Load()
	ratio := 0.0
	if n > 0 {
		ratio = float64(f) / float64(n)
	}
	fmt.Fprintf(w, "\r%s %5.1fs/%s  transfers %d  failures %d (%.3f %%)\x1b[K",
		label, min(elapsed, total).Seconds(), total, n, f, 100*ratio)
}

// isTerminal reports whether f is a terminal (TCGETS succeeds).
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// warnTmpfs warns when the IO flood would go to memory instead of a disk.
func warnTmpfs(logger *slog.Logger, dir string) {
	if dir == "" {
		dir = os.TempDir()
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return
	}
	const tmpfsMagic = 0x01021994
	if fs.Type == tmpfsMagic {
		logger.Warn("the IO flood writes to tmpfs, which never reaches a disk: pass --load.io-path=DIR on a disk", "dir", dir)
	}
}

// hostInfo describes the machine, for the record (reference rt-go-periph.md §5.3).
func hostInfo() hostReport {
	h := hostReport{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		h.Kernel = utsString(u.Release[:]) + " " + utsString(u.Version[:])
	}
	if b, err := os.ReadFile("/sys/kernel/debug/sched/preempt"); err == nil {
		h.Preempt = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/sys/kernel/realtime"); err == nil && strings.TrimSpace(string(b)) == "1" {
		h.PreemptRT = true
	}
	if b, err := os.ReadFile("/proc/sys/kernel/sched_rt_runtime_us"); err == nil {
		h.RTRuntimeUS, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	return h
}

// utsString reads a NUL-terminated Utsname field; its element type is int8 on
// amd64/386/arm64 and uint8 on arm/riscv64/ppc64/s390x.
func utsString[T int8 | uint8](b []T) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
