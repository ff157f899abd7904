package prober

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
)

// clock is a manual clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeDev is an EC whose answers the test scripts.
type fakeDev struct {
	clk       *clock
	took      time.Duration // each command advances the clock by this
	helloErr  error
	block     chan struct{} // when non-nil, Hello waits for it
	entered   chan struct{}
	uptime    time.Duration
	uptimeErr error
	calls     [NumCommands]int
	retries   int
}

func (d *fakeDev) step(c Command) { d.calls[c]++; d.clk.Advance(d.took) }
func (d *fakeDev) Name() string   { return "fake" }
func (d *fakeDev) Hello() error {
	d.step(Hello)
	if d.block != nil {
		d.entered <- struct{}{}
		<-d.block
	}
	return d.helloErr
}
func (d *fakeDev) LastRetries() int { return d.retries }
func (d *fakeDev) Version() (Version, error) {
	d.step(GetVersion)
	return Version{RO: "fake_v1.0.0-ro", RW: "fake_v1.0.1-rw", Image: "rw"}, nil
}
func (d *fakeDev) ProtocolInfo() (Protocol, error) {
	d.step(GetProtocolInfo)
	return Protocol{Versions: 1 << 3, MaxRequestPacket: 544, MaxResponse: 544}, nil
}
func (d *fakeDev) BuildInfo() (string, error) { d.step(GetBuildInfo); return "fake build", nil }
func (d *fakeDev) ChipInfo() (Chip, error) {
	d.step(GetChipInfo)
	return Chip{Vendor: "sim", Name: "fake", Revision: "1"}, nil
}
func (d *fakeDev) UptimeInfo() (Uptime, error) {
	d.step(GetUptimeInfo)
	return Uptime{SinceBoot: d.uptime, APResets: 2, ResetFlags: 0x400}, d.uptimeErr
}

// fakeSched queues submitted jobs and remembers periodic ones; the test runs them.
type fakeSched struct {
	mu       sync.Mutex
	every    []Job
	queue    []Job
	full     bool
	interval time.Duration
}

func (s *fakeSched) Every(iv time.Duration, j Job) {
	s.mu.Lock()
	s.every = append(s.every, j)
	s.interval = iv
	s.mu.Unlock()
}

func (s *fakeSched) Submit(j Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return errors.New("queue full")
	}
	s.queue = append(s.queue, j)
	return nil
}

// drain runs the queued jobs, each stamped as submitted at at and started at at+delay.
func (s *fakeSched) drain(at time.Time, delay time.Duration) int {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, j := range q {
		j.Run(Stamps{Intended: at, Started: at.Add(delay)})
	}
	return len(q)
}

func newTest(t *testing.T, dev *fakeDev, open Opener) (*Prober, *fakeSched, *clock) {
	t.Helper()
	clk := dev.clk
	s := &fakeSched{}
	p, err := New(Config{Interval: time.Second, Timeout: 100 * time.Millisecond, IdentityInterval: time.Hour, Now: clk.Now}, s)
	if err != nil {
		t.Fatal(err)
	}
	if open == nil {
		open = func() (Device, error) { return dev, nil }
	}
	p.Add("sim", open)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return p, s, clk
}

// checkBalance asserts attempts = successes + failures can be derived for every command,
// i.e. failures never exceed attempts, and returns the failures of cmd per cause.
func checkBalance(t *testing.T, s Snapshot) {
	t.Helper()
	for _, c := range Commands {
		var f uint64
		for _, n := range s.Commands[c].Failures {
			f += n
		}
		if f > s.Commands[c].Attempts {
			t.Fatalf("%v: %d failures > %d attempts", c, f, s.Commands[c].Attempts)
		}
	}
}

