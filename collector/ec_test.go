package collector

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"github.com/ec-exporter/ec_exporter/prober"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type goldenDev struct{ n int }

func (d *goldenDev) Name() string { return "sim" }
func (d *goldenDev) Hello() error {
	d.n++
	if d.n%5 == 3 {
		return &ec.Error{Cause: ec.CauseChecksum, Op: "test"}
	}
	return nil
}
func (d *goldenDev) LastRetries() int { return d.n % 2 }
func (d *goldenDev) Version() (prober.Version, error) {
	return prober.Version{RO: "sim_v2.0.1-ro", RW: "sim_v2.0.2-rw", Image: "rw"}, nil
}
func (d *goldenDev) ProtocolInfo() (prober.Protocol, error) {
	return prober.Protocol{Versions: 1<<3 | 1<<2, MaxRequestPacket: 544, MaxResponse: 544}, nil
}
func (d *goldenDev) BuildInfo() (string, error) { return "sim build 2026-11-24", nil }
func (d *goldenDev) ChipInfo() (prober.Chip, error) {
	return prober.Chip{Vendor: "sim", Name: "ecsim", Revision: "1"}, nil
}
func (d *goldenDev) UptimeInfo() (prober.Uptime, error) {
	return prober.Uptime{SinceBoot: 90 * time.Second, APResets: 1, ResetFlags: 0x400}, nil
}

type syncSched struct {
	every []prober.Job
	queue []prober.Job
}

func (s *syncSched) Every(_ time.Duration, j prober.Job) { s.every = append(s.every, j) }
func (s *syncSched) Submit(j prober.Job) error           { s.queue = append(s.queue, j); return nil }

// newGoldenProber returns a prober with a deterministic history: one identity refresh,
// 20 HELLOs (every 5th a checksum failure) and some wake-ups.
func newGoldenProber(t testing.TB) *prober.Prober {
	clk := &testkit.StepClock{T: time.Unix(1_764_000_000, 0), Step: 37 * time.Microsecond}
	s := &syncSched{}
	p, err := prober.New(prober.Config{Interval: time.Second, Timeout: 100 * time.Millisecond, IdentityInterval: time.Hour, Now: clk.Now}, s)
	if err != nil {
		t.Fatal(err)
	}
	dev := &goldenDev{}
	p.Add("sim", func() (prober.Device, error) { return dev, nil })
	p.Add("cros_fp", func() (prober.Device, error) { return nil, context.DeadlineExceeded })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_764_000_000, 0)
	for _, j := range s.queue {
		j.Run(prober.Stamps{Intended: base, Started: base.Add(15 * time.Microsecond)})
	}
	for i := 0; i < 20; i++ {
		at := base.Add(time.Duration(i) * time.Second)
		s.every[0].Run(prober.Stamps{Intended: at, Started: at.Add(time.Duration(i*7) * time.Microsecond)})
	}
	for i := 0; i < 50; i++ {
		p.ObserveWakeup(time.Duration(20+i) * time.Microsecond)
	}
	return p
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
