package rt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"unsafe"

	"github.com/ec-exporter/ec_exporter/hist"
	"golang.org/x/sys/unix"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start starts a worker and closes it at the end of the test.
func start(t *testing.T, cfg Config) *Worker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	w, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start(%+v): %v", cfg, err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// requireRT skips (or fails under CI) when this process may not use SCHED_FIFO.
func requireRT(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("real SCHED_FIFO tests need root (or CAP_SYS_NICE); CI runs them as root")
	}
	t.Skip("not root: cannot test real SCHED_FIFO")
}

// taskStat returns policy, rt_priority and nice of a thread from /proc/self/task/<tid>/stat.
func taskStat(t *testing.T, tid int) (policy, rtPrio, nice int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		t.Fatalf("read stat: %v", err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // f[0] is field 3 (state)
	atoi := func(i int) int {
		n, err := strconv.Atoi(f[i-3])
		if err != nil {
			t.Fatalf("stat field %d %q: %v", i, f[i-3], err)
		}
		return n
	}
	return atoi(41), atoi(40), atoi(19) // proc(5): (19) nice, (40) rt_priority, (41) policy
}

// liveThreadInfo returns Cpus_allowed_list and nice of tid, or ok=false if it exited meanwhile.
func liveThreadInfo(tid int) (cpus string, nice int, ok bool) {
	st, err1 := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	status, err2 := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", tid))
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	s := string(st)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	nice, _ = strconv.Atoi(f[19-3])
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, found := strings.CutPrefix(line, "Cpus_allowed_list:"); found {
			cpus = strings.TrimSpace(v)
		}
	}
	return cpus, nice, true
}

func taskStatus(t *testing.T, tid int, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", tid))
	if err != nil {
		t.Fatalf("read status: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/self/task/%d/status", key, tid)
	return ""
}

func TestPolicyReadBack(t *testing.T) {
	requireRT(t)
	tests := []struct {
		name     string
		cfg      Config
		policy   Policy
		priority int
		nice     int
	}{
		{"fifo default priority", Config{Policy: FIFO}, FIFO, DefaultPriority, 0},
		{"fifo 10", Config{Policy: FIFO, Priority: 10}, FIFO, 10, 0},
		{"rr 70", Config{Policy: RR, Priority: 70}, RR, 70, 0},
		{"other nice 5", Config{Policy: Other, Nice: 5}, Other, 0, 5},
		{"other nice -5", Config{Policy: Other, Nice: -5}, Other, 0, -5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := start(t, tt.cfg)
			o := w.Obtained()
			if o.Policy != tt.policy || o.Priority != tt.priority || o.Nice != tt.nice || o.RealTime != tt.policy.RealTime() {
				t.Errorf("Obtained = %+v, want policy %v priority %d nice %d", o, tt.policy, tt.priority, tt.nice)
			}
			pol, prio, nice := taskStat(t, o.TID)
			if pol != int(tt.policy) || prio != tt.priority || nice != tt.nice {
				t.Errorf("/proc stat: policy %d rt_priority %d nice %d; want %d %d %d", pol, prio, nice, int(tt.policy), tt.priority, tt.nice)
			}
			attr, err := unix.SchedGetAttr(o.TID, 0)
			if err != nil {
				t.Fatal(err)
			}
			if attr.Flags&unix.SCHED_FLAG_RESET_ON_FORK == 0 {
				t.Errorf("SCHED_FLAG_RESET_ON_FORK not set: flags %#x", attr.Flags)
			}
			if o.TID == unix.Getpid() {
				t.Errorf("worker runs on the main thread (TID %d)", o.TID)
			}
			if o.TID == unix.Gettid() {
				t.Errorf("worker TID %d is the test goroutine's thread", o.TID)
			}
			comm := taskStatus(t, o.TID, "Name")
			if comm != "rt-worker" {
				t.Errorf("thread name %q, want rt-worker", comm)
			}
		})
	}
}

