package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// KmsgBufferSize is the read buffer: one /dev/kmsg read returns one whole record, at
// most 8 KiB on any kernel (CONSOLE_EXT_LOG_MAX; 2 KiB on current ones).
const KmsgBufferSize = 8192

// ErrUnavailable is returned by Update when the kernel log cannot be read.
var ErrUnavailable = errors.New("kernel log unavailable")

// KmsgOptions configure the kernel-log collector.
type KmsgOptions struct {
	Path      string       // /dev/kmsg when empty
	SysfsRoot string       // /sys when empty; used to find bound cros-ec drivers
	Logger    *slog.Logger // slog.Default() when nil
}

// Kmsg follows /dev/kmsg and counts cros-ec driver errors by driver and kind.
type Kmsg struct {
	opts KmsgOptions

	errors *prometheus.Desc
	lost   *prometheus.Desc

	mu         sync.Mutex
	counts     [][numKinds]uint64 // [driver][kind]
	shown      []bool             // driver has been seen or is bound: export all its kinds
	lostN      uint64
	lastSeq    uint64
	haveSeq    bool
	err        error // why the log cannot be read, nil while following
	records    uint64
	countUser  bool // tests only: also count userspace (facility != 0) records
	ignoredUsr uint64
}

// NewKmsg returns the kernel-log collector; Start begins following the log.
func NewKmsg(opts KmsgOptions) *Kmsg {
	if opts.Path == "" {
		opts.Path = "/dev/kmsg"
	}
	if opts.SysfsRoot == "" {
		opts.SysfsRoot = "/sys"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	k := &Kmsg{
		opts: opts,
		errors: prometheus.NewDesc("cros_ec_kernel_errors_total",
			"cros-ec driver warnings and errors the kernel logged since the exporter started (all EC traffic on the host, not only the exporter's), by driver and kind.",
			[]string{"driver", "kind"}, nil),
		lost: prometheus.NewDesc("cros_ec_kernel_log_lost_records_total",
			"Kernel log records overwritten before the exporter read them (EPIPE on /dev/kmsg), so not classified.",
			nil, nil),
		counts: make([][numKinds]uint64, len(Drivers)),
		shown:  make([]bool, len(Drivers)),
	}
	// Drivers bound on this host get all their kinds at 0 from the first scrape.
	for i, d := range Drivers[:driverCore] {
		if m, _ := filepath.Glob(filepath.Join(opts.SysfsRoot, "bus", "*", "drivers", d)); len(m) > 0 {
			k.shown[i] = true
		}
	}
	return k
}

// Start opens the log at its end (only records from now on) and follows it until ctx
// ends. When the log cannot be opened it logs why once, and Update reports ErrUnavailable.
func (k *Kmsg) Start(ctx context.Context) {
	f, err := openKmsg(k.opts.Path)
	if err != nil {
		k.fail(err)
		return
	}
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		if err := k.Follow(f); err != nil && ctx.Err() == nil {
			k.fail(err)
		}
	}()
}

func (k *Kmsg) fail(err error) {
	msg := "kmsg collector: cannot read the kernel log; cros_ec_kernel_errors_total stays unavailable"
	if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		msg = "kmsg collector: no permission to read the kernel log; grant CAP_SYSLOG (kernel.dmesg_restrict=1) or run with --no-collector.kmsg"
	}
	k.opts.Logger.Error(msg, "path", k.opts.Path, "err", err)
	k.mu.Lock()
	k.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	k.mu.Unlock()
}

// openKmsg opens the kernel log for reading and seeks past the existing records.
// The backlog is skipped: it holds messages from before the exporter started (possibly
// from boot), and counting them would add a burst to a counter that claims "since start".
func openKmsg(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("kmsg: open: %w", err)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("kmsg: seek to end: %w", err)
	}
	return f, nil
}

// Follow reads records from r, one per Read as /dev/kmsg returns them, until r fails
// with anything but EPIPE (records lost: counted) or EINVAL (a record larger than the
// buffer, consumed by the kernel: counted as lost). It returns nil at io.EOF.
func (k *Kmsg) Follow(r io.Reader) error {
	buf := make([]byte, KmsgBufferSize)
	for {
		n, err := r.Read(buf)
		if err != nil {
			switch {
			case errors.Is(err, syscall.EPIPE):
				// The position jumped to the oldest record; the seq gap says how many were lost.
				continue
			case errors.Is(err, syscall.EINVAL):
				k.mu.Lock()
				k.lostN++
				k.mu.Unlock()
				continue
			case errors.Is(err, io.EOF):
				return nil
			}
			return fmt.Errorf("kmsg: read: %w", err)
		}
		k.handle(buf[:n])
	}
}

func (k *Kmsg) handle(b []byte) {
	rec, err := ParseRecord(b)
	if err != nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.records++
	if k.haveSeq && rec.Seq > k.lastSeq+1 {
		k.lostN += rec.Seq - k.lastSeq - 1
	}
	if !k.haveSeq || rec.Seq > k.lastSeq {
		k.lastSeq, k.haveSeq = rec.Seq, true
	}
	if rec.Facility != 0 && k.countUser {
		k.ignoredUsr++
		rec.Facility = 0
	}
	d, kind, ok := Classify(rec)
	if !ok {
		return
	}
	k.counts[d][kind]++
	k.shown[d] = true
}

// Describe sends the descriptors of the kernel-log metrics.
func (k *Kmsg) Describe(ch chan<- *prometheus.Desc) {
	ch <- k.errors
	ch <- k.lost
}

// Update sends the counters; it returns ErrUnavailable (with the reason) when the
// kernel log cannot be read.
func (k *Kmsg) Update(ch chan<- prometheus.Metric) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return k.err
	}
	for d, show := range k.shown {
		if !show {
			continue
		}
		for kind := Kind(0); kind < numKinds; kind++ {
			ch <- prometheus.MustNewConstMetric(k.errors, prometheus.CounterValue, float64(k.counts[d][kind]), Drivers[d], kind.String())
		}
	}
	ch <- prometheus.MustNewConstMetric(k.lost, prometheus.CounterValue, float64(k.lostN))
	return nil
}

// Records returns how many records were parsed (for tests and debugging).
func (k *Kmsg) Records() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.records
}
