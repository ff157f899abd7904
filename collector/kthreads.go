package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/ec-exporter/ec_exporter/kthread"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrKthreadsUnavailable is returned by KernelThreads.Update when /proc or /sys
// cannot be read.
var ErrKthreadsUnavailable = errors.New("kernel threads unavailable")

// Thread label values of cros_ec_kernel_worker_info.
const (
	ThreadWorker = kthread.WorkerName // the cros_ec_spi high-priority kthread worker
	ThreadPump   = "spi_message_pump" // the SPI controller's message pump kthread
)

// KernelThreadsOptions configure the kernel-threads collector.
type KernelThreadsOptions struct {
	Root     string        // tests: a directory holding proc/ and sys/ ("/" when empty)
	ProcRoot string        // Root/proc when empty
	SysRoot  string        // Root/sys when empty
	Interval time.Duration // rescan period; 1m when 0
	Logger   *slog.Logger  // slog.Default() when nil
}

// KernelThreads reports, for each bound cros-ec-spi device, whether the kernel's
// real-time worker and SPI pump threads exist and at which policy, rescanning
// /proc at a slow interval.
type KernelThreads struct {
	opts KernelThreadsOptions

	info, devices *prometheus.Desc

	mu     sync.Mutex
	devs   []kthread.Device
	err    error
	logged bool
}

// NewKernelThreads returns the kernel-threads collector; Start scans.
func NewKernelThreads(opts KernelThreadsOptions) *KernelThreads {
	if opts.Root == "" {
		opts.Root = "/"
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = filepath.Join(opts.Root, "proc")
	}
	if opts.SysRoot == "" {
		opts.SysRoot = filepath.Join(opts.Root, "sys")
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &KernelThreads{
		opts: opts,
		info: prometheus.NewDesc("cros_ec_kernel_worker_info",
			"The kernel threads carrying cros_ec SPI traffic, per bound cros-ec-spi device: the cros_ec_spi_high_pri worker (the real-time fix) and the SPI controller's message pump; found, policy and rt priority as /proc shows them (kernel threads only).",
			[]string{"device", "thread", "found", "policy", "priority"}, nil),
		devices: prometheus.NewDesc("cros_ec_kernel_spi_devices",
			"Devices bound to the cros-ec-spi driver (/sys/bus/spi/drivers/cros-ec-spi).", nil, nil),
	}
}

// Start scans now and then every Interval until ctx ends.
func (k *KernelThreads) Start(ctx context.Context) {
	k.Scan()
	go func() {
		t := time.NewTicker(k.opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				k.Scan()
			}
		}
	}()
}

// Scan reads /proc and /sys once; a failure is logged the first time only.
func (k *KernelThreads) Scan() {
	devs, err := kthread.Scan(k.opts.ProcRoot, k.opts.SysRoot)
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		if !k.logged {
			k.opts.Logger.Warn("kernel-threads collector: cannot read /proc or /sys; cros_ec_kernel_worker_info stays unavailable", "err", err)
			k.logged = true
		}
		k.err = fmt.Errorf("%w: %w", ErrKthreadsUnavailable, err)
		return
	}
	k.devs, k.err = devs, nil
}

// Describe sends the descriptors of the kernel-threads metrics.
func (k *KernelThreads) Describe(ch chan<- *prometheus.Desc) {
	ch <- k.info
	ch <- k.devices
}

// Update sends the device count and one info series per device and thread.
func (k *KernelThreads) Update(ch chan<- prometheus.Metric) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return k.err
	}
	ch <- prometheus.MustNewConstMetric(k.devices, prometheus.GaugeValue, float64(len(k.devs)))
	for _, d := range k.devs {
		ch <- k.threadInfo(d.Name, ThreadWorker, d.Worker, d.WorkerFound)
		ch <- k.threadInfo(d.Name, ThreadPump, d.Pump, d.PumpFound)
	}
	return nil
}

func (k *KernelThreads) threadInfo(dev, thread string, t kthread.Thread, found bool) prometheus.Metric {
	policy, prio := "", ""
	if found {
		policy, prio = t.Policy, strconv.Itoa(t.Priority)
	}
	return prometheus.MustNewConstMetric(k.info, prometheus.GaugeValue, 1, dev, thread, strconv.FormatBool(found), policy, prio)
}