func TestAffinity(t *testing.T) {
	n := runtime.NumCPU()
	cpu := n - 1
	w := start(t, Config{CPUs: []int{cpu}})
	o := w.Obtained()
	if !slices.Equal(o.CPUs, []int{cpu}) {
		t.Errorf("Obtained.CPUs = %v, want [%d]", o.CPUs, cpu)
	}
	if got := taskStatus(t, o.TID, "Cpus_allowed_list"); got != strconv.Itoa(cpu) {
		t.Errorf("Cpus_allowed_list = %q, want %d", got, cpu)
	}
	// The job runs on that CPU.
	got := make(chan int, 1)
	if err := w.Submit(JobFunc(func(Stamps) {
		var cpuNow, node uint32
		unix.Syscall(unix.SYS_GETCPU, uintptr(ptr(&cpuNow)), uintptr(ptr(&node)), 0)
		got <- int(cpuNow)
	})); err != nil {
		t.Fatal(err)
	}
	if c := <-got; c != cpu {
		t.Errorf("job ran on CPU %d, want %d", c, cpu)
	}
}

func TestMlock(t *testing.T) {
	requireRT(t)
	t.Cleanup(func() { _ = unix.Munlockall() })
	w := start(t, Config{Policy: FIFO, Mlock: true})
	if !w.Obtained().MemoryLocked {
		t.Errorf("MemoryLocked false after mlockall; VmLck = %d kB", lockedMemory())
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Policy: FIFO, Priority: 100}, "priority 100 out of range"},
		{Config{Policy: RR, Priority: -1}, "priority -1 out of range"},
		{Config{Policy: Other, Priority: 5}, "applies to fifo/rr only"},
		{Config{Policy: 6}, "unknown policy 6"},
		{Config{Nice: 20}, "nice 20 out of range"},
		{Config{Nice: -21}, "nice -21 out of range"},
		{Config{CPUs: []int{MaxCPU}}, "CPU 1024 out of range"},
		{Config{CPUs: []int{MaxCPU - 1}}, "set CPU affinity 1023"}, // valid number, but no such CPU here
		{Config{WakeupInterval: -time.Second}, "is negative"},
		{Config{WakeupInterval: time.Nanosecond}, "too short"},
		{Config{QueueSize: -1}, "queue size -1"},
		{Config{Name: "a-much-too-long-thread-name"}, "too long"},
		{Config{RuntimeNice: -30}, "runtime nice -30"},
	}
	for _, tt := range tests {
		tt.cfg.Logger = quietLogger()
		w, err := Start(tt.cfg)
		if err == nil {
			_ = w.Close()
			t.Errorf("Start(%+v) succeeded, want error containing %q", tt.cfg, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Start(%+v) error %q, want containing %q", tt.cfg, err, tt.want)
		}
	}
}

// The fallback test re-executes the test binary as user nobody (no capabilities, RLIMIT_RTPRIO 0).
const fallbackEnv = "RT_TEST_FALLBACK_CHILD"

func TestFallbackWithoutPermission(t *testing.T) {
	if mode := os.Getenv(fallbackEnv); mode != "" {
		fallbackChild(t, mode)
		return
	}
	requireRT(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The go test binary lives in a 0700 directory; copy it where nobody can execute it.
	dir, err := os.MkdirTemp("", "rt-fallback-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "rt.test")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"fallback", "fallback-nice", "required"} {
		t.Run(mode, func(t *testing.T) {
			cmd := exec.Command(bin, "-test.run=^TestFallbackWithoutPermission$", "-test.v", "-test.count=1")
			cmd.Dir = "/"
			var env []string
			for _, e := range os.Environ() {
				if !strings.HasPrefix(e, "GOCOVERDIR=") {
					env = append(env, e)
				}
			}
			cmd.Env = append(env, fallbackEnv+"="+mode)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "CHILD-OK "+mode) {
				t.Fatalf("child (%s) failed: %v\n%s", mode, err, out)
			}
		})
	}
}

