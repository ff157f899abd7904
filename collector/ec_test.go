package collector

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ec/ectest"
	"github.com/ec-exporter/ec_exporter/hist"
	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"github.com/ec-exporter/ec_exporter/prober"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// goldenEC is the simulated EC with every 5th HELLO failing its checksum and a fixed uptime.
// Every command takes 37 µs on clk; nothing else moves clk, so the background
// watchdog's readings cannot change the golden durations.
func goldenEC(clk *testkit.Clock) func() (*ec.Device, error) {
	tr := ectest.New()
	n := 0
	tr.SetHook(func(m *ec.Msg) (int, bool, error) {
		clk.Advance(37 * time.Microsecond)
		switch m.Command {
		case ec.CmdHello:
			if n++; n%5 == 3 {
				return ectest.Fail(&ec.Error{Cause: ec.CauseChecksum, Op: "test"})
			}
		case ec.CmdGetUptimeInfo:
			return ectest.Uptime(m, 90*time.Second, 1, 0x400)
		}
		return 0, false, nil
	})
	return func() (*ec.Device, error) { return ec.NewDevice("sim", tr), nil }
}

// newGoldenProber returns a prober with a deterministic history: one identity refresh,
// 20 HELLOs (every 5th a checksum failure), and a second EC that never opens.
func newGoldenProber(t testing.TB) *prober.Prober {
	clk := &testkit.Clock{T: time.Unix(1_764_000_000, 0)}
	s := &testkit.Sched{}
	p, err := prober.New(prober.Config{Interval: time.Second, Timeout: 100 * time.Millisecond, IdentityInterval: time.Hour, Now: clk.Now}, s)
	if err != nil {
		t.Fatal(err)
	}
	p.Add("sim", goldenEC(clk))
	p.Add("cros_fp", func() (*ec.Device, error) { return nil, os.ErrNotExist })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_764_000_000, 0)
	s.Drain(base, 15*time.Microsecond)
	for i := 0; i < 20; i++ {
		s.Tick(0, base.Add(time.Duration(i)*time.Second), time.Duration(i*7)*time.Microsecond, 0)
	}
	return p
}

func goldenWakeups() hist.Histogram {
	var h hist.Histogram
	for i := 0; i < 50; i++ {
		h.Observe(time.Duration(20+i) * time.Microsecond)
	}
	return h
}

func goldenRuntimeDelays() hist.Histogram {
	h := hist.New(hist.Native)
	for i := 0; i < 50; i++ {
		h.Observe(time.Duration(4+i%3) * time.Microsecond)
	}
	return h
}

// fixedNow pins the scrape time so extrapolated values are deterministic.
type fixedNow struct {
	*prober.Prober
	t time.Time
}

func (f fixedNow) Now() time.Time { return f.t }

func newGoldenRegistry(t testing.TB) *prometheus.Registry {
	p := newGoldenProber(t)
	reg := prometheus.NewPedanticRegistry()
	ecc := NewEC(fixedNow{p, time.Unix(1_764_000_100, 0)}, ECOptions{
		Worker:  func() WorkerInfo { return WorkerInfo{Policy: "fifo", Priority: 50, CPUs: "1", MemoryLocked: true} },
		Dropped: func() uint64 { return 0 },
		Wakeup:  goldenWakeups,
		Runtime: goldenRuntimeDelays,
	})
	reg.MustRegister(NewSet(nil, Named{"ec", ecc}))
	return reg
}

func TestECGolden(t *testing.T) {
	reg := newGoldenRegistry(t)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		if mf.GetName() != "cros_ec_scrape_collector_duration_seconds" {
			names = append(names, mf.GetName())
		}
	}
	got := gatherText(t, reg, names...)
	want := golden(t, "ec.golden", got)
	if err := testutil.GatherAndCompare(reg, bytes.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

func TestECInvariants(t *testing.T) {
	reg := newGoldenRegistry(t)
	dev := map[string]string{"device": "sim", "command": "hello"}
	if got := countOf(t, reg, "cros_ec_commands_total", dev); got != 20 {
		t.Fatalf("hello attempts %v", got)
	}
	var failures float64
	for _, c := range ec.Causes {
		failures += countOf(t, reg, "cros_ec_command_failures_total", map[string]string{"device": "sim", "command": "hello", "cause": c.String()})
	}
	if failures != 4 {
		t.Fatalf("hello failures %v, want 4", failures)
	}
	if got := countOf(t, reg, "cros_ec_up", map[string]string{"device": "cros_fp"}); got != 0 {
		t.Fatalf("unopened device up = %v", got)
	}
	// Native buckets travel in protobuf: schema 3 and bucket counts adding up to the count.
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "cros_ec_transfer_duration_seconds" {
			continue
		}
		for _, m := range mf.Metric {
			h := m.Histogram
			if h.GetSchema() != 3 || len(h.PositiveSpan) == 0 {
				t.Fatalf("no native buckets: %v", h)
			}
			var n, c int64
			for _, d := range h.PositiveDelta {
				c += d
				n += c
			}
			if uint64(n)+h.GetZeroCount() != h.GetSampleCount() {
				t.Fatalf("native buckets hold %d + zero %d, count %d", n, h.GetZeroCount(), h.GetSampleCount())
			}
			if len(h.Bucket) != 19 || h.Bucket[18].GetCumulativeCount() != h.GetSampleCount() {
				t.Fatalf("classic buckets wrong: %v", h.Bucket)
			}
		}
	}
}

// TestSeriesBudget counts the cros_ec_ series one EC costs with default flags; the
// design allows at most 200. Kernel-log series are per host and counted at their
// worst case (every driver seen).
func TestSeriesBudget(t *testing.T) {
	reg := newGoldenRegistry(t)
	mfs, _ := reg.Gather()
	series := 0
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			dev := ""
			for _, lp := range m.Label {
				if lp.GetName() == "device" {
					dev = lp.GetValue()
				}
			}
			if dev == "cros_fp" {
				continue // the second EC
			}
			if h := m.Histogram; h != nil {
				series += len(h.Bucket) + 3 // buckets, +Inf, _sum, _count
			} else {
				series++
			}
		}
	}
	// Kernel log on a real host: the EC's transport driver and cros_ec core lines (8 kinds
	// each), the lost-records counter and the collector's success and duration.
	kmsg := 2*int(numKinds) + 1 + 2
	total := series + kmsg
	t.Logf("series per EC: %d from the EC collector, %d kernel log, %d total", series, kmsg, total)
	if total > 200 {
		t.Fatalf("%d series per EC, budget 200", total)
	}
}

func BenchmarkECCollect(b *testing.B) {
	reg := newGoldenRegistry(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