func TestHappyPath(t *testing.T) {
	dev := &fakeDev{clk: newClock(), took: 700 * time.Microsecond, uptime: time.Hour}
	p, s, clk := newTest(t, dev, nil)
	if len(s.every) != 1 || s.interval != time.Second {
		t.Fatalf("want one periodic job every 1s, got %d every %v", len(s.every), s.interval)
	}
	if n := s.drain(clk.Now(), 20*time.Microsecond); n != 1 {
		t.Fatalf("want the identity job queued at start, got %d jobs", n)
	}
	base := clk.Now()
	for i := 0; i < 10; i++ {
		s.every[0].Run(Stamps{Intended: base.Add(time.Duration(i) * time.Second), Started: base.Add(time.Duration(i)*time.Second + 50*time.Microsecond)})
	}
	snap := p.Snapshots()[0]
	checkBalance(t, snap)
	if !snap.Up || !snap.Open {
		t.Fatalf("want up and open, got up=%v open=%v", snap.Up, snap.Open)
	}
	if got := snap.Commands[Hello].Attempts; got != 10 {
		t.Errorf("hello attempts = %d, want 10", got)
	}
	for _, c := range identityCommands {
		if snap.Commands[c].Attempts != 1 || dev.calls[c] != 1 {
			t.Errorf("%v: attempts %d calls %d, want 1", c, snap.Commands[c].Attempts, dev.calls[c])
		}
	}
	if snap.Transfer.Count() != 10 || snap.ScheduleDelay.Count() != 11 {
		t.Errorf("transfer count %d (want 10), delay count %d (want 11)", snap.Transfer.Count(), snap.ScheduleDelay.Count())
	}
	if got, want := snap.Transfer.Sum(), 10*700e-6; got < want*0.999 || got > want*1.001 {
		t.Errorf("transfer sum %v, want %v", got, want)
	}
	id := snap.Identity
	if !id.Version || id.VersionInfo.RW != "fake_v1.0.1-rw" || !id.Uptime || id.UptimeInfo.APResets != 2 || id.ProtocolInfo.Highest() != 3 {
		t.Errorf("identity not recorded: %+v", id)
	}
}

func TestFailuresAndRecovery(t *testing.T) {
	dev := &fakeDev{clk: newClock(), took: time.Millisecond}
	p, s, clk := newTest(t, dev, nil)
	s.drain(clk.Now(), 0)
	base := clk.Now()
	run := func(i int) {
		s.every[0].Run(Stamps{Intended: base.Add(time.Duration(i) * time.Second), Started: base.Add(time.Duration(i) * time.Second)})
	}
	run(0)
	causes := []error{
		&ec.Error{Cause: ec.CauseChecksum, Op: "test"},
		ec.Result(2),
		&ec.Error{Cause: ec.CauseNotReady, Op: "test"},
		errors.New("unclassified"),
	}
	for i, err := range causes {
		dev.helloErr = err
		dev.retries = 2
		run(i + 1)
		if p.Snapshots()[0].Up {
			t.Fatalf("up after %v", err)
		}
	}
	snap := p.Snapshots()[0]
	checkBalance(t, snap)
	f := snap.Commands[Hello].Failures
	for _, c := range []ec.Cause{ec.CauseChecksum, ec.CauseECResult, ec.CauseNotReady, ec.CauseIO} {
		if f[c] != 1 {
			t.Errorf("failures[%v] = %d, want 1", c, f[c])
		}
	}
	if snap.Commands[Hello].Retries != 8 {
		t.Errorf("retries = %d, want 8", snap.Commands[Hello].Retries)
	}
	// Recovery queues an identity refresh.
	dev.helloErr, dev.retries = nil, 0
	run(5)
	if !p.Snapshots()[0].Up {
		t.Fatal("not up after a good HELLO")
	}
	if n := s.drain(clk.Now(), 0); n != 1 {
		t.Fatalf("recovery queued %d identity jobs, want 1", n)
	}
	// A HELLO slower than the timeout is a timeout, and the device is down.
	dev.took = 150 * time.Millisecond
	run(6)
	snap = p.Snapshots()[0]
	if snap.Up || snap.Commands[Hello].Failures[ec.CauseTimeout] != 1 {
		t.Fatalf("late HELLO: up=%v timeouts=%d", snap.Up, snap.Commands[Hello].Failures[ec.CauseTimeout])
	}
}

