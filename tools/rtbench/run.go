package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
	_ "unsafe" // for go:linkname

	"golang.org/x/sys/unix"

	"github.com/ec-exporter/ec_exporter/rt"
)

//go:linkname nanotime runtime.nanotime
func nanotime() int64

type runFlags struct {
	mode        string
	policy      string
	priority    int
	nice        int
	cpus        string
	mlock       bool
	wakeup      time.Duration
	every       time.Duration
	everyOffset time.Duration
	submit      time.Duration
	duration    time.Duration
	out         string
	gcChurn     int
	busy        int
	runtimeNice int
	confine     bool
}

func run(args []string) error {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&f.mode, "mode", "worker", "worker (rt.Worker, futex wait) | nanosleep (bare clock_nanosleep loop, wake-up only) | chan (locked goroutine woken by a channel/Go timer)")
	fs.StringVar(&f.policy, "policy", "fifo", "fifo | rr | other")
	fs.IntVar(&f.priority, "priority", rt.DefaultPriority, "real-time priority for fifo/rr")
	fs.IntVar(&f.nice, "nice", 0, "nice for other")
	fs.StringVar(&f.cpus, "cpus", "", "CPU list for the worker thread")
	fs.BoolVar(&f.mlock, "mlock", true, "mlockall")
	fs.DurationVar(&f.wakeup, "wakeup", 0, "wake-up probe interval (0 = off)")
	fs.DurationVar(&f.every, "every", 0, "periodic job interval (0 = off)")
	fs.DurationVar(&f.everyOffset, "every-offset", 500*time.Microsecond, "phase of the periodic job relative to the wake-up probe")
	fs.DurationVar(&f.submit, "submit", 0, "interval of a SCHED_OTHER producer goroutine calling Submit (0 = off)")
	fs.DurationVar(&f.duration, "d", 60*time.Second, "duration")
	fs.StringVar(&f.out, "out", "rtbench", "output prefix: writes <out>-wakeup.hist, <out>-every.hist, <out>-submit.hist")
	fs.IntVar(&f.gcChurn, "gc-churn", 0, "MB/s of garbage allocated by a background goroutine (0 = none), to show GC's effect")
	fs.BoolVar(&f.confine, "confine", false, "rt.Config.ConfineRuntime: pin the process's other threads off the worker's -cpus")
	fs.IntVar(&f.runtimeNice, "runtime-nice", 0, "rt.Config.RuntimeNice (with -confine): nice of the process's other threads")
	fs.IntVar(&f.busy, "busy", 0, "number of CPU-bound goroutines in this process (they compete for Ps with the worker)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if dir := filepath.Dir(f.out); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	policy, err := rt.ParsePolicy(f.policy)
	if err != nil {
		return err
	}
	cpus, err := rt.ParseCPUList(f.cpus)
	if err != nil {
		return err
	}
	if !policy.RealTime() {
		f.priority = 0
	}
	cfg := rt.Config{Policy: policy, Priority: f.priority, Nice: f.nice, CPUs: cpus, Mlock: f.mlock, QueueSize: 256,
		ConfineRuntime: f.confine, RuntimeNice: f.runtimeNice,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), Name: "rtbench-" + f.mode}

	stop := make(chan struct{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case <-sig:
		case <-time.After(f.duration):
		}
		close(stop)
	}()
	if f.gcChurn > 0 {
		go churn(f.gcChurn, stop)
	}
	for range f.busy {
		go spin(stop)
	}
	var gcBefore debug.GCStats
	debug.ReadGCStats(&gcBefore)

	res := results{wakeup: newHist(), every: newHist(), submit: newHist()}
	var desc string
	switch f.mode {
	case "worker":
		desc, err = runWorker(cfg, f, &res, stop)
	case "nanosleep":
		desc, err = runNanosleep(cfg, f, &res, stop)
	case "chan":
		desc, err = runChan(cfg, f, &res, stop)
	default:
		err = fmt.Errorf("unknown -mode %q: use worker, nanosleep or chan", f.mode)
	}
	if err != nil {
		return err
	}
	var gcAfter debug.GCStats
	debug.ReadGCStats(&gcAfter)
	comment := fmt.Sprintf("rtbench %s; %s; GOMAXPROCS=%d; GC cycles during run %d; missed periodic deadlines %d (recorded as CO-corrected samples); submits refused %d",
		strings.Join(os.Args[1:], " "), desc, runtime.GOMAXPROCS(0), gcAfter.NumGC-gcBefore.NumGC, res.missed, res.refused)
	fmt.Println("#", comment)
	for _, h := range []struct {
		name string
		h    *hist
	}{{"wakeup", res.wakeup}, {"every", res.every}, {"submit", res.submit}} {
		if h.h.count == 0 {
			continue
		}
		path := f.out + "-" + h.name + ".hist"
		if err := h.h.writeFile(path, comment); err != nil {
			return err
		}
		s, err := readHist(path)
		if err != nil {
			return err
		}
		fmt.Printf("%-7s n=%d p50=%.0fµs p99=%.0fµs p99.9=%.0fµs max=%.0fµs -> %s\n", h.name, s.count, s.p50, s.p99, s.p999, s.max, path)
	}
	return nil
}

