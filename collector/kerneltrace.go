package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/ec-exporter/ec_exporter/ectrace"
	"github.com/ec-exporter/ec_exporter/hist"
	"github.com/ec-exporter/ec_exporter/tracefs"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrTraceUnavailable is returned by KernelTrace.Update when the cros_ec trace
// events cannot be read (no tracefs, no permission, no cros_ec driver).
var ErrTraceUnavailable = errors.New("kernel trace unavailable")

// KernelTraceOptions configure the kernel-trace collector.
type KernelTraceOptions struct {
	Mounts   string        // /proc/self/mounts when empty: where to find tracefs
	Root     string        // the tracefs mount point; found from Mounts when empty
	Instance string        // the instance under instances/; "ec_exporter.<pid>" when empty (those of dead runs are removed)
	BufferKB int           // per-CPU ring buffer of the instance; 64 when 0
	Replay   string        // tests: read recorded trace_pipe lines from this file instead, again every Every
	Every    time.Duration // replay period; 1s when 0
	Logger   *slog.Logger  // slog.Default() when nil
}

// instancePrefix names the exporter's tracefs instances: instancePrefix + pid.
const instancePrefix = "ec_exporter."

// kernelHistCommands are the commands with their own duration histogram (the rest
// share "other"): GET_NEXT_EVENT is read on every EC interrupt (keyboard, sensors,
// host events) and is the latency users feel. Each costs 6 series.
var kernelHistCommands = []string{"get_next_event", "other"}

// KernelTrace counts every EC command the kernel sends, from the cros_ec trace
// events of a private tracefs instance, read continuously off the scrape path.
type KernelTrace struct {
	opts KernelTraceOptions

	commands, duration, lost, unpaired *prometheus.Desc

	mu       sync.Mutex
	counts   map[[3]uint8]uint64 // [command, class, result] → calls, created on first sight
	hists    []hist.Histogram    // per kernelHistCommands
	histOf   []int               // ectrace.Commands index → hists index
	pairer   *ectrace.Pairer
	lostN    uint64
	events   uint64
	err      error
	ready    bool // the events are being read (set-up done)
	stop     context.CancelFunc
	finished chan struct{}
}