func TestHungTransfer(t *testing.T) {
	dev := &fakeDev{clk: newClock(), took: time.Millisecond, block: make(chan struct{}), entered: make(chan struct{}, 1)}
	p, s, clk := newTest(t, dev, nil)
	s.drain(clk.Now(), 0)
	base := clk.Now()
	st := func(i int) Stamps {
		at := base.Add(time.Duration(i) * time.Second)
		return Stamps{Intended: at, Started: at}
	}
	go func() { <-dev.entered; dev.block <- struct{}{} }() // first HELLO returns at once
	s.every[0].Run(st(0))
	clk.Advance(base.Add(time.Second).Sub(clk.Now()))
	done := make(chan struct{})
	go func() { s.every[0].Run(st(1)); close(done) }()
	<-dev.entered // the worker is now stuck in HELLO
	clk.Advance(50 * time.Millisecond)
	p.CheckStuck()
	if snap := p.Snapshots()[0]; !snap.Up || snap.Commands[Hello].Failures[ec.CauseTimeout] != 0 {
		t.Fatal("timed out before the timeout passed")
	}
	clk.Advance(100 * time.Millisecond) // 150 ms into the transfer
	p.CheckStuck()
	p.CheckStuck()
	snap := p.Snapshots()[0]
	if snap.Up || snap.Commands[Hello].Failures[ec.CauseTimeout] != 1 {
		t.Fatalf("stuck HELLO: up=%v timeouts=%d, want down and 1", snap.Up, snap.Commands[Hello].Failures[ec.CauseTimeout])
	}
	clk.Advance(base.Add(4500 * time.Millisecond).Sub(clk.Now())) // deadlines 2, 3 and 4 pass while stuck
	p.CheckStuck()
	snap = p.Snapshots()[0]
	if got := snap.Commands[Hello].Failures[ec.CauseBusy]; got != 3 {
		t.Fatalf("busy while stuck = %d, want 3", got)
	}
	checkBalance(t, snap)
	dev.block <- struct{}{}
	<-done
	snap = p.Snapshots()[0]
	if snap.Commands[Hello].Attempts != 5 || snap.Commands[Hello].Failures[ec.CauseTimeout] != 1 {
		t.Fatalf("after return: attempts=%d timeouts=%d, want 5 and 1 (no double count)", snap.Commands[Hello].Attempts, snap.Commands[Hello].Failures[ec.CauseTimeout])
	}
	// A catch-up run of an already counted deadline is dropped; the next one runs.
	dev.block = nil
	s.every[0].Run(st(4))
	s.every[0].Run(st(5))
	snap = p.Snapshots()[0]
	checkBalance(t, snap)
	if !snap.Up || snap.Commands[Hello].Attempts != 6 {
		t.Fatalf("after recovery: up=%v attempts=%d, want up and 6", snap.Up, snap.Commands[Hello].Attempts)
	}
	// Skipped deadlines the watchdog did not see are counted from the intended times.
	s.every[0].Run(st(9))
	snap = p.Snapshots()[0]
	if got := snap.Commands[Hello].Failures[ec.CauseBusy]; got != 6 {
		t.Fatalf("busy after a gap of 3 deadlines = %d, want 6", got)
	}
	if s.drain(clk.Now(), 0) != 1 {
		t.Fatal("recovery after the hang did not refresh the identity")
	}
}

func TestQueueFullCountsBusy(t *testing.T) {
	dev := &fakeDev{clk: newClock()}
	p, s, clk := newTest(t, dev, nil)
	s.drain(clk.Now(), 0)
	s.full = true
	p.RefreshIdentity()
	snap := p.Snapshots()[0]
	for _, c := range identityCommands {
		if snap.Commands[c].Attempts != 2 || snap.Commands[c].Failures[ec.CauseBusy] != 1 {
			t.Errorf("%v: attempts %d busy %d, want 2 and 1", c, snap.Commands[c].Attempts, snap.Commands[c].Failures[ec.CauseBusy])
		}
	}
}

func TestUnsupportedAndReset(t *testing.T) {
	dev := &fakeDev{clk: newClock(), uptime: time.Hour}
	p, s, clk := newTest(t, dev, nil)
	s.drain(clk.Now(), 0)
	clk.Advance(time.Minute)
	dev.uptime = 10 * time.Second // EC rebooted
	p.RefreshIdentity()
	s.drain(clk.Now(), 0)
	if got := p.Snapshots()[0].ResetsDetected; got != 1 {
		t.Fatalf("resets detected = %d, want 1", got)
	}
	clk.Advance(time.Minute)
	dev.uptime = 70 * time.Second // kept running
	p.RefreshIdentity()
	s.drain(clk.Now(), 0)
	if got := p.Snapshots()[0].ResetsDetected; got != 1 {
		t.Fatalf("resets detected = %d after a normal refresh, want 1", got)
	}
	dev.uptimeErr = ec.ResInvalidCommand
	for i := 0; i < 3; i++ {
		p.RefreshIdentity()
		s.drain(clk.Now(), 0)
	}
	snap := p.Snapshots()[0]
	if dev.calls[GetUptimeInfo] != 4 || snap.Commands[GetUptimeInfo].Failures[ec.CauseECResult] != 1 {
		t.Fatalf("unsupported uptime asked %d times with %d failures, want 4 and 1", dev.calls[GetUptimeInfo], snap.Commands[GetUptimeInfo].Failures[ec.CauseECResult])
	}
}

