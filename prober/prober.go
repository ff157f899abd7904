package prober

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/hist"
)

// Config tunes the prober.
type Config struct {
	Interval         time.Duration    // HELLO period per device
	Timeout          time.Duration    // a command running longer counts as a timeout
	IdentityInterval time.Duration    // refresh of version, protocol, build, chip and uptime
	OpenRetry        time.Duration    // first delay before retrying a device that failed to open (doubles up to 30 s)
	Now              func() time.Time // clock; time.Now when nil
	Logger           *slog.Logger     // slog.Default() when nil
}

func (c *Config) fill() error {
	if c.Interval <= 0 {
		return fmt.Errorf("prober: interval must be > 0, got %v", c.Interval)
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("prober: timeout must be > 0, got %v", c.Timeout)
	}
	if c.IdentityInterval <= 0 {
		return fmt.Errorf("prober: identity interval must be > 0, got %v", c.IdentityInterval)
	}
	if c.OpenRetry <= 0 {
		c.OpenRetry = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Prober owns the probe state of every device.
type Prober struct {
	cfg     Config
	sched   Scheduler
	targets []*target

	wakeMu sync.Mutex
	wakeup hist.Histogram

	started atomic.Bool
}

// New returns a prober that runs its jobs through s.
func New(cfg Config, s Scheduler) (*Prober, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("prober: nil scheduler")
	}
	return &Prober{cfg: cfg, sched: s}, nil
}

// Add registers a device by its label name; call it before Start.
func (p *Prober) Add(name string, open Opener) {
	t := &target{p: p, name: name, open: open}
	t.hello = helloJob{t}
	t.identity = identityJob{t}
	p.targets = append(p.targets, t)
}

// Now returns the prober's clock reading.
func (p *Prober) Now() time.Time { return p.cfg.Now() }

// ObserveWakeup records one timer overshoot of the worker thread (rt.Config.OnWakeup).
func (p *Prober) ObserveWakeup(overshoot time.Duration) {
	p.wakeMu.Lock()
	p.wakeup.Observe(overshoot)
	p.wakeMu.Unlock()
}

// Wakeup returns a copy of the worker wake-up latency histogram.
func (p *Prober) Wakeup() hist.Histogram {
	p.wakeMu.Lock()
	defer p.wakeMu.Unlock()
	return p.wakeup
}

// Start opens every device once, returning an error only for configuration errors
// (ErrConfig); devices that fail otherwise are retried in the background and report
// down meanwhile. It then schedules the probes and runs the watchdog and the identity
// refresh until ctx ends.
func (p *Prober) Start(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("prober: already started")
	}
	var pending []*target
	for _, t := range p.targets {
		dev, err := t.open()
		if err != nil {
			if errors.Is(err, ErrConfig) {
				return fmt.Errorf("prober: open %s: %w", t.name, err)
			}
			p.cfg.Logger.Warn("EC not available, reporting it down and retrying", "device", t.name, "err", err)
			t.setOpenErr()
			pending = append(pending, t)
			continue
		}
		t.attach(dev)
	}
	for _, t := range pending {
		go t.retryOpen(ctx)
	}
	go p.watchdog(ctx)
	go p.refresh(ctx)
	return nil
}

// watchdog notices commands stuck past the timeout while the worker is blocked.
func (p *Prober) watchdog(ctx context.Context) {
	tick := p.cfg.Timeout / 4
	tick = min(max(tick, 5*time.Millisecond), 250*time.Millisecond)
	tickUntilDone(ctx, tick, p.CheckStuck)
}

// CheckStuck counts commands running past the timeout as timeouts and the HELLO
// deadlines they made the worker miss as busy, for every device (one worker serves them
// all); the watchdog calls it periodically.
func (p *Prober) CheckStuck() {
	now := p.cfg.Now()
	stuck := false
	for _, t := range p.targets {
		if t.checkStuck(now) {
			stuck = true
		}
	}
	if stuck {
		for _, t := range p.targets {
			t.countBusy(now)
		}
	}
}

