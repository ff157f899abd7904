package collector

import (
	"strconv"
	"strings"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/hist"
	"github.com/ec-exporter/ec_exporter/prober"
	"github.com/prometheus/client_golang/prometheus"
)

// ProbeSource is the probe state the EC collector reads (*prober.Prober).
type ProbeSource interface {
	Snapshots() []prober.Snapshot
	Now() time.Time
}

// WorkerInfo is what the worker thread actually obtained, read back from the kernel.
type WorkerInfo struct {
	Policy       string // "fifo", "rr", "other"
	Priority     int
	CPUs         string // e.g. "0-1"; "" when not pinned
	MemoryLocked bool
}

// ECOptions are the worker-side sources of the EC collector; nil funcs are skipped.
type ECOptions struct {
	Worker  func() WorkerInfo     // read on every scrape
	Dropped func() uint64         // jobs the worker's queue refused
	Wakeup  func() hist.Histogram // the worker's timer overshoots
	Runtime func() hist.Histogram // the Go runtime's share of the worker's returns from sleep
}

// EC exposes the probe state of every EC and of the worker thread.
type EC struct {
	src  ProbeSource
	opts ECOptions

	up, open, openFailures, openFailure, commands, failures, retries, transfer, delay, wakeup, runtime *prometheus.Desc
	lastSuccess, info, uptime, apResets, resetFlags, resets, workerInfo, dropped                       *prometheus.Desc
}

// NewEC returns the EC collector over src.
func NewEC(src ProbeSource, opts ECOptions) *EC {
	d := []string{"device"}
	dc := []string{"device", "command"}
	return &EC{
		src:  src,
		opts: opts,
		up:   prometheus.NewDesc("cros_ec_up", "1 if the latest HELLO probe of the EC succeeded in time, 0 if not.", d, nil),
		open: prometheus.NewDesc("cros_ec_device_open", "1 if the EC's device (chardev, spidev or simulator) is open, 0 while the exporter keeps retrying to open it.", d, nil),
		openFailures: prometheus.NewDesc("cros_ec_device_open_failures_total",
			"Failed attempts to open the EC's device; the reason is logged once, and cros_ec_device_open_failure_info says its cause while the device is not open.",
			d, nil),
		openFailure: prometheus.NewDesc("cros_ec_device_open_failure_info",
			"Present (value 1) while the EC's device is not open: the cause of the latest failed open ("+causeList()+"; io: node missing or no permission, timeout: the open did not finish within --probe.timeout).",
			[]string{"device", "cause"}, nil),
		commands: prometheus.NewDesc("cros_ec_commands_total",
			"Host commands attempted, including those that failed or were skipped because the worker was busy.", dc, nil),
		failures: prometheus.NewDesc("cros_ec_command_failures_total",
			"Host commands that failed, by cause: "+causeList()+".",
			[]string{"device", "command", "cause"}, nil),
		retries: prometheus.NewDesc("cros_ec_command_retries_total",
			"Retries inside host commands (EC not ready, IN_PROGRESS status polls).", dc, nil),
		transfer: prometheus.NewDesc("cros_ec_transfer_duration_seconds",
			"Duration of successful host commands on the worker thread, from the start of the transfer to the verified response (only for commands probed every interval; failures are in cros_ec_command_failures_total).", dc, nil),
		delay: prometheus.NewDesc("cros_ec_schedule_delay_seconds",
			"Delay from a probe's intended start (its deadline, or its submission) to its start on the worker thread.", d, nil),
		wakeup: prometheus.NewDesc("cros_ec_worker_wakeup_latency_seconds",
			"Timer overshoot of the worker thread's periodic wake-up probe, read when the thread is back from the kernel (what cyclictest measures); the Go runtime's share after that is cros_ec_worker_runtime_delay_seconds.", nil, nil),
		runtime: prometheus.NewDesc("cros_ec_worker_runtime_delay_seconds",
			"Time from the worker thread's return from each sleep to its Go code running: the Go runtime finding the worker a P (exitsyscall). Native buckets only: a classic scrape gets the +Inf bucket, sum and count.", nil, nil),
		lastSuccess: prometheus.NewDesc("cros_ec_last_success_timestamp_seconds",
			"Unix time of the latest successful host command (0 if none yet).", d, nil),
		info: prometheus.NewDesc("cros_ec_info",
			"Identity of the EC as it reports it (GET_VERSION, GET_PROTOCOL_INFO, GET_BUILD_INFO, GET_CHIP_INFO); value 1.",
			[]string{"device", "version_ro", "version_rw", "current_image", "protocol_version", "build_info", "chip_vendor", "chip_name", "chip_revision"}, nil),
		uptime: prometheus.NewDesc("cros_ec_uptime_seconds",
			"Time since the EC booted (GET_UPTIME_INFO, extrapolated from the latest read).", d, nil),
		apResets: prometheus.NewDesc("cros_ec_ap_resets_total",
			"AP resets the EC counted since it booted (GET_UPTIME_INFO); restarts at 0 when the EC reboots.", d, nil),
		resetFlags: prometheus.NewDesc("cros_ec_reset_flags",
			"EC_RESET_FLAG_* bits of the EC's latest reset (GET_UPTIME_INFO), as a number.", d, nil),
		resets: prometheus.NewDesc("cros_ec_resets_detected_total",
			"EC reboots the exporter detected (uptime went backwards between two reads).", d, nil),
		workerInfo: prometheus.NewDesc("cros_ec_worker_info",
			"Scheduling the EC worker thread actually obtained (read back, not the requested values); value 1.",
			[]string{"policy", "priority", "cpus", "memory_locked"}, nil),
		dropped: prometheus.NewDesc("cros_ec_worker_queue_dropped_total",
			"Jobs the worker's bounded queue refused because it was full.", nil, nil),
	}
}