type results struct {
	wakeup, every, submit *hist
	missed, refused       uint64
}

// everyJob records the schedule delay of a periodic job. A run that stands for Missed skipped
// deadlines also records the delays those deadlines would have seen (HdrHistogram's
// expected-interval correction), so a stall is not hidden by coordinated omission.
type everyJob struct {
	h        *hist
	res      *results
	interval time.Duration
}

func (j *everyJob) Run(s rt.Stamps) {
	d := s.Delay()
	j.h.record(d)
	for k := 1; k <= s.Missed; k++ {
		j.h.record(d - time.Duration(k)*j.interval)
	}
	j.res.missed += uint64(s.Missed)
}

type submitJob struct{ h *hist }

func (j *submitJob) Run(s rt.Stamps) { j.h.record(s.Delay()) }

func runWorker(cfg rt.Config, f runFlags, res *results, stop <-chan struct{}) (string, error) {
	cfg.WakeupInterval = f.wakeup
	cfg.OnWakeup = res.wakeup.record
	w, err := rt.Start(cfg)
	if err != nil {
		return "", err
	}
	o := w.Obtained()
	if f.every > 0 {
		// The probe's deadlines are rt.WakeupPhase past multiples of its interval; put the periodic
		// job's deadlines -every-offset after such a deadline, so the two do not coincide.
		first := time.Now()
		if f.wakeup > 0 {
			now := nanotime()
			target := (now/int64(f.wakeup)+2)*int64(f.wakeup) + int64(rt.WakeupPhase)%int64(f.wakeup) + int64(f.everyOffset)
			first = first.Add(time.Duration(target - now))
		}
		w.EveryFrom(first, f.every, &everyJob{h: res.every, res: res, interval: f.every})
	}
	if f.submit > 0 {
		go produce(f.submit, stop, func() error { return w.Submit(&submitJob{h: res.submit}) }, &res.refused)
	}
	<-stop
	if err := w.Close(); err != nil {
		return "", err
	}
	return describe("rt.Worker (futex wait)", o), nil
}

func produce(interval time.Duration, stop <-chan struct{}, submit func() error, refused *uint64) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := submit(); err != nil {
				*refused++ // producer goroutine only
			}
		}
	}
}

func describe(what string, o rt.Obtained) string {
	return fmt.Sprintf("%s: obtained policy %s priority %d nice %d cpus %s mlocked %v tid %d",
		what, o.Policy, o.Priority, o.Nice, rt.FormatCPUList(o.CPUs), o.MemoryLocked, o.TID)
}