func fallbackChild(t *testing.T, mode string) {
	if err := unix.Setrlimit(unix.RLIMIT_RTPRIO, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		t.Fatalf("setrlimit RTPRIO: %v", err)
	}
	if os.Geteuid() == 0 {
		t.Fatal("child still runs as root")
	}
	var logs bytes.Buffer
	cfg := Config{Policy: FIFO, Priority: 50, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	switch mode {
	case "required":
		cfg.Required = true
		w, err := Start(cfg)
		if err == nil {
			w.Close()
			t.Fatal("Start with Required succeeded without permission")
		}
		for _, want := range []string{"not permitted", "required", "CAP_SYS_NICE", "LimitRTPRIO"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	case "fallback", "fallback-nice":
		if mode == "fallback-nice" {
			cfg.Nice = -5 // not permitted either: one warning covers both
		}
		w, err := Start(cfg)
		if err != nil {
			t.Fatalf("Start without permission: %v (want fallback)", err)
		}
		o := w.Obtained()
		if o.Policy != Other || o.RealTime || o.Priority != 0 || o.Nice != 0 {
			t.Errorf("Obtained = %+v, want other, priority 0, nice 0", o)
		}
		if pol, prio, _ := taskStat(t, o.TID); pol != 0 || prio != 0 {
			t.Errorf("/proc stat policy %d rt_priority %d, want 0 0", pol, prio)
		}
		// The fallback worker still works.
		ran := make(chan struct{})
		if err := w.Submit(JobFunc(func(Stamps) { close(ran) })); err != nil {
			t.Fatal(err)
		}
		<-ran
		w.Close()
		text := logs.String()
		if n := strings.Count(text, "level=WARN"); n != 1 {
			t.Errorf("%d warnings, want exactly 1:\n%s", n, text)
		}
		for _, want := range []string{"setcap cap_sys_nice+ep", "AmbientCapabilities=CAP_SYS_NICE", "LimitRTPRIO=", "rt_runtime", "obtained=other"} {
			if !strings.Contains(text, want) {
				t.Errorf("warning does not mention %q:\n%s", want, text)
			}
		}
	default:
		t.Fatalf("unknown child mode %q", mode)
	}
	if !t.Failed() {
		fmt.Println("CHILD-OK", mode)
	}
}

type seqJob struct {
	producer, n int
	rec         *[][2]int
}

func (j *seqJob) Run(Stamps) { *j.rec = append(*j.rec, [2]int{j.producer, j.n}) }

func TestConcurrentSubmitKeepsEveryJobInOrder(t *testing.T) {
	const producers, perProducer = 4, 3000
	w := start(t, Config{Policy: FIFO, QueueSize: 128})
	if os.Geteuid() != 0 {
		w = start(t, Config{QueueSize: 128})
	}
	rec := make([][2]int, 0, producers*perProducer) // appended on the worker thread only
	var fulls [producers]int
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for n := range perProducer {
				j := &seqJob{producer: p, n: n, rec: &rec}
				for {
					err := w.Submit(j)
					if err == nil {
						break
					}
					if !errors.Is(err, ErrQueueFull) {
						t.Errorf("Submit: %v", err)
						return
					}
					fulls[p]++
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	// The queue is FIFO: once this job has run, every job submitted before it has run.
	barrier := make(chan struct{})
	for w.Submit(JobFunc(func(Stamps) { close(barrier) })) != nil {
		runtime.Gosched()
	}
	<-barrier
	if len(rec) != producers*perProducer {
		t.Fatalf("ran %d jobs, want %d", len(rec), producers*perProducer)
	}
	next := make([]int, producers)
	for i, r := range rec {
		if r[1] != next[r[0]] {
			t.Fatalf("job %d: producer %d job %d ran, want its job %d (lost or reordered)", i, r[0], r[1], next[r[0]])
		}
		next[r[0]]++
	}
	total := 0
	for _, f := range fulls {
		total += f
	}
	if got := w.Dropped(); got != uint64(total) {
		t.Errorf("Dropped() = %d, want %d ErrQueueFull returns", got, total)
	}
}

func TestQueueFullIsCounted(t *testing.T) {
	w := start(t, Config{QueueSize: 4})
	release := make(chan struct{})
	running := make(chan struct{})
	if err := w.Submit(JobFunc(func(Stamps) { close(running); <-release })); err != nil {
		t.Fatal(err)
	}
	<-running
	var ok, full int
	for range 10 {
		switch err := w.Submit(&countJob{}); {
		case err == nil:
			ok++
		case errors.Is(err, ErrQueueFull):
			full++
		default:
			t.Fatal(err)
		}
	}
	close(release)
	if ok != 4 || full != 6 || w.Dropped() != 6 {
		t.Errorf("accepted %d, full %d, Dropped %d; want 4, 6, 6", ok, full, w.Dropped())
	}
	if err := w.Submit(nil); !errors.Is(err, ErrNilJob) {
		t.Errorf("Submit(nil) = %v, want ErrNilJob", err)
	}
}

type stampRec struct {
	ch chan Stamps
}

func (r *stampRec) Run(s Stamps) {
	select {
	case r.ch <- s:
	default:
	}
}

// sliceRec records the first cap(s) runs on the worker thread, then closes full.
type sliceRec struct {
	s    []Stamps
	full chan struct{}
}

func (r *sliceRec) Run(s Stamps) {
	if len(r.s) < cap(r.s) {
		r.s = append(r.s, s)
		if len(r.s) == cap(r.s) {
			close(r.full)
		}
	}
}

func TestEveryKeepsAbsoluteDeadlines(t *testing.T) {
	const interval = 3 * time.Millisecond
	w := start(t, Config{})
	rec := &sliceRec{s: make([]Stamps, 0, 30), full: make(chan struct{})}
	first := time.Now().Add(5 * time.Millisecond)
	w.EveryFrom(first, interval, rec)
	<-rec.full
	if !rec.s[0].Intended.Equal(first) {
		t.Errorf("first Intended %v, want %v", rec.s[0].Intended, first)
	}
	for i, s := range rec.s {
		if s.Delay() < 0 {
			t.Errorf("run %d: negative delay %v", i, s.Delay())
		}
		if i == 0 {
			continue
		}
		// The previous run stood for 1+Missed deadlines; this one is the next deadline after them.
		prev := rec.s[i-1]
		if d := s.Intended.Sub(prev.Intended); d != interval*time.Duration(1+prev.Missed) {
			t.Errorf("run %d: Intended advanced by %v after a run with Missed %d; want %v per deadline", i, d, prev.Missed, interval)
		}
		if want := int(s.Delay() / interval); s.Missed != want {
			t.Errorf("run %d: %v late with Missed %d, want %d skipped deadlines", i, s.Delay(), s.Missed, want)
		}
	}
}

func TestEveryDelayFromIntendedDeadline(t *testing.T) {
	const interval = 5 * time.Millisecond
	const block = 30 * time.Millisecond
	w := start(t, Config{Policy: FIFO})
	if os.Geteuid() != 0 {
		w = start(t, Config{})
	}
	rec := &stampRec{ch: make(chan Stamps, 1000)}
	w.Every(interval, rec)
	time.Sleep(20 * time.Millisecond)
	var blockStart, blockEnd time.Time
	blocked := make(chan struct{})
	if err := w.Submit(JobFunc(func(Stamps) {
		blockStart = time.Now()
		time.Sleep(block) // a job that hogs the worker
		blockEnd = time.Now()
		close(blocked)
	})); err != nil {
		t.Fatal(err)
	}
	<-blocked
	for {
		s := <-rec.ch
		if s.Started.Before(blockEnd) {
			continue
		}
		// The first periodic run after the blocker is measured from its deadline inside the blocked
		// window, not from when the worker got round to it.
		if !s.Intended.Before(blockStart.Add(interval + time.Millisecond)) {
			t.Errorf("Intended %v is not the deadline missed during the block (block %v..%v)", s.Intended, blockStart, blockEnd)
		}
		if s.Delay() < block-interval-time.Millisecond {
			t.Errorf("Delay %v after a %v block, want ≥ %v", s.Delay(), block, block-interval)
		}
		if s.Missed < 1 {
			t.Errorf("Missed = %d, want ≥ 1 after a %v block with a %v interval", s.Missed, block, interval)
		}
		break
	}
}

func TestWakeupProbe(t *testing.T) {
	requireRT(t)
	got := make(chan time.Duration, 100_000)
	var full atomic.Bool
	w := start(t, Config{Policy: FIFO, WakeupInterval: time.Millisecond, OnWakeup: func(d time.Duration) {
		select {
		case got <- d:
		default:
			full.Store(true)
		}
	}})
	want := hist.New(hist.Fine)
	for range 50 {
		select {
		case d := <-got:
			if d < 0 || d > 5*time.Second {
				t.Fatalf("overshoot %v out of range", d)
			}
			want.Observe(d)
		case <-time.After(10 * time.Second):
			t.Fatal("no wake-up sample within 10s")
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for len(got) > 0 {
		want.Observe(<-got)
	}
	if full.Load() {
		t.Fatal("test channel overflowed: samples lost")
	}
	// Wakeups holds exactly what OnWakeup saw, in the fine layout.
	h := w.Wakeups()
	if h.Count() != want.Count() || !slices.Equal(h.Cumulative(), want.Cumulative()) || h.Sum() != want.Sum() {
		t.Fatalf("Wakeups: count %d sum %v %v\nwant count %d sum %v %v", h.Count(), h.Sum(), h.Cumulative(), want.Count(), want.Sum(), want.Cumulative())
	}
	if !slices.Equal(h.Bounds(), hist.FineBounds) {
		t.Fatalf("Wakeups bounds %v, want hist.FineBounds", h.Bounds())
	}
}

// TestWakeupTakenBeforeTheRuntime starves the Go scheduler (GOMAXPROCS 1, a goroutine that never
// yields): the worker thread still wakes on time, but its goroutine then waits in exitsyscall for
// the only P until the spinner is preempted (about a millisecond here). The wake-up sample is cyclictest's, taken
// when the thread is back from the kernel, so it stays small; the wait lands in RuntimeDelays.
func TestWakeupTakenBeforeTheRuntime(t *testing.T) {
	requireRT(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	w := start(t, Config{Policy: FIFO, WakeupInterval: time.Millisecond})
	stop := make(chan struct{})
	spun := make(chan struct{})
	go func() {
		defer close(spun)
		for n := uint64(0); ; n++ {
			if n%(1<<20) == 0 {
				select {
				case <-stop:
					return
				default:
				}
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-spun
	wk, rd := w.Wakeups(), w.RuntimeDelays()
	if wk.Count() < 10 || rd.Count() < wk.Count() {
		t.Fatalf("%d wake-ups and %d runtime delays in 500 ms; want ≥ 10 and at least one per wake-up", wk.Count(), rd.Count())
	}
	wMean := time.Duration(wk.Sum() / float64(wk.Count()) * 1e9)
	rMean := time.Duration(rd.Sum() / float64(rd.Count()) * 1e9)
	t.Logf("mean wake-up %v (%d), mean runtime delay %v (%d)", wMean, wk.Count(), rMean, rd.Count())
	if rMean < 200*time.Microsecond || wMean > rMean/4 {
		t.Fatalf("mean wake-up %v, mean runtime delay %v: want the runtime's wait for a P (≥ 200 µs) in RuntimeDelays, not in the wake-up", wMean, rMean)
	}
	if len(rd.Bounds()) != 0 {
		t.Fatalf("RuntimeDelays has classic bounds %v, want the native layout", rd.Bounds())
	}
}

// TestNoWakeupSampleAfterAJob runs a 20 ms job among 1 ms wake-up deadlines: the deadlines that
// pass while it runs have no sleep to wake from and must not come out as 20 ms wake-ups.
func TestNoWakeupSampleAfterAJob(t *testing.T) {
	w := start(t, Config{Policy: FIFO, WakeupInterval: time.Millisecond})
	ran := make(chan struct{}, 16)
	w.Every(60*time.Millisecond, JobFunc(func(Stamps) {
		for t0 := time.Now(); time.Since(t0) < 20*time.Millisecond; {
		}
		select {
		case ran <- struct{}{}:
		default:
		}
	}))
	for range 4 {
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("the periodic job did not run")
		}
	}
	h := w.Wakeups()
	cum := h.Cumulative()
	i := slices.Index(h.Bounds(), 10e-3)
	if late := h.Count() - cum[i]; late > 0 || h.Count() < 50 {
		t.Fatalf("%d of %d wake-ups beyond 10 ms (%v): deadlines passed during the job were taken for wake-ups", late, h.Count(), cum)
	}
}

// TestWakeupsReadWhileRecording copies the histogram from two goroutines as fast as they can
// while the worker records: the copies only grow, and the worker keeps recording at its pace.
func TestWakeupsReadWhileRecording(t *testing.T) {
	w := start(t, Config{WakeupInterval: 500 * time.Microsecond})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for {
				select {
				case <-stop:
					return
				default:
				}
				h := w.Wakeups()
				if h.Count() < last {
					t.Errorf("count went back from %d to %d", last, h.Count())
					return
				}
				last = h.Count()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	// 600 deadlines in 300 ms; even a loaded CI machine wakes the thread for a good part of them.
	if h := w.Wakeups(); h.Count() < 100 {
		t.Fatalf("%d wake-ups recorded in 300 ms at 500 µs while scraped, want ≥ 100", h.Count())
	}
}

func TestCloseEndsGoroutineAndThread(t *testing.T) {
	before := runtime.NumGoroutine()
	w, err := Start(Config{Logger: quietLogger(), WakeupInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tid := w.Obtained().TID
	taskDir := fmt.Sprintf("/proc/self/task/%d", tid)
	if _, err := os.Stat(taskDir); err != nil {
		t.Fatalf("worker thread not in /proc: %v", err)
	}
	w.Every(time.Millisecond, &countJob{})
	// A job in progress is waited for.
	running, finished := make(chan struct{}), make(chan struct{})
	if err := w.Submit(JobFunc(func(Stamps) { close(running); time.Sleep(20 * time.Millisecond); close(finished) })); err != nil {
		t.Fatal(err)
	}
	<-running
	for range 3 {
		_ = w.Submit(&countJob{}) // queued behind: dropped by Close
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-finished:
	default:
		t.Error("Close returned before the running job finished")
	}
	if w.Dropped() != 3 {
		t.Errorf("Dropped() = %d, want the 3 queued jobs", w.Dropped())
	}
	if err := w.Submit(&countJob{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, statErr := os.Stat(taskDir)
		gone := errors.Is(statErr, os.ErrNotExist)
		n := runtime.NumGoroutine()
		if gone && n <= before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Close: thread gone %v, goroutines %d (before %d)", gone, n, before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseFromJob(t *testing.T) {
	w := start(t, Config{QueueSize: 8})
	done := make(chan error, 1)
	if err := w.Submit(JobFunc(func(Stamps) {
		for range 3 {
			_ = w.Submit(&countJob{}) // queued behind this job: never run once it closes the worker
		}
		done <- w.Close()
	})); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil { // waits for the loop to end, then cleans up
		t.Fatal(err)
	}
	if w.Dropped() != 3 {
		t.Errorf("Dropped() = %d, want the 3 jobs left queued by a Close from a job", w.Dropped())
	}
}

type pingJob struct{ ch chan struct{} }

func (j *pingJob) Run(Stamps) { j.ch <- struct{}{} }

func TestZeroAllocsPerJob(t *testing.T) {
	w := start(t, Config{Policy: FIFO})
	if os.Geteuid() != 0 {
		w = start(t, Config{})
	}
	j := &pingJob{ch: make(chan struct{}, 1)}
	w.Every(time.Hour, j) // a periodic job too; it runs once now
	<-j.ch
	allocs := testing.AllocsPerRun(500, func() {
		if err := w.Submit(j); err != nil {
			t.Fatal(err)
		}
		<-j.ch
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Submit+run, want 0", allocs)
	}
}

func TestZeroAllocsPerWakeup(t *testing.T) {
	ch := make(chan time.Duration, 1)
	w := start(t, Config{WakeupInterval: 200 * time.Microsecond, OnWakeup: func(d time.Duration) {
		select {
		case ch <- d:
		default:
		}
	}})
	p := &stampRec{ch: make(chan Stamps, 1)}
	w.Every(300*time.Microsecond, p) // periodic runs interleave with wake-ups
	allocs := testing.AllocsPerRun(300, func() {
		<-ch
		<-p.ch
	})
	if allocs != 0 {
		t.Errorf("%v allocations per wake-up + periodic run, want 0", allocs)
	}
}

func ptr[T any](p *T) unsafe.Pointer { return unsafe.Pointer(p) }

func TestConfineRuntime(t *testing.T) {
	requireRT(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // undo for the other tests
		tids, _ := os.ReadDir("/proc/self/task")
		for _, e := range tids {
			tid, _ := strconv.Atoi(e.Name())
			_ = unix.SchedSetaffinity(tid, &all)
			_ = unix.Setpriority(unix.PRIO_PROCESS, tid, 0)
		}
	})
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	wcpu := WorkerCPU(cpuList(&allowed)) // CPUs empty: the CPU with the fewest device interrupts
	w := start(t, Config{Policy: FIFO, ConfineRuntime: true, RuntimeNice: -20})
	worker := w.Obtained().TID
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	others := 0
	for _, e := range tids {
		tid, _ := strconv.Atoi(e.Name())
		cpus, nice, ok := liveThreadInfo(tid)
		if !ok {
			continue // exited meanwhile
		}
		if tid == worker {
			if cpus != strconv.Itoa(wcpu) || nice != 0 {
				t.Errorf("worker thread: CPUs %q nice %d, want %d and 0", cpus, nice, wcpu)
			}
			continue
		}
		others++
		if strings.Contains(","+cpus+",", ","+strconv.Itoa(wcpu)+",") || strings.HasSuffix(cpus, "-"+strconv.Itoa(wcpu)) {
			t.Errorf("thread %d: CPUs %q include the worker's CPU %d", tid, cpus, wcpu)
		}
		if nice != -20 {
			t.Errorf("thread %d: nice %d, want -20", tid, nice)
		}
	}
	if others == 0 {
		t.Error("no other threads seen")
	}
	// A goroutine started now runs on a thread that inherited the confinement.
	done := make(chan string)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		done <- taskStatus(t, unix.Gettid(), "Cpus_allowed_list")
	}()
	if got := <-done; got == strconv.Itoa(wcpu) {
		t.Errorf("a new goroutine's thread runs on the worker's CPU only: %q", got)
	}
	if _, err := Start(Config{CPUs: cpuList(&allowed), ConfineRuntime: true, Logger: quietLogger()}); err == nil ||
		!strings.Contains(err.Error(), "leave no CPU") {
		t.Errorf("ConfineRuntime with all CPUs: err %v, want 'leave no CPU'", err)
	}
	// Close undoes it: a second confining worker can start, and after its Close no thread is
	// pinned or reniced.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w2 := start(t, Config{ConfineRuntime: true, RuntimeNice: -10})
	if got := w2.Obtained().CPUs; !slices.Equal(got, []int{wcpu}) {
		t.Errorf("second confining worker got CPUs %v, want [%d]", got, wcpu)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	want := FormatCPUList(cpuList(&all))
	tids, _ = os.ReadDir("/proc/self/task")
	for _, e := range tids {
		tid, _ := strconv.Atoi(e.Name())
		cpus, nice, ok := liveThreadInfo(tid)
		if !ok || tid == w2.Obtained().TID {
			continue // exited meanwhile, or the closed worker's thread on its way out
		}
		if cpus != want {
			t.Errorf("after Close: thread %d CPUs %q, want %q", tid, cpus, want)
		}
		if nice != 0 {
			t.Errorf("after Close: thread %d nice %d, want 0", tid, nice)
		}
	}
}
