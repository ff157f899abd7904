package collector

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"github.com/ec-exporter/ec_exporter/tracefs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// replayTrace runs the kernel-trace collector over ../ectrace/testdata/chromebook.trace once.
func replayTrace(t testing.TB) (*KernelTrace, *prometheus.Registry) {
	t.Helper()
	k := NewKernelTrace(KernelTraceOptions{Replay: "../ectrace/testdata/chromebook.trace", Every: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	k.Start(ctx)
	t.Cleanup(func() { cancel(); k.Close() })
	testkit.Eventually(t, "the recorded trace replayed", 5*time.Second, func() bool { return k.Events() == 15 })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewSet(slog.New(slog.DiscardHandler), Named{Name: "kernel_trace", U: k}))
	return k, reg
}

// TestKernelTraceGolden replays recorded kernel-format lines through the collector
// and compares the metrics with testdata/kerneltrace.golden.
func TestKernelTraceGolden(t *testing.T) {
	_, reg := replayTrace(t)
	testkit.GoldenMetrics(t, reg, filepath.Join("testdata", "kerneltrace.golden"), *update, "cros_ec_scrape_collector_duration_seconds")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	// The native buckets are complete even though the classic ones are coarse.
	for _, mf := range mfs {
		if mf.GetName() != "cros_ec_kernel_command_duration_seconds" {
			continue
		}
		for _, m := range mf.Metric {
			h := m.GetHistogram()
			if len(h.Bucket) != 3 || h.GetSchema() != 3 {
				t.Fatalf("histogram: %d classic buckets, schema %d", len(h.Bucket), h.GetSchema())
			}
			var n int64
			var c int64
			for _, d := range h.PositiveDelta {
				c += d
				n += c
			}
			if uint64(n)+h.GetZeroCount() != h.GetSampleCount() {
				t.Fatalf("native buckets hold %d, count %d", n, h.GetSampleCount())
			}
		}
	}
}

// TestKernelTraceUnavailable: no tracefs, or a tracefs without the cros_ec events,
// gives one log line and collector success 0 on every scrape, never an error loop.
func TestKernelTraceUnavailable(t *testing.T) {
	dir := t.TempDir()
	mounts := filepath.Join(dir, "mounts")
	if err := os.WriteFile(mounts, []byte("proc /proc proc rw 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory that looks like tracefs but has no events (an instance can be made).
	fake := filepath.Join(dir, "fake")
	if err := os.MkdirAll(filepath.Join(fake, "instances"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts KernelTraceOptions
		want string
	}{
		{"not mounted", KernelTraceOptions{Mounts: mounts}, "tracefs is not mounted"},
		{"no mounts file", KernelTraceOptions{Mounts: filepath.Join(dir, "missing")}, "cannot read the cros_ec trace events"},
		{"replay missing", KernelTraceOptions{Replay: filepath.Join(dir, "missing.trace")}, "cannot read the cros_ec trace events"},
		{"not tracefs", KernelTraceOptions{Root: fake}, "cannot read the cros_ec trace events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs testkit.LockedBuffer
			tt.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			k := NewKernelTrace(tt.opts)
			k.Start(context.Background())
			defer k.Close()
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(NewSet(slog.New(slog.DiscardHandler), Named{Name: "kernel_trace", U: k}))
			testkit.Eventually(t, "the failure noticed", 5*time.Second, func() bool { return strings.Contains(logs.String(), "level=WARN") })
			for i := 0; i < 5; i++ {
				if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP cros_ec_scrape_collector_success 1 if the collector's data was available for this scrape, 0 if not (see the exporter's log).
# TYPE cros_ec_scrape_collector_success gauge
cros_ec_scrape_collector_success{collector="kernel_trace"} 0
`), "cros_ec_scrape_collector_success"); err != nil {
					t.Fatal(err)
				}
			}
			if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), tt.want) {
				t.Fatalf("want one log line saying %q, got %d:\n%s", tt.want, n, logs.String())
			}
			if ents, _ := os.ReadDir(filepath.Join(fake, "instances")); len(ents) != 0 {
				t.Fatalf("instance left behind: %v", ents[0].Name())
			}
		})
	}
}

// TestKernelTraceRealTracefs runs the collector on this machine's tracefs. A host
// without a cros_ec driver has no cros_ec events: the collector must say so once,
// report success 0 and leave no instance behind; with the driver it must read.
func TestKernelTraceRealTracefs(t *testing.T) {
	root, cleanup, err := tracefs.MountPoint()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no tracefs (CI=true requires it): %v", err)
		}
		t.Skipf("no tracefs: %v", err)
	}
	defer cleanup()
	// A leftover of a killed run: named after a pid that no longer exists.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(root, "instances", instancePrefix+strconv.Itoa(dead.Process.Pid))
	if err := os.Mkdir(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(stale)
	var logs testkit.LockedBuffer
	name := tracefs.PIDName(instancePrefix)
	k := NewKernelTrace(KernelTraceOptions{Root: root, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	k.Start(context.Background())
	hasEvents := true
	if _, err := os.Stat(filepath.Join(root, "events", "cros_ec", "cros_ec_request_start")); err != nil {
		hasEvents = false
	}
	// Set-up runs in the background: wait until the collector has failed or created its instance.
	testkit.Eventually(t, "the collector set up or failed", 10*time.Second, func() bool {
		if hasEvents {
			_, err := os.Stat(filepath.Join(root, "instances", name))
			return err == nil
		}
		return strings.Contains(logs.String(), "level=WARN")
	})
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale instance of a dead run not removed: %v\n%s", err, logs.String())
	}
	ch := make(chan prometheus.Metric, 100)
	err = k.Update(ch)
	if hasEvents {
		if err != nil {
			t.Fatalf("cros_ec events exist here but the collector failed: %v\n%s", err, logs.String())
		}
		if _, err := os.Stat(filepath.Join(root, "instances", name)); err != nil {
			t.Fatalf("instance not created: %v", err)
		}
	} else if !errors.Is(err, ErrTraceUnavailable) || !strings.Contains(logs.String(), "no cros_ec trace events") {
		t.Fatalf("Update = %v, log %q; want unavailable, no cros_ec events", err, logs.String())
	}
	k.Close()
	if _, err := os.Stat(filepath.Join(root, "instances", name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("instance left after Close: %v", err)
	}
}

// TestKernelViewSeriesBudget counts what the kernel view adds to one host with
// default flags: the recorded trace's commands, both duration histograms, the
// lost/unpaired counters, one cros-ec-spi device with two threads, and the two
// collectors' success and duration; it must stay at the 27 docs/metrics.md gives.
// With the rest of the exporter as TestSeriesBudget counts it the total is over
// 200 (logged): a budget decision docs/metrics.md spells out.
func TestKernelViewSeriesBudget(t *testing.T) {
	k, _ := replayTrace(t)
	proc, sys := fakeKthreadTree(t, true)
	kt := NewKernelThreads(KernelThreadsOptions{ProcRoot: proc, SysRoot: sys})
	kt.Scan()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewSet(slog.New(slog.DiscardHandler), Named{Name: "kernel_trace", U: k}, Named{Name: "kernel_threads", U: kt}))
	kernel := countSeries(t, reg)
	ec := countSeries(t, newGoldenRegistry(t), "cros_fp")
	kmsg := 2*int(numKinds) + 1 + 2
	total := ec + kmsg + kernel
	t.Logf("series: %d EC collector, %d kernel log, %d kernel trace and threads, %d total", ec, kmsg, kernel, total)
	if kernel != 27 {
		t.Errorf("kernel view series %d, docs/metrics.md says 27 (20 + 2 + 5)", kernel)
	}
	if total > 200 {
		t.Errorf("%d series per host with the kernel trace read, budget 200 (docs/metrics.md)", total)
	}
}

// countSeries counts the series a registry exposes, a histogram as its classic
// buckets, +Inf, _sum and _count, leaving out the devices in skip.
func countSeries(t testing.TB, reg *prometheus.Registry, skip ...string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
	metric:
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				for _, s := range skip {
					if lp.GetName() == "device" && lp.GetValue() == s {
						continue metric
					}
				}
			}
			if h := m.Histogram; h != nil {
				n += len(h.Bucket) + 3
			} else {
				n++
			}
		}
	}
	return n
}