// Describe implements Updater.
func (c *EC) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.open, c.openFailures, c.openFailure, c.commands, c.failures, c.retries, c.transfer, c.delay, c.wakeup, c.runtime,
		c.lastSuccess, c.info, c.uptime, c.apResets, c.resetFlags, c.resets, c.workerInfo, c.dropped} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Update implements Updater; it never fails.
func (c *EC) Update(ch chan<- prometheus.Metric) error {
	now := c.src.Now()
	snaps := c.src.Snapshots()
	for i := range snaps {
		s := &snaps[i]
		dev := s.Device
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, b2f(s.Up), dev)
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, b2f(s.Open), dev)
		var opens uint64
		for _, n := range s.OpenFailures {
			opens += n
		}
		ch <- prometheus.MustNewConstMetric(c.openFailures, prometheus.CounterValue, float64(opens), dev)
		if !s.Open && s.OpenCause != ec.CauseNone {
			ch <- prometheus.MustNewConstMetric(c.openFailure, prometheus.GaugeValue, 1, dev, s.OpenCause.String())
		}
		for i := range s.Commands {
			st := &s.Commands[i]
			ch <- prometheus.MustNewConstMetric(c.commands, prometheus.CounterValue, float64(st.Attempts), dev, st.Name)
			ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(st.Retries), dev, st.Name)
			for _, cause := range ec.Causes {
				ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(st.Failures[cause]), dev, st.Name, cause.String())
			}
			if st.Transfer != nil {
				ch <- newHistogram(c.transfer, st.Transfer, dev, st.Name)
			}
		}
		ch <- newHistogram(c.delay, &s.ScheduleDelay, dev)
		last := 0.0
		if !s.LastSuccess.IsZero() {
			last = float64(s.LastSuccess.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, last, dev)
		c.identity(ch, dev, &s.Answers)
		if u := s.Answers.Uptime; u != nil {
			up := u.SinceBoot + now.Sub(s.UptimeAt)
			ch <- prometheus.MustNewConstMetric(c.uptime, prometheus.GaugeValue, up.Seconds(), dev)
			ch <- prometheus.MustNewConstMetric(c.apResets, prometheus.CounterValue, float64(u.APResets), dev)
			ch <- prometheus.MustNewConstMetric(c.resetFlags, prometheus.GaugeValue, float64(u.ResetFlags), dev)
		}
		ch <- prometheus.MustNewConstMetric(c.resets, prometheus.CounterValue, float64(s.ResetsDetected), dev)
	}
	if c.opts.Wakeup != nil {
		w := c.opts.Wakeup()
		ch <- newHistogram(c.wakeup, &w)
	}
	if c.opts.Runtime != nil {
		r := c.opts.Runtime()
		ch <- newHistogram(c.runtime, &r)
	}
	if c.opts.Worker != nil {
		wi := c.opts.Worker()
		ch <- prometheus.MustNewConstMetric(c.workerInfo, prometheus.GaugeValue, 1,
			wi.Policy, strconv.Itoa(wi.Priority), wi.CPUs, strconv.FormatBool(wi.MemoryLocked))
	}
	if c.opts.Dropped != nil {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(c.opts.Dropped()))
	}
	return nil
}

// identity sends cros_ec_info once any of its parts is known.
func (c *EC) identity(ch chan<- prometheus.Metric, dev string, a *prober.Answers) {
	if a.Version == nil && a.Protocol == nil && a.Build == nil && a.Chip == nil {
		return
	}
	var ro, rw, image, proto, build, vendor, name, rev string
	if v := a.Version; v != nil {
		ro, rw, image = v.RO, v.RW, v.Image.String()
	}
	if p := a.Protocol; p != nil {
		proto = strconv.Itoa(p.ProtocolVersion())
	}
	if a.Build != nil {
		build = *a.Build
	}
	if chip := a.Chip; chip != nil {
		vendor, name, rev = chip.Vendor, chip.Name, chip.Revision
	}
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, dev, ro, rw, image, proto, build, vendor, name, rev)
}

// causeList is the cause label values, for help texts.
func causeList() string {
	names := make([]string, len(ec.Causes))
	for i, c := range ec.Causes {
		names[i] = c.String()
	}
	return strings.Join(names, ", ")
}
