package prober

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ec/ectest"
	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"github.com/ec-exporter/ec_exporter/rt"
)

// fakeEC scripts the simulated EC of ectest: how long each command takes on the test
// clock, HELLO errors, a HELLO that blocks, the uptime the EC reports.
type fakeEC struct {
	clk *testkit.Clock
	tr  *ectest.Transport

	mu        sync.Mutex
	took      time.Duration
	helloErr  error
	block     chan struct{} // when non-nil, HELLO waits for it
	entered   chan struct{}
	uptime    time.Duration
	uptimeErr error
}

func newFakeEC(clk *testkit.Clock) *fakeEC {
	f := &fakeEC{clk: clk, tr: ectest.New(), uptime: time.Hour}
	f.tr.SetHook(f.hook)
	return f
}

func (f *fakeEC) set(fn func(f *fakeEC)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

func (f *fakeEC) open() (*ec.Device, error) { return ec.NewDevice("fake", f.tr), nil }

// answer fails m with err: an EC result in the header, anything else from the transport.
func answer(m *ec.Msg, err error) (int, bool, error) {
	var r ec.Result
	if errors.As(err, &r) {
		m.Result = r
		return 0, true, nil
	}
	return ectest.Fail(err)
}

func (f *fakeEC) hook(m *ec.Msg) (int, bool, error) {
	f.mu.Lock()
	took, helloErr, block, entered, up, upErr := f.took, f.helloErr, f.block, f.entered, f.uptime, f.uptimeErr
	f.mu.Unlock()
	f.clk.Advance(took)
	switch m.Command {
	case ec.CmdHello:
		if block != nil {
			entered <- struct{}{}
			<-block
		}
		if helloErr != nil {
			return answer(m, helloErr)
		}
	case ec.CmdGetUptimeInfo:
		if upErr != nil {
			return answer(m, upErr)
		}
		return ectest.Uptime(m, up, 2, 0x400)
	}
	return 0, false, nil
}

func newClock() *testkit.Clock { return &testkit.Clock{T: time.Unix(1_700_000_000, 0)} }

func newTest(t testing.TB, open Opener, clk *testkit.Clock) (*Prober, *testkit.Sched) {
	t.Helper()
	s := &testkit.Sched{}
	p, err := New(Config{Interval: time.Second, Timeout: 100 * time.Millisecond, IdentityInterval: time.Hour, OpenRetry: time.Millisecond, Now: clk.Now}, s)
	if err != nil {
		t.Fatal(err)
	}
	p.Add("sim", open)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return p, s
}

// started returns a prober whose device is open and whose first identity refresh ran.
func started(t testing.TB, dev *fakeEC) (*Prober, *testkit.Sched) {
	t.Helper()
	p, s := newTest(t, dev.open, dev.clk)
	if n := s.Drain(dev.clk.Now(), 20*time.Microsecond); n != 2 {
		t.Fatalf("want the open and the identity refresh queued at start, got %d jobs", n)
	}
	return p, s
}

// stats returns the counters of the command named name.
func stats(t testing.TB, s Snapshot, name string) CommandStats {
	t.Helper()
	for _, c := range s.Commands {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no command %q in the snapshot", name)
	return CommandStats{}
}

// checkBalance asserts failures never exceed attempts for any command.
func checkBalance(t *testing.T, s Snapshot) {
	t.Helper()
	for _, c := range s.Commands {
		var f uint64
		for _, n := range c.Failures {
			f += n
		}
		if f > c.Attempts {
			t.Fatalf("%s: %d failures > %d attempts", c.Name, f, c.Attempts)
		}
	}
}

func tick(s *testkit.Sched, base time.Time, i int) {
	s.Tick(0, base.Add(time.Duration(i)*time.Second), 0, 0)
}

func TestHappyPath(t *testing.T) {
	dev := newFakeEC(newClock())
	dev.took = 700 * time.Microsecond
	p, s := started(t, dev)
	if len(s.Periodic) != 1 || s.Interval != time.Second {
		t.Fatalf("want one periodic job every 1s, got %d every %v", len(s.Periodic), s.Interval)
	}
	base := dev.clk.Now()
	for i := 0; i < 10; i++ {
		s.Tick(0, base.Add(time.Duration(i)*time.Second), 50*time.Microsecond, 0)
	}
	snap := p.Snapshots()[0]
	checkBalance(t, snap)
	if !snap.Up || !snap.Open {
		t.Fatalf("want up and open, got up=%v open=%v", snap.Up, snap.Open)
	}
	hello := stats(t, snap, "hello")
	if hello.Attempts != 10 {
		t.Errorf("hello attempts = %d, want 10", hello.Attempts)
	}
	for _, c := range probed(Commands) {
		if c.Class == Liveness {
			continue
		}
		if got := stats(t, snap, c.Name).Attempts; got != 1 || dev.tr.Calls(c.Code) != 1 {
			t.Errorf("%s: attempts %d calls %d, want 1", c.Name, got, dev.tr.Calls(c.Code))
		}
	}
	if hello.Transfer.Count() != 10 || snap.ScheduleDelay.Count() != 11 {
		t.Errorf("transfer count %d (want 10), delay count %d (want 11)", hello.Transfer.Count(), snap.ScheduleDelay.Count())
	}
	if got, want := hello.Transfer.Sum(), 10*700e-6; got < want*0.999 || got > want*1.001 {
		t.Errorf("transfer sum %v, want %v", got, want)
	}
	a := snap.Answers
	if a.Version == nil || a.Version.RW == "" || a.Uptime == nil || a.Uptime.APResets != 2 || a.Protocol.ProtocolVersion() != 3 {
		t.Errorf("identity not recorded: %+v", a)
	}
}

func TestFailuresAndRecovery(t *testing.T) {
	dev := newFakeEC(newClock())
	dev.took = time.Millisecond
	p, s := started(t, dev)
	base := dev.clk.Now()
	tick(s, base, 0)
	causes := []error{
		&ec.Error{Cause: ec.CauseChecksum, Op: "test"},
		ec.Result(2),
		&ec.Error{Cause: ec.CauseNotReady, Op: "test"},
		errors.New("unclassified"),
	}
	for i, err := range causes {
		dev.set(func(f *fakeEC) { f.helloErr = err })
		tick(s, base, i+1)
		if p.Snapshots()[0].Up {
			t.Fatalf("up after %v", err)
		}
	}
	snap := p.Snapshots()[0]
	checkBalance(t, snap)
	hello := stats(t, snap, "hello")
	for _, c := range []ec.Cause{ec.CauseChecksum, ec.CauseECResult, ec.CauseNotReady, ec.CauseIO} {
		if hello.Failures[c] != 1 {
			t.Errorf("failures[%v] = %d, want 1", c, hello.Failures[c])
		}
	}
	if want := uint64(ec.DefaultRetryPolicy().NotReadyRetries); hello.Retries != want {
		t.Errorf("retries = %d, want %d (the not-ready re-sends)", hello.Retries, want)
	}
	if hello.Transfer.Count() != 1 {
		t.Errorf("transfer histogram has %d observations, want 1: failed transfers are counted, not timed", hello.Transfer.Count())
	}
	// Recovery re-reads only the State commands (uptime), not the whole identity.
	dev.set(func(f *fakeEC) { f.helloErr = nil })
	before := dev.tr.Calls(ec.CmdGetVersion)
	tick(s, base, 5)
	if !p.Snapshots()[0].Up {
		t.Fatal("not up after a good HELLO")
	}
	if n := s.Drain(dev.clk.Now(), 0); n != 1 {
		t.Fatalf("recovery queued %d jobs, want 1", n)
	}
	if got := stats(t, p.Snapshots()[0], "get_uptime_info").Attempts; got != 2 {
		t.Errorf("uptime read %d times, want 2 (start, recovery)", got)
	}
	if dev.tr.Calls(ec.CmdGetVersion) != before {
		t.Error("recovery without an EC reset re-read GET_VERSION")
	}
	// A HELLO slower than the timeout is a timeout, and the device is down.
	dev.set(func(f *fakeEC) { f.took = 150 * time.Millisecond })
	tick(s, base, 6)
	snap = p.Snapshots()[0]
	if hello := stats(t, snap, "hello"); snap.Up || hello.Failures[ec.CauseTimeout] != 1 {
		t.Fatalf("late HELLO: up=%v timeouts=%d", snap.Up, hello.Failures[ec.CauseTimeout])
	}
}

func TestRecoveryAfterResetReadsIdentity(t *testing.T) {
	dev := newFakeEC(newClock())
	p, s := started(t, dev)
	base := dev.clk.Now()
	tick(s, base, 0)
	dev.set(func(f *fakeEC) { f.helloErr = &ec.Error{Cause: ec.CauseTimeout, Op: "test"} })
	tick(s, base, 1)
	dev.clk.Advance(time.Minute)
	dev.set(func(f *fakeEC) { f.helloErr, f.uptime = nil, 5*time.Second }) // the EC rebooted
	tick(s, base, 2)
	before := dev.tr.Calls(ec.CmdGetVersion)
	if n := s.Drain(dev.clk.Now(), 0); n != 2 {
		t.Fatalf("recovery with a reset ran %d jobs, want 2 (uptime, then identity)", n)
	}
	if p.Snapshots()[0].ResetsDetected != 1 || dev.tr.Calls(ec.CmdGetVersion) != before+1 {
		t.Fatalf("reset not detected or identity not re-read: resets=%d", p.Snapshots()[0].ResetsDetected)
	}
}

func TestHungTransfer(t *testing.T) {
	dev := newFakeEC(newClock())
	dev.took = time.Millisecond
	p, s := started(t, dev)
	clk := dev.clk
	base := clk.Now()
	tick(s, base, 0)
	dev.set(func(f *fakeEC) { f.block, f.entered = make(chan struct{}), make(chan struct{}, 1) })
	clk.Advance(base.Add(time.Second).Sub(clk.Now()))
	done := make(chan struct{})
	go func() { tick(s, base, 1); close(done) }()
	<-dev.entered // the worker is now stuck in HELLO
	clk.Advance(50 * time.Millisecond)
	p.CheckStuck()
	if snap := p.Snapshots()[0]; !snap.Up || stats(t, snap, "hello").Failures[ec.CauseTimeout] != 0 {
		t.Fatal("timed out before the timeout passed")
	}
	clk.Advance(100 * time.Millisecond) // 150 ms into the transfer
	p.CheckStuck()
	p.CheckStuck()
	snap := p.Snapshots()[0]
	if snap.Up || stats(t, snap, "hello").Failures[ec.CauseTimeout] != 1 {
		t.Fatalf("stuck HELLO: up=%v timeouts=%d, want down and 1", snap.Up, stats(t, snap, "hello").Failures[ec.CauseTimeout])
	}
	clk.Advance(base.Add(4500 * time.Millisecond).Sub(clk.Now())) // deadlines 2, 3 and 4 pass while stuck
	p.CheckStuck()
	snap = p.Snapshots()[0]
	if got := stats(t, snap, "hello").Failures[ec.CauseBusy]; got != 3 {
		t.Fatalf("busy while stuck = %d, want 3", got)
	}
	checkBalance(t, snap)
	dev.block <- struct{}{}
	<-done
	dev.set(func(f *fakeEC) { f.block = nil })
	snap = p.Snapshots()[0]
	if h := stats(t, snap, "hello"); h.Attempts != 5 || h.Failures[ec.CauseTimeout] != 1 {
		t.Fatalf("after return: attempts=%d timeouts=%d, want 5 and 1 (no double count)", h.Attempts, h.Failures[ec.CauseTimeout])
	}
	// The worker's catch-up run: deadline 2 (counted busy) with 2 and 3 missed after it
	// (counted busy too): nothing new is counted and HELLO is not sent.
	s.Tick(0, base.Add(2*time.Second), 0, 2)
	tick(s, base, 5)
	snap = p.Snapshots()[0]
	checkBalance(t, snap)
	if h := stats(t, snap, "hello"); !snap.Up || h.Attempts != 6 {
		t.Fatalf("after recovery: up=%v attempts=%d, want up and 6", snap.Up, h.Attempts)
	}
	// Missed deadlines the watchdog did not see come from the worker's Stamps.Missed.
	s.Tick(0, base.Add(6*time.Second), 0, 3)
	if got := stats(t, p.Snapshots()[0], "hello").Failures[ec.CauseBusy]; got != 6 {
		t.Fatalf("busy after 3 missed deadlines = %d, want 6", got)
	}
	if s.Drain(clk.Now(), 0) != 1 {
		t.Fatal("recovery after the hang did not refresh the uptime")
	}
}

func TestHungOpen(t *testing.T) {
	clk := newClock()
	dev := newFakeEC(clk)
	release, entered := make(chan struct{}), make(chan struct{})
	p, s := newTest(t, func() (*ec.Device, error) {
		close(entered)
		<-release
		return dev.open()
	}, clk)
	done := make(chan struct{})
	go func() { s.Drain(clk.Now(), 0); close(done) }()
	<-entered
	clk.Advance(150 * time.Millisecond)
	p.CheckStuck()
	snap := p.Snapshots()[0]
	if snap.Open || snap.Up || snap.OpenFailures[ec.CauseTimeout] != 1 || snap.OpenErr == "" {
		t.Fatalf("hung open: open=%v up=%v timeouts=%d reason=%q", snap.Open, snap.Up, snap.OpenFailures[ec.CauseTimeout], snap.OpenErr)
	}
	close(release)
	<-done
	if snap := p.Snapshots()[0]; !snap.Open || snap.OpenErr != "" || snap.OpenFailures[ec.CauseTimeout] != 1 {
		t.Fatalf("late open: open=%v reason=%q", snap.Open, snap.OpenErr)
	}
}

func TestQueueFullCountsBusy(t *testing.T) {
	dev := newFakeEC(newClock())
	p, s := started(t, dev)
	s.SetFull(true)
	p.RefreshIdentity()
	snap := p.Snapshots()[0]
	for _, c := range probed(Commands) {
		if c.Class == Liveness {
			continue
		}
		if st := stats(t, snap, c.Name); st.Attempts != 2 || st.Failures[ec.CauseBusy] != 1 {
			t.Errorf("%s: attempts %d busy %d, want 2 and 1", c.Name, st.Attempts, st.Failures[ec.CauseBusy])
		}
	}
}

func TestUnsupportedAndReset(t *testing.T) {
	dev := newFakeEC(newClock())
	p, s := started(t, dev)
	clk := dev.clk
	for _, step := range []struct {
		up   time.Duration
		want uint64
	}{{10 * time.Second, 1}, {70 * time.Second, 1}} { // EC rebooted, then kept running
		clk.Advance(time.Minute)
		dev.set(func(f *fakeEC) { f.uptime = step.up })
		p.RefreshIdentity()
		s.Drain(clk.Now(), 0)
		if got := p.Snapshots()[0].ResetsDetected; got != step.want {
			t.Fatalf("uptime %v a minute later: resets detected = %d, want %d", step.up, got, step.want)
		}
	}
	dev.set(func(f *fakeEC) { f.uptimeErr = ec.ResInvalidCommand })
	for i := 0; i < 3; i++ {
		p.RefreshIdentity()
		s.Drain(clk.Now(), 0)
	}
	snap := p.Snapshots()[0]
	if n, f := dev.tr.Calls(ec.CmdGetUptimeInfo), stats(t, snap, "get_uptime_info").Failures[ec.CauseECResult]; n != 4 || f != 1 {
		t.Fatalf("unsupported uptime asked %d times with %d failures, want 4 and 1", n, f)
	}
}

func TestOpenRetry(t *testing.T) {
	clk := newClock()
	dev := newFakeEC(clk)
	var mu sync.Mutex
	fails := 2
	p, s := newTest(t, func() (*ec.Device, error) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			return nil, fmt.Errorf("open /dev/cros_ec: %w", errors.New("no such device"))
		}
		return dev.open()
	}, clk)
	s.Drain(clk.Now(), 0)
	snap := p.Snapshots()[0]
	// The 1 ms retry runs on a real timer: on a slow machine (qemu) the second failed
	// attempt can land within the same Drain, so one or two failures so far.
	if io := snap.OpenFailures[ec.CauseIO]; snap.Open || snap.Up || io < 1 || io > 2 || snap.OpenErr == "" {
		t.Fatalf("failed open: open=%v up=%v io=%d reason=%q", snap.Open, snap.Up, snap.OpenFailures[ec.CauseIO], snap.OpenErr)
	}
	testkit.Eventually(t, "the device to reopen", 10*time.Second, func() bool {
		s.Drain(clk.Now(), 0)
		return p.Snapshots()[0].Open
	})
	if len(s.Periodic) != 1 {
		t.Fatalf("periodic jobs after reopen = %d, want 1", len(s.Periodic))
	}
	if got := p.Snapshots()[0].OpenFailures[ec.CauseIO]; got != 2 {
		t.Fatalf("open failures = %d, want 2", got)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, c := range []Config{{}, {Interval: time.Second}, {Interval: time.Second, Timeout: time.Second, IdentityInterval: time.Hour},
		{Interval: time.Second, Timeout: 100 * time.Millisecond}} {
		if _, err := New(c, &testkit.Sched{}); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	if _, err := New(Config{Interval: 2, Timeout: 1, IdentityInterval: 1}, nil); err == nil {
		t.Error("nil scheduler accepted")
	}
}

// TestTableCommand adds a command to the table and finds it sent and counted.
func TestTableCommand(t *testing.T) {
	var got []uint32
	cmds := append([]Command{}, Commands...)
	cmds = append(cmds, Command{Name: "get_comms_status_state", Code: ec.CmdGetCommsStatus, Class: State,
		Run: func(d *ec.Device, a *Answers) error {
			s, err := d.CommsStatus()
			got = append(got, s)
			return err
		}})
	clk := newClock()
	dev := newFakeEC(clk)
	s := &testkit.Sched{}
	p, err := New(Config{Interval: time.Second, Timeout: 100 * time.Millisecond, IdentityInterval: time.Hour, Now: clk.Now, Commands: cmds}, s)
	if err != nil {
		t.Fatal(err)
	}
	p.Add("sim", dev.open)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Drain(clk.Now(), 0)
	if len(got) != 1 || stats(t, p.Snapshots()[0], "get_comms_status_state").Attempts != 1 {
		t.Fatalf("the new command ran %d times", len(got))
	}
}

func TestHelloAllocatesNothing(t *testing.T) {
	dev := newFakeEC(newClock())
	dev.tr.SetHook(nil) // the simulated EC answers; the hook's channel reads would not allocate either
	_, s := started(t, dev)
	base := dev.clk.Now()
	i := 0
	run := func() {
		s.Tick(0, base.Add(time.Duration(i)*time.Second), time.Microsecond, 0)
		i++
	}
	run()
	if a := testing.AllocsPerRun(1000, run); a != 0 {
		t.Fatalf("HELLO job allocates %v times per run", a)
	}
}

func BenchmarkHelloJob(b *testing.B) {
	dev := newFakeEC(newClock())
	dev.tr.SetHook(nil)
	_, s := started(b, dev)
	base := dev.clk.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Tick(0, base.Add(time.Duration(i)*time.Second), 0, 0)
	}
}

// TestHungDeviceCountsOthersBusy: one worker serves every EC, so while one EC's transfer
// hangs the other ECs' HELLO deadlines pass unprobed too. The watchdog must count them
// as busy at once, not leave those ECs' counters frozen until the hang ends (maybe never).
func TestHungDeviceCountsOthersBusy(t *testing.T) {
	clk := newClock()
	hung, other := newFakeEC(clk), newFakeEC(clk)
	s := &testkit.Sched{}
	p, err := New(Config{Interval: time.Second, Timeout: 100 * time.Millisecond, IdentityInterval: time.Hour, Now: clk.Now}, s)
	if err != nil {
		t.Fatal(err)
	}
	p.Add("hung", hung.open)
	p.Add("other", other.open)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.Drain(clk.Now(), 0)
	base := clk.Now()
	s.Tick(0, base, 0, 0)
	s.Tick(1, base, 0, 0)
	hung.set(func(f *fakeEC) { f.block, f.entered = make(chan struct{}), make(chan struct{}, 1) })
	clk.Advance(base.Add(time.Second).Sub(clk.Now()))
	done := make(chan struct{})
	go func() { s.Tick(0, base.Add(time.Second), 0, 0); close(done) }()
	<-hung.entered // the worker is stuck in the first EC's HELLO
	clk.Advance(base.Add(4500 * time.Millisecond).Sub(clk.Now()))
	p.CheckStuck()
	snaps := p.Snapshots()
	if got := stats(t, snaps[0], "hello").Failures[ec.CauseBusy]; got != 3 {
		t.Fatalf("hung EC: busy = %d, want 3 (deadlines 2-4)", got)
	}
	o := stats(t, snaps[1], "hello")
	if o.Attempts != 5 || o.Failures[ec.CauseBusy] != 4 {
		t.Fatalf("other EC while the worker hangs: attempts=%d busy=%d, want 5 and 4 (deadlines 1-4 not probed)", o.Attempts, o.Failures[ec.CauseBusy])
	}
	checkBalance(t, snaps[1])
	hung.block <- struct{}{}
	<-done
	// The worker's catch-up run (oldest missed deadline 1, 2-4 missed) was already counted.
	sent := other.tr.Calls(ec.CmdHello)
	s.Tick(1, base.Add(time.Second), 0, 3)
	s.Tick(1, base.Add(5*time.Second), 0, 0)
	o = stats(t, p.Snapshots()[1], "hello")
	if o.Attempts != 6 || o.Failures[ec.CauseBusy] != 4 || other.tr.Calls(ec.CmdHello) != sent+1 {
		t.Fatalf("other EC after the hang: attempts=%d busy=%d sent=%d, want 6, 4 and 1", o.Attempts, o.Failures[ec.CauseBusy], other.tr.Calls(ec.CmdHello)-sent)
	}
}

// TestUptimeWrapIsNoReset: GET_UPTIME_INFO's time_since_ec_boot_ms is a u32 that wraps
// after ~49.7 days of uptime; that is no EC reboot and the uptime keeps rising.
func TestUptimeWrapIsNoReset(t *testing.T) {
	const wrap = time.Duration(1<<32) * time.Millisecond
	dev := newFakeEC(newClock())
	dev.uptime = wrap - 2*time.Minute
	p, s := started(t, dev)
	clk := dev.clk
	for _, raw := range []time.Duration{3 * time.Minute, 8 * time.Minute} {
		clk.Advance(5 * time.Minute)
		dev.set(func(f *fakeEC) { f.uptime = raw }) // wrapped: (wrap + raw) mod 2^32 ms
		p.RefreshIdentity()
		s.Drain(clk.Now(), 0)
		snap := p.Snapshots()[0]
		if snap.ResetsDetected != 0 {
			t.Fatalf("uptime wrap at raw %v counted as %d EC resets", raw, snap.ResetsDetected)
		}
		if got := snap.Answers.Uptime.SinceBoot; got != wrap+raw {
			t.Fatalf("uptime after the wrap = %v, want %v", got, wrap+raw)
		}
	}
	clk.Advance(time.Minute)
	dev.set(func(f *fakeEC) { f.uptime = 10 * time.Second }) // a real reboot after the wrap
	p.RefreshIdentity()
	s.Drain(clk.Now(), 0)
	if snap := p.Snapshots()[0]; snap.ResetsDetected != 1 || snap.Answers.Uptime.SinceBoot != 10*time.Second {
		t.Fatalf("reboot after the wrap: resets=%d uptime=%v, want 1 and 10s", snap.ResetsDetected, snap.Answers.Uptime.SinceBoot)
	}
}

var _ rt.Job = livenessJob{}