func (p *Prober) refresh(ctx context.Context) {
	tickUntilDone(ctx, p.cfg.IdentityInterval, p.RefreshIdentity)
}

// tickUntilDone calls f every d until ctx ends.
func tickUntilDone(ctx context.Context, d time.Duration, f func()) {
	tk := time.NewTicker(d)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			f()
		}
	}
}

// RefreshIdentity queues an identity refresh for every open device.
func (p *Prober) RefreshIdentity() {
	for _, t := range p.targets {
		if t.device() != nil {
			t.requestIdentity()
		}
	}
}

// Snapshots returns a copy of every device's state, in Add order.
func (p *Prober) Snapshots() []Snapshot {
	out := make([]Snapshot, len(p.targets))
	for i, t := range p.targets {
		t.snapshot(&out[i])
	}
	return out
}

// CommandStats counts one command's outcomes. Attempts = successes + sum(Failures).
type CommandStats struct {
	Attempts uint64
	Failures [NumCauses]uint64 // indexed by ec.Cause; [CauseNone] stays 0
	Retries  uint64
}

// Identity is what the identity commands last read.
type Identity struct {
	Version, Protocol, Build, Chip, Uptime bool // which parts are known
	VersionInfo                            Version
	ProtocolInfo                           Protocol
	BuildInfo                              string
	ChipInfo                               Chip
	UptimeInfo                             Uptime
	UptimeAt                               time.Time // when UptimeInfo was read
}

// Snapshot is one device's probe state at one moment.
type Snapshot struct {
	Device         string
	Open           bool
	Up             bool
	LastSuccess    time.Time // zero if never
	Commands       [NumCommands]CommandStats
	Transfer       hist.Histogram // HELLO transfer duration
	ScheduleDelay  hist.Histogram // intended start → running on the worker
	Identity       Identity
	ResetsDetected uint64 // EC reboots seen as uptime going backwards
}

// target is one device and its state; mu guards everything below it.
type target struct {
	p        *Prober
	name     string
	open     Opener
	hello    helloJob
	identity identityJob

	dev             atomic.Pointer[Device]
	identityPending atomic.Bool

	mu            sync.Mutex
	openErr       bool
	up            bool
	everUp        bool
	lastSuccess   time.Time
	cmds          [NumCommands]CommandStats
	transfer      hist.Histogram
	delay         hist.Histogram
	id            Identity
	unsupported   [NumCommands]bool
	resets        uint64
	lastIntended  time.Time // deadline of the latest HELLO run
	busyThrough   time.Time // HELLO deadlines up to here were counted as busy
	inflight      bool
	inflightCmd   Command
	inflightStart time.Time
	inflightDone  bool // the watchdog counted the in-flight command as a timeout
}

func (t *target) device() Device {
	if d := t.dev.Load(); d != nil {
		return *d
	}
	return nil
}

func (t *target) setOpenErr() {
	t.mu.Lock()
	t.openErr = true
	t.mu.Unlock()
}

// attach starts probing an opened device.
func (t *target) attach(d Device) {
	t.dev.Store(&d)
	t.mu.Lock()
	t.openErr = false
	t.mu.Unlock()
	t.requestIdentity()
	t.p.sched.Every(t.p.cfg.Interval, t.hello)
}

func (t *target) retryOpen(ctx context.Context) {
	wait := t.p.cfg.OpenRetry
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		dev, err := t.open()
		if err == nil {
			t.p.cfg.Logger.Info("EC opened", "device", t.name)
			t.attach(dev)
			return
		}
		t.p.cfg.Logger.Warn("EC still not available", "device", t.name, "err", err, "retry_in", min(2*wait, 30*time.Second))
		wait = min(2*wait, 30*time.Second)
	}
}