// setupThread applies cfg to the calling (locked) thread like rt does, for the comparison modes.
func setupThread(cfg rt.Config) (rt.Obtained, error) {
	attr := unix.SchedAttr{Policy: uint32(cfg.Policy), Priority: uint32(cfg.Priority), Nice: int32(cfg.Nice), Flags: unix.SCHED_FLAG_RESET_ON_FORK}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return rt.Obtained{}, fmt.Errorf("sched_setattr: %w", err)
	}
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	if len(cfg.CPUs) > 0 {
		var set unix.CPUSet
		for _, c := range cfg.CPUs {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return rt.Obtained{}, err
		}
	}
	if cfg.Mlock {
		if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE); err != nil {
			return rt.Obtained{}, err
		}
	}
	got, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return rt.Obtained{}, err
	}
	return rt.Obtained{Policy: rt.Policy(got.Policy), Priority: int(got.Priority), Nice: int(got.Nice), TID: unix.Gettid(), MemoryLocked: cfg.Mlock}, nil
}

// runNanosleep is cyclictest's loop in Go: sleep to an absolute CLOCK_MONOTONIC deadline with
// clock_nanosleep(TIMER_ABSTIME) on a locked thread and record now − deadline.
func runNanosleep(cfg rt.Config, f runFlags, res *results, stop <-chan struct{}) (string, error) {
	if f.wakeup <= 0 {
		return "", errors.New("-mode nanosleep needs -wakeup")
	}
	type out struct {
		o   rt.Obtained
		err error
	}
	done := make(chan out, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		o, err := setupThread(cfg)
		if err != nil {
			done <- out{err: err}
			return
		}
		interval := int64(f.wakeup)
		next := nanotime() + interval
		var ts unix.Timespec
		for {
			select {
			case <-stop:
				done <- out{o: o}
				return
			default:
			}
			ts = unix.NsecToTimespec(next)
			for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
			}
			now := nanotime()
			res.wakeup.record(time.Duration(now - next))
			next += interval
			for next <= now {
				next += interval
			}
		}
	}()
	r := <-done
	if r.err != nil {
		return "", r.err
	}
	return describe("bare clock_nanosleep loop", r.o), nil
}

// runChan is the alternative the rt package rejected: the locked goroutine waits in the Go
// scheduler (select on a job channel and a Go timer) instead of in the kernel.
func runChan(cfg rt.Config, f runFlags, res *results, stop <-chan struct{}) (string, error) {
	jobs := make(chan int64, 256)
	type out struct {
		o   rt.Obtained
		err error
	}
	done := make(chan out, 1)
	go func() {
		runtime.LockOSThread()
		o, err := setupThread(cfg)
		if err != nil {
			done <- out{err: err}
			return
		}
		interval := int64(f.wakeup)
		var next int64
		timer := time.NewTimer(time.Hour)
		if interval > 0 {
			next = nanotime() + interval
			timer.Reset(time.Duration(next - nanotime()))
		}
		for {
			select {
			case <-stop:
				done <- out{o: o}
				return
			case stamp := <-jobs:
				res.submit.record(time.Duration(nanotime() - stamp))
			case <-timer.C:
				now := nanotime()
				res.wakeup.record(time.Duration(now - next))
				next += interval
				for next <= now {
					next += interval
				}
				timer.Reset(time.Duration(next - nanotime()))
			}
		}
	}()
	if f.submit > 0 {
		go produce(f.submit, stop, func() error {
			select {
			case jobs <- nanotime():
				return nil
			default:
				return errors.New("full")
			}
		}, &res.refused)
	}
	r := <-done
	if r.err != nil {
		return "", r.err
	}
	return describe("locked goroutine woken by channel / Go timer", r.o), nil
}

// churn allocates about mbps MB/s of short-lived garbage so that the GC runs during the benchmark.
func churn(mbps int, stop <-chan struct{}) {
	var sink [][]byte
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			for range mbps { // 10 ms worth of mbps MB/s, in 10 KiB pieces
				sink = append(sink, make([]byte, 10<<10))
				if len(sink) > 1000 {
					sink = sink[:0]
				}
			}
		}
	}
}

// spin is a CPU-bound goroutine: it holds a P whenever the Go scheduler lets it.
func spin(stop <-chan struct{}) {
	x := uint64(1)
	for {
		select {
		case <-stop:
			return
		default:
		}
		for range 1 << 16 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		if x == 42 {
			fmt.Print("")
		}
	}
}