func TestOpenRetryAndConfigError(t *testing.T) {
	dev := &fakeDev{clk: newClock()}
	var mu sync.Mutex
	fails := 2
	open := func() (Device, error) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			return nil, errors.New("no such device")
		}
		return dev, nil
	}
	s := &fakeSched{}
	p, err := New(Config{Interval: time.Second, Timeout: time.Second, IdentityInterval: time.Hour, OpenRetry: time.Millisecond, Now: dev.clk.Now}, s)
	if err != nil {
		t.Fatal(err)
	}
	p.Add("sim", open)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if snap := p.Snapshots()[0]; snap.Open || snap.Up {
		t.Fatal("a device that failed to open reports open or up")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !p.Snapshots()[0].Open {
		if time.Now().After(deadline) {
			t.Fatal("device never reopened")
		}
		time.Sleep(time.Millisecond)
	}
	s.mu.Lock()
	n := len(s.every)
	s.mu.Unlock()
	if n != 1 {
		t.Fatalf("periodic jobs after reopen = %d, want 1", n)
	}

	p2, _ := New(Config{Interval: time.Second, Timeout: time.Second, IdentityInterval: time.Hour}, &fakeSched{})
	p2.Add("bad", func() (Device, error) { return nil, fmt.Errorf("unknown transport: %w", ErrConfig) })
	if err := p2.Start(ctx); !errors.Is(err, ErrConfig) {
		t.Fatalf("config error not returned: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{{}, {Interval: time.Second}, {Interval: time.Second, Timeout: time.Second}} {
		if _, err := New(c, &fakeSched{}); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	if _, err := New(Config{Interval: 1, Timeout: 1, IdentityInterval: 1}, nil); err == nil {
		t.Error("nil scheduler accepted")
	}
}

func TestHelloAllocatesNothing(t *testing.T) {
	dev := &fakeDev{clk: newClock(), took: time.Microsecond}
	p, s, clk := newTest(t, dev, nil)
	s.drain(clk.Now(), 0)
	base := clk.Now()
	i := 0
	run := func() {
		at := base.Add(time.Duration(i) * time.Second)
		s.every[0].Run(Stamps{Intended: at, Started: at.Add(time.Microsecond)})
		i++
	}
	run()
	if a := testing.AllocsPerRun(1000, run); a != 0 {
		t.Fatalf("HELLO job allocates %v times per run", a)
	}
	if a := testing.AllocsPerRun(1000, func() { p.ObserveWakeup(3 * time.Microsecond) }); a != 0 {
		t.Fatalf("ObserveWakeup allocates %v times per run", a)
	}
}

func BenchmarkHelloJob(b *testing.B) {
	clk := newClock()
	dev := &fakeDev{clk: clk, took: time.Microsecond}
	s := &fakeSched{}
	p, _ := New(Config{Interval: time.Second, Timeout: time.Second, IdentityInterval: time.Hour, Now: clk.Now}, s)
	p.Add("sim", func() (Device, error) { return dev, nil })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_ = p.Start(ctx)
	base := clk.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		at := base.Add(time.Duration(i) * time.Second)
		s.every[0].Run(Stamps{Intended: at, Started: at})
	}
}

// TestHungDeviceCountsOthersBusy: one worker serves every EC, so while one EC's transfer
// hangs the other ECs' HELLO deadlines pass unprobed too. The watchdog must count them
// as busy at once, not leave those ECs' counters frozen until the hang ends (maybe never).
func TestHungDeviceCountsOthersBusy(t *testing.T) {
	clk := newClock()
	hung := &fakeDev{clk: clk, took: time.Millisecond, block: make(chan struct{}), entered: make(chan struct{}, 1)}
	other := &fakeDev{clk: clk, took: time.Millisecond}
	s := &fakeSched{}
	p, err := New(Config{Interval: time.Second, Timeout: 100 * time.Millisecond, IdentityInterval: time.Hour, Now: clk.Now}, s)
	if err != nil {
		t.Fatal(err)
	}
	p.Add("hung", func() (Device, error) { return hung, nil })
	p.Add("other", func() (Device, error) { return other, nil })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.drain(clk.Now(), 0)
	base := clk.Now()
	st := func(i int) Stamps {
		at := base.Add(time.Duration(i) * time.Second)
		return Stamps{Intended: at, Started: at}
	}
	go func() { <-hung.entered; hung.block <- struct{}{} }()
	s.every[0].Run(st(0))
	s.every[1].Run(st(0))
	clk.Advance(base.Add(time.Second).Sub(clk.Now()))
	done := make(chan struct{})
	go func() { s.every[0].Run(st(1)); close(done) }()
	<-hung.entered // the worker is stuck in the first EC's HELLO
	clk.Advance(base.Add(4500 * time.Millisecond).Sub(clk.Now()))
	p.CheckStuck()
	snaps := p.Snapshots()
	if got := snaps[0].Commands[Hello].Failures[ec.CauseBusy]; got != 3 {
		t.Fatalf("hung EC: busy = %d, want 3 (deadlines 2-4)", got)
	}
	o := snaps[1].Commands[Hello]
	if o.Attempts != 5 || o.Failures[ec.CauseBusy] != 4 {
		t.Fatalf("other EC while the worker hangs: attempts=%d busy=%d, want 5 and 4 (deadlines 1-4 not probed)", o.Attempts, o.Failures[ec.CauseBusy])
	}
	checkBalance(t, snaps[1])
	hung.block <- struct{}{}
	<-done
	// The worker's catch-up run (oldest missed deadline) was already counted; the next runs.
	s.every[1].Run(st(1))
	s.every[1].Run(st(5))
	o = p.Snapshots()[1].Commands[Hello]
	if o.Attempts != 6 || o.Failures[ec.CauseBusy] != 4 || other.calls[Hello] != 2 {
		t.Fatalf("other EC after the hang: attempts=%d busy=%d sent=%d, want 6, 4 and 2", o.Attempts, o.Failures[ec.CauseBusy], other.calls[Hello])
	}
}

// TestUptimeWrapIsNoReset: GET_UPTIME_INFO's time_since_ec_boot_ms is a u32 that wraps
// after ~49.7 days of uptime; that is no EC reboot and the uptime keeps rising.
func TestUptimeWrapIsNoReset(t *testing.T) {
	const wrap = time.Duration(1<<32) * time.Millisecond
	dev := &fakeDev{clk: newClock(), uptime: wrap - 2*time.Minute}
	p, s, clk := newTest(t, dev, nil)
	s.drain(clk.Now(), 0)
	for _, raw := range []time.Duration{3 * time.Minute, 8 * time.Minute} {
		clk.Advance(5 * time.Minute)
		dev.uptime = raw // wrapped: (wrap + raw) mod 2^32 ms
		p.RefreshIdentity()
		s.drain(clk.Now(), 0)
		snap := p.Snapshots()[0]
		if snap.ResetsDetected != 0 {
			t.Fatalf("uptime wrap at raw %v counted as %d EC resets", raw, snap.ResetsDetected)
		}
		if got := snap.Identity.UptimeInfo.SinceBoot; got != wrap+raw {
			t.Fatalf("uptime after the wrap = %v, want %v", got, wrap+raw)
		}
	}
	clk.Advance(time.Minute)
	dev.uptime = 10 * time.Second // a real reboot after the wrap
	p.RefreshIdentity()
	s.drain(clk.Now(), 0)
	if snap := p.Snapshots()[0]; snap.ResetsDetected != 1 || snap.Identity.UptimeInfo.SinceBoot != 10*time.Second {
		t.Fatalf("reboot after the wrap: resets=%d uptime=%v, want 1 and 10s", snap.ResetsDetected, snap.Identity.UptimeInfo.SinceBoot)
	}
}