// requestIdentity queues the identity job unless one is already queued.
func (t *target) requestIdentity() {
	if !t.identityPending.CompareAndSwap(false, true) {
		return
	}
	if err := t.p.sched.Submit(t.identity); err != nil {
		t.identityPending.Store(false)
		// The refresh could not even be queued: count every command it would have sent as busy.
		t.mu.Lock()
		for _, c := range identityCommands {
			if !t.unsupported[c] {
				t.cmds[c].Attempts++
				t.cmds[c].Failures[ec.CauseBusy]++
			}
		}
		t.mu.Unlock()
	}
}

// begin marks cmd as running on the worker.
func (t *target) begin(cmd Command, start time.Time) {
	t.mu.Lock()
	t.inflight, t.inflightCmd, t.inflightStart, t.inflightDone = true, cmd, start, false
	t.mu.Unlock()
}

// finish records the outcome of cmd. It reports whether the EC just recovered.
func (t *target) finish(cmd Command, start, end time.Time, err error, retries int) (recovered bool) {
	d := end.Sub(start)
	cause := ec.CauseOf(err)
	if cause == ec.CauseNone && d > t.p.cfg.Timeout {
		cause = ec.CauseTimeout
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if cmd == Hello {
		t.transfer.Observe(d)
	}
	st := &t.cmds[cmd]
	st.Retries += uint64(max(retries, 0))
	if !t.inflightDone { // else the watchdog already counted it as a timeout
		st.Attempts++
		if cause != ec.CauseNone {
			st.Failures[cause]++
		}
	}
	t.inflight, t.inflightDone = false, false
	if cause == ec.CauseNone {
		t.lastSuccess = end
		if cmd == Hello {
			recovered = t.everUp && !t.up
			t.up, t.everUp = true, true
		}
	} else if cmd == Hello || cause == ec.CauseTimeout {
		t.up = false
	}
	return recovered
}

// checkStuck counts t's command running past the timeout as a timeout and reports
// whether t holds the worker stuck.
func (t *target) checkStuck(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.inflight || now.Sub(t.inflightStart) <= t.p.cfg.Timeout {
		return false
	}
	if !t.inflightDone {
		t.inflightDone = true
		st := &t.cmds[t.inflightCmd]
		st.Attempts++
		st.Failures[ec.CauseTimeout]++
		t.up = false
	}
	return true
}

// countBusy counts t's HELLO deadlines that passed while the worker is stuck (in any
// device's command) as busy: the worker skips them.
func (t *target) countBusy(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lastIntended.IsZero() {
		return
	}
	iv := t.p.cfg.Interval
	from := t.lastIntended
	if t.busyThrough.After(from) {
		from = t.busyThrough
	}
	for next := from.Add(iv); !next.After(now); next = next.Add(iv) {
		t.cmds[Hello].Attempts++
		t.cmds[Hello].Failures[ec.CauseBusy]++
		t.busyThrough = next
	}
}

func (t *target) snapshot(s *Snapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s.Device = t.name
	s.Open = t.dev.Load() != nil
	s.Up = t.up && s.Open
	s.LastSuccess = t.lastSuccess
	s.Commands = t.cmds
	s.Transfer = t.transfer
	s.ScheduleDelay = t.delay
	s.Identity = t.id
	s.ResetsDetected = t.resets
}

// helloJob is the periodic HELLO of one device.
type helloJob struct{ t *target }

// Run sends one HELLO; it runs on the worker thread and allocates nothing.
func (j helloJob) Run(s Stamps) {
	t := j.t
	dev := t.device()
	if dev == nil {
		return
	}
	now := t.p.cfg.Now
	iv := t.p.cfg.Interval
	t.mu.Lock()
	if !s.Intended.After(t.busyThrough) && !t.busyThrough.IsZero() {
		// This deadline was already counted as skipped while the worker was stuck.
		t.lastIntended = s.Intended
		t.mu.Unlock()
		return
	}
	if !t.lastIntended.IsZero() {
		from := t.lastIntended
		if t.busyThrough.After(from) {
			from = t.busyThrough
		}
		// Deadlines between the previous run and this one never ran: the worker was busy.
		if missed := int64((s.Intended.Sub(from)+iv/2)/iv) - 1; missed > 0 {
			t.cmds[Hello].Attempts += uint64(missed)
			t.cmds[Hello].Failures[ec.CauseBusy] += uint64(missed)
		}
	}
	t.lastIntended = s.Intended
	t.delay.Observe(s.Started.Sub(s.Intended))
	t.mu.Unlock()

	start := now()
	t.begin(Hello, start)
	err := dev.Hello()
	end := now()
	if t.finish(Hello, start, end, err, dev.LastRetries()) {
		t.requestIdentity()
	}
}

// uptimeWrap is the period of GET_UPTIME_INFO's u32 millisecond uptime.
const uptimeWrap = time.Duration(1<<32) * time.Millisecond

// identityJob reads version, protocol, build, chip and uptime of one device.
type identityJob struct{ t *target }

// Run sends the identity commands the EC supports, one after the other.
func (j identityJob) Run(s Stamps) {
	t := j.t
	t.identityPending.Store(false)
	dev := t.device()
	if dev == nil {
		return
	}
	t.mu.Lock()
	t.delay.Observe(s.Started.Sub(s.Intended))
	t.mu.Unlock()
	for _, c := range identityCommands {
		t.mu.Lock()
		skip := t.unsupported[c]
		t.mu.Unlock()
		if !skip {
			t.runIdentity(dev, c)
		}
	}
}

func (t *target) runIdentity(dev Device, c Command) {
	now := t.p.cfg.Now
	start := now()
	t.begin(c, start)
	var (
		err error
		v   Version
		pr  Protocol
		b   string
		ch  Chip
		u   Uptime
	)
	switch c {
	case GetVersion:
		v, err = dev.Version()
	case GetProtocolInfo:
		pr, err = dev.ProtocolInfo()
	case GetBuildInfo:
		b, err = dev.BuildInfo()
	case GetChipInfo:
		ch, err = dev.ChipInfo()
	case GetUptimeInfo:
		u, err = dev.UptimeInfo()
	}
	end := now()
	t.finish(c, start, end, err, dev.LastRetries())
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		if isUnsupported(err) {
			t.unsupported[c] = true
			t.p.cfg.Logger.Info("EC does not support command, not asking again", "device", t.name, "command", c.String())
		}
		return
	}
	switch c {
	case GetVersion:
		t.id.Version, t.id.VersionInfo = true, v
	case GetProtocolInfo:
		t.id.Protocol, t.id.ProtocolInfo = true, pr
	case GetBuildInfo:
		t.id.Build, t.id.BuildInfo = true, b
	case GetChipInfo:
		t.id.Chip, t.id.ChipInfo = true, ch
	case GetUptimeInfo:
		if t.id.Uptime {
			// Expected uptime now, had the EC kept running since the last read.
			elapsed := end.Sub(t.id.UptimeAt)
			expected := t.id.UptimeInfo.SinceBoot + elapsed
			// time_since_ec_boot_ms is a u32: it wraps every ~49.7 days without a reboot.
			// A reading that matches the expected uptime modulo the wrap is unwrapped.
			if k := (expected - u.SinceBoot + uptimeWrap/2) / uptimeWrap; k >= 1 {
				if d := u.SinceBoot + k*uptimeWrap - expected; d.Abs() <= time.Second+elapsed/100 {
					u.SinceBoot += k * uptimeWrap
				}
			}
			if u.SinceBoot+time.Second < expected-expected/100 {
				t.resets++
			}
		}
		t.id.Uptime, t.id.UptimeInfo, t.id.UptimeAt = true, u, end
	}
}