// NewKernelTrace returns the kernel-trace collector; Start begins reading.
func NewKernelTrace(opts KernelTraceOptions) *KernelTrace {
	if opts.Mounts == "" {
		opts.Mounts = "/proc/self/mounts"
	}
	if opts.BufferKB == 0 {
		opts.BufferKB = 64
	}
	if opts.Every <= 0 {
		opts.Every = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	k := &KernelTrace{
		opts: opts,
		commands: prometheus.NewDesc("cros_ec_kernel_commands_total",
			"EC transport calls the kernel made (every cros_ec driver user: keyboard, battery, sensors, ectool, this exporter's chardev probes), by command, outcome class (ok, ec_result, transport) and result (EC_RES_* or errno), from the cros_ec trace events.",
			[]string{"command", "class", "result"}, nil),
		duration: prometheus.NewDesc("cros_ec_kernel_command_duration_seconds",
			"Duration of the kernel's EC transport calls, cros_ec_request_start to cros_ec_request_done in the calling thread.",
			[]string{"command"}, nil),
		lost: prometheus.NewDesc("cros_ec_kernel_trace_lost_events_total",
			"cros_ec trace events the kernel dropped because the exporter's ring buffer was full.", nil, nil),
		unpaired: prometheus.NewDesc("cros_ec_kernel_trace_unpaired_events_total",
			"cros_ec_request_start events without their done, or the reverse (events lost, thread gone).", nil, nil),
		counts:   map[[3]uint8]uint64{},
		hists:    make([]hist.Histogram, len(kernelHistCommands)),
		pairer:   ectrace.NewPairer(),
		finished: make(chan struct{}),
	}
	for i := range k.hists {
		k.hists[i] = hist.New(hist.Kernel)
	}
	k.histOf = make([]int, len(ectrace.Commands))
	for i, c := range ectrace.Commands {
		if k.histOf[i] = slices.Index(kernelHistCommands, c); k.histOf[i] < 0 {
			k.histOf[i] = len(kernelHistCommands) - 1 // "other"
		}
	}
	return k
}

// Start sets up the tracefs instance and reads it until ctx ends or Close. When the
// events cannot be read it logs why once, and Update reports ErrTraceUnavailable.
func (k *KernelTrace) Start(ctx context.Context) {
	ctx, k.stop = context.WithCancel(ctx)
	if k.opts.Replay != "" {
		k.setReady()
		go k.replay(ctx)
		return
	}
	// Set up off the caller's path: serve starts its listener without waiting for tracefs.
	go func() {
		defer close(k.finished)
		in, pipe, err := k.open()
		if err != nil {
			k.fail(err)
			return
		}
		k.setReady()
		if in.Reused {
			k.opts.Logger.Info("kernel-trace collector: reusing the tracefs instance a previous run left behind", "instance", in.Dir)
		}
		stop := context.AfterFunc(ctx, func() { pipe.Close() }) // ends the blocked read
		defer stop()
		err = tracefs.Follow(pipe, k.handle)
		if err != nil && ctx.Err() == nil {
			k.fail(err)
		}
		pipe.Close()
		if err := in.Remove(); err != nil {
			k.opts.Logger.Warn("kernel-trace collector: could not remove the tracefs instance; the next start removes it", "err", err)
		}
	}()
}

func (k *KernelTrace) setReady() {
	k.mu.Lock()
	k.ready = true
	k.mu.Unlock()
}

// errSettingUp is returned by Update until the events are being read.
var errSettingUp = fmt.Errorf("%w: setting up the tracefs instance", ErrTraceUnavailable)

// open finds tracefs, creates the instance and enables the two cros_ec events.
func (k *KernelTrace) open() (*tracefs.Instance, *os.File, error) {
	root := k.opts.Root
	if root == "" {
		var err error
		if root, err = tracefs.Find(k.opts.Mounts); err != nil {
			return nil, nil, err
		}
	}
	name := k.opts.Instance
	if name == "" {
		// One instance per process, so that two exporters never share one; those of
		// runs that were killed before removing theirs go first.
		removed, err := tracefs.RemoveStale(root, instancePrefix)
		if len(removed) > 0 {
			k.opts.Logger.Info("kernel-trace collector: removed tracefs instances of earlier runs", "instances", removed)
		}
		if err != nil {
			k.opts.Logger.Warn("kernel-trace collector: could not remove tracefs instances of earlier runs", "err", err)
		}
		name = tracefs.PIDName(instancePrefix)
	}
	in, err := tracefs.Open(root, name, k.opts.BufferKB)
	if err != nil {
		return nil, nil, err
	}
	for _, ev := range []string{ectrace.EventStart, ectrace.EventDone} {
		if err := in.Enable(ectrace.System, ev); err != nil {
			in.Remove()
			return nil, nil, err
		}
	}
	pipe, err := in.OpenPipe()
	if err != nil {
		in.Remove()
		return nil, nil, err
	}
	return in, pipe, nil
}

// replay feeds the recorded lines of opts.Replay again every opts.Every.
func (k *KernelTrace) replay(ctx context.Context) {
	defer close(k.finished)
	t := time.NewTicker(k.opts.Every)
	defer t.Stop()
	for {
		f, err := os.Open(k.opts.Replay)
		if err != nil {
			k.fail(err)
			return
		}
		err = tracefs.Follow(bufio.NewReader(f), k.handle)
		f.Close()
		if err != nil {
			k.fail(err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (k *KernelTrace) fail(err error) {
	msg := "kernel-trace collector: cannot read the cros_ec trace events; cros_ec_kernel_commands_total stays unavailable"
	switch {
	case errors.Is(err, tracefs.ErrNotMounted):
		msg = "kernel-trace collector: tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing), or run with --no-collector.kernel-trace"
	case errors.Is(err, tracefs.ErrNoEvent):
		msg = "kernel-trace collector: this kernel has no cros_ec trace events (no cros_ec driver, or CONFIG_TRACING off); run with --no-collector.kernel-trace"
	case errors.Is(err, os.ErrPermission):
		msg = "kernel-trace collector: no permission to create a tracefs instance; run as root or see docs/privileges.md, or run with --no-collector.kernel-trace"
	}
	k.opts.Logger.Warn(msg, "err", err)
	k.mu.Lock()
	k.err = fmt.Errorf("%w: %w", ErrTraceUnavailable, err)
	k.mu.Unlock()
}

// handle takes one trace_pipe line. Cost per event: one line parse and pair (~0.6 µs,
// no allocation: BenchmarkEventPair in ectrace) under the collector's mutex.
func (k *KernelTrace) handle(line []byte) {
	if n := tracefs.Lost(line); n > 0 {
		k.mu.Lock()
		k.lostN += n
		k.mu.Unlock()
		return
	}
	l, err := tracefs.ParseLine(line)
	if err != nil {
		return
	}
	e, err := ectrace.Parse(l.Event, l.Body)
	if err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.events++
	c, ok := k.pairer.Add(l.PID, int64(l.Time), e)
	if !ok {
		return
	}
	cmd := ectrace.CommandLabel(c.Command)
	class, result := ectrace.Outcome(c.Result, c.Retval)
	k.counts[[3]uint8{uint8(cmd), uint8(class), uint8(result)}]++
	k.hists[k.histOf[cmd]].Observe(time.Duration(c.Duration))
}

// Describe sends the descriptors of the kernel-trace metrics.
func (k *KernelTrace) Describe(ch chan<- *prometheus.Desc) {
	ch <- k.commands
	ch <- k.duration
	ch <- k.lost
	ch <- k.unpaired
}

// Update sends the counters and histograms; ErrTraceUnavailable (with the reason)
// when the events cannot be read, or are not read yet.
func (k *KernelTrace) Update(ch chan<- prometheus.Metric) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return k.err
	}
	if !k.ready {
		return errSettingUp
	}
	for key, n := range k.counts {
		ch <- prometheus.MustNewConstMetric(k.commands, prometheus.CounterValue, float64(n),
			ectrace.Commands[key[0]], ectrace.Class(key[1]).String(), ectrace.Results[key[2]])
	}
	for i, name := range kernelHistCommands {
		h := k.hists[i] // a copy: the metric is written after the lock is released
		ch <- newHistogram(k.duration, &h, name)
	}
	ch <- prometheus.MustNewConstMetric(k.lost, prometheus.CounterValue, float64(k.lostN))
	ch <- prometheus.MustNewConstMetric(k.unpaired, prometheus.CounterValue, float64(k.pairer.Unpaired()))
	return nil
}

// Events returns how many cros_ec events were parsed (tests and debugging).
func (k *KernelTrace) Events() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.events
}

// Close stops reading and waits until the tracefs instance is removed.
func (k *KernelTrace) Close() {
	if k.stop == nil {
		return
	}
	k.stop()
	select {
	case <-k.finished:
	case <-time.After(5 * time.Second):
		k.opts.Logger.Warn("kernel-trace collector: still reading trace_pipe after 5s; leaving the instance for the next start")
	}
}
