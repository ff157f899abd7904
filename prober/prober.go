package prober

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/hist"
	"github.com/ec-exporter/ec_exporter/rt"
)

// Scheduler runs jobs on the worker thread; *rt.Worker is one.
type Scheduler interface {
	// Every runs j periodically at absolute deadlines kept by the worker.
	Every(interval time.Duration, j rt.Job)
	// Submit queues j once; it fails when the queue is full or closed.
	Submit(j rt.Job) error
}

// Opener opens one device; the prober calls it on the worker thread and retries every
// error with backoff (configuration mistakes are caught before, when the flags are read).
type Opener func() (*ec.Device, error)

// Config tunes the prober.
type Config struct {
	Interval         time.Duration    // liveness period per device
	Timeout          time.Duration    // a command (or open) running longer counts as a timeout
	IdentityInterval time.Duration    // refresh of the Identity and State commands
	OpenRetry        time.Duration    // first delay before re-opening a device (doubles up to MaxOpenRetry)
	Commands         []Command        // the table; Commands when nil
	Now              func() time.Time // clock; time.Now when nil
	Logger           *slog.Logger     // slog.Default() when nil
}

// MaxOpenRetry bounds the backoff between attempts to open a device.
const MaxOpenRetry = 30 * time.Second

func (c *Config) fill() error {
	if c.Interval <= 0 {
		return fmt.Errorf("prober: interval must be > 0, got %v", c.Interval)
	}
	if c.Timeout <= 0 || c.Timeout >= c.Interval {
		return fmt.Errorf("prober: timeout must be > 0 and below the interval (%v), got %v", c.Interval, c.Timeout)
	}
	if c.IdentityInterval <= 0 {
		return fmt.Errorf("prober: identity interval must be > 0, got %v", c.IdentityInterval)
	}
	if c.OpenRetry <= 0 {
		c.OpenRetry = time.Second
	}
	if c.Commands == nil {
		c.Commands = Commands
	}
	c.Commands = probed(c.Commands)
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
	started atomic.Bool
	ctx     context.Context
}

// New returns a prober that runs its jobs through s.
func New(cfg Config, s Scheduler) (*Prober, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, errors.New("prober: nil scheduler")
	}
	return &Prober{cfg: cfg, sched: s, ctx: context.Background()}, nil
}

// Add registers a device by its label name; call it before Start.
func (p *Prober) Add(name string, open Opener) {
	t := &target{p: p, name: name, open: open, cmds: make([]CommandStats, len(p.cfg.Commands)), delay: hist.New(hist.Fine)}
	for i, c := range p.cfg.Commands {
		t.cmds[i].Name = c.Name
		if c.Class == Liveness {
			t.cmds[i].Transfer = new(hist.Histogram)
		}
	}
	t.openJob = openJob{t}
	t.liveness = livenessJob{t}
	t.identity = refreshJob{t: t, kind: identityRefresh}
	t.recovery = refreshJob{t: t, kind: stateRefresh}
	p.targets = append(p.targets, t)
}

// Now returns the prober's clock reading.
func (p *Prober) Now() time.Time { return p.cfg.Now() }

// Start queues the opening of every device on the worker and returns at once: no EC I/O
// happens on the caller's goroutine. Devices that fail to open report down and are
// re-opened with backoff. The watchdog and the identity refresh run until ctx ends.
func (p *Prober) Start(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return errors.New("prober: already started")
	}
	p.ctx = ctx
	for _, t := range p.targets {
		t.submitOpen()
	}
	go p.tickUntilDone(ctx, min(max(p.cfg.Timeout/4, 5*time.Millisecond), 250*time.Millisecond), p.CheckStuck)
	go p.tickUntilDone(ctx, p.cfg.IdentityInterval, p.RefreshIdentity)
	return nil
}

// CheckStuck counts commands (or opens) running past the timeout as timeouts and the
// liveness deadlines they made the worker miss as busy, for every device (one worker
// serves them all); the watchdog calls it periodically.
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

// tickUntilDone calls f every d until ctx ends.
func (p *Prober) tickUntilDone(ctx context.Context, d time.Duration, f func()) {
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
			t.request(&t.identity)
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
	Name     string
	Class    Class
	Attempts uint64
	Failures [ec.NumCauses]uint64 // indexed by ec.Cause; [CauseNone] stays 0
	Retries  uint64
	Transfer *hist.Histogram // successful transfers (Liveness commands only)
}

// Snapshot is one device's probe state at one moment.
type Snapshot struct {
	Device         string
	Open           bool
	OpenFailures   [ec.NumCauses]uint64 // failed attempts to open the device, by cause
	OpenErr        string               // why the latest open failed ("" once open)
	OpenCause      ec.Cause             // cause of the latest failed open (CauseNone once open)
	Up             bool
	LastSuccess    time.Time      // zero if never
	Commands       []CommandStats // the prober's commands, in table order
	ScheduleDelay  hist.Histogram // intended start → running on the worker
	Answers        Answers
	UptimeAt       time.Time // when Answers.Uptime was read
	ResetsDetected uint64    // EC reboots seen as uptime going backwards
}
