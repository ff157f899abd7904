package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/ec-exporter/ec_exporter/collector"
	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ec/ectest"
	"github.com/ec-exporter/ec_exporter/hist"
	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"github.com/ec-exporter/ec_exporter/prober"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files")

// parseServe parses a serve command line with the real CLI, defaults included.
func parseServe(t testing.TB, args ...string) (*ServeCmd, error) {
	t.Helper()
	cli, _, err := parseCLI(t, append([]string{"serve"}, args...)...)
	return &cli.Serve, err
}

func TestServeFlagDefaults(t *testing.T) {
	s, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Web.ListenAddress; len(got) != 1 || got[0] != ":10236" {
		t.Errorf("default listen address %v, want :10236", got)
	}
	if s.Probe.Interval != time.Second || !s.Collector.Kmsg || s.Web.TelemetryPath != "/metrics" || s.Web.MaxRequests != 40 {
		t.Errorf("defaults: %+v %+v %+v", s.Probe, s.Collector, s.Web)
	}
	if err := s.validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	s, err = parseServe(t, "--no-collector.kmsg", "--web.listen-address=127.0.0.1:1", "--web.listen-address=[::1]:2")
	if err != nil {
		t.Fatal(err)
	}
	if s.Collector.Kmsg || len(s.Web.ListenAddress) != 2 {
		t.Errorf("--no-collector.kmsg / repeated --web.listen-address not applied: %+v %v", s.Collector, s.Web.ListenAddress)
	}
	t.Setenv("EC_EXPORTER_PROBE_INTERVAL", "250ms")
	if s, err = parseServe(t); err != nil || s.Probe.Interval != 250*time.Millisecond {
		t.Errorf("env EC_EXPORTER_PROBE_INTERVAL not applied: %v %v", s.Probe.Interval, err)
	}
}

func TestServeValidation(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--probe.interval=0s"}, "--probe.interval must be at least 1ms"},
		{[]string{"--probe.timeout=0s"}, "--probe.timeout must be above 0"},
		{[]string{"--probe.interval=10m"}, "--probe.identity-interval (5m0s) must not be shorter"},
		{[]string{"--web.telemetry-path=metrics"}, "must start with /"},
		{[]string{"--web.telemetry-path=/-/healthy"}, "must not be /-/healthy"},
		{[]string{"--web.max-requests=-1"}, "--web.max-requests must be 0"},
		{[]string{"--web.config.file=/nonexistent/web.yml"}, "--web.config.file /nonexistent/web.yml"},
	} {
		s, err := parseServe(t, tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		err = s.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
	// EC flag mistakes come back from targets before anything starts.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ec.transport=sim", "--ec.device=a", "--ec.device=b"}, "reaches one EC"},
		{[]string{"--ec.device=nonsense"}, "neither an EC name"},
		{[]string{"--ec.device=cros_ec", "--ec.device=/dev/cros_ec"}, "both be labelled"},
	} {
		s, err := parseServe(t, tc.args...)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		_, err = s.Conn.targets()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}

type pinnedNow struct {
	*prober.Prober
	t time.Time
}

func (p pinnedNow) Now() time.Time { return p.t }

// simRegistry probes the simulated EC (real SPI byte path through ecspi and ecsim) with a
// deterministic clock and scheduler, and returns the registry /metrics would serve.
func simRegistry(t testing.TB, extra ...string) (*prometheus.Registry, *ectest.Transport) {
	t.Helper()
	// No wire time and no EC budgets: a loaded test machine must not make the
	// simulated EC give up, or the golden counts would vary.
	s, err := parseServe(t, append([]string{"--ec.transport=sim", "--sim.clock=0", "--sim.rx-budget=0", "--sim.cs-budget=0"}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	targets, err := s.Conn.targets()
	if err != nil {
		t.Fatal(err)
	}
	dev, err := targets[0].open()
	if err != nil {
		t.Fatal(err)
	}
	// Each command takes 53 µs on clk and nothing else moves it (the watchdog only reads
	// it), so the golden durations do not depend on goroutine interleaving.
	clk := &testkit.Clock{T: time.Unix(1_764_000_000, 0)}
	counted := ectest.Wrap(dev.Transport())
	counted.SetHook(func(*ec.Msg) (int, bool, error) { clk.Advance(53 * time.Microsecond); return 0, false, nil })
	cd := ec.NewDevice(dev.Name(), counted)
	sched := &testkit.Sched{}
	p, err := prober.New(prober.Config{Interval: time.Second, Timeout: 500 * time.Millisecond, IdentityInterval: time.Hour, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sched)
	if err != nil {
		t.Fatal(err)
	}
	p.Add(targets[0].label, func() (*ec.Device, error) { return cd, nil })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_764_000_000, 0)
	sched.Drain(base, 20*time.Microsecond)
	for i := 0; i < 30; i++ {
		sched.Tick(0, base.Add(time.Duration(i)*time.Second), time.Duration(i%7)*9*time.Microsecond, 0)
	}
	var wake hist.Histogram
	for i := 0; i < 100; i++ {
		wake.Observe(time.Duration(10+i%40) * time.Microsecond)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.NewSet(nil, collector.Named{Name: "ec", U: collector.NewEC(pinnedNow{p, base.Add(time.Minute)}, collector.ECOptions{
		Worker: func() collector.WorkerInfo {
			return collector.WorkerInfo{Policy: "fifo", Priority: 50, CPUs: "0-1", MemoryLocked: true}
		},
		Dropped: func() uint64 { return 0 },
		Wakeup:  func() hist.Histogram { return wake },
	})}))
	return reg, counted
}

// TestSimGolden compares what /metrics serves for the simulated EC with a golden file.
// Left out: the EC's own uptime (the simulator's wall clock) and scrape durations.
func TestSimGolden(t *testing.T) {
	reg, _ := simRegistry(t)
	testkit.GoldenMetrics(t, reg, filepath.Join("testdata", "serve-sim.golden"), *updateGolden,
		"cros_ec_uptime_seconds", "cros_ec_scrape_collector_duration_seconds")
	if got := testutil.CollectAndCount(collectorFromGatherer{reg}, "cros_ec_uptime_seconds"); got != 1 {
		t.Fatalf("cros_ec_uptime_seconds series: %d", got)
	}
}

type collectorFromGatherer struct{ *prometheus.Registry }

func (c collectorFromGatherer) Describe(ch chan<- *prometheus.Desc) { c.Registry.Describe(ch) }
func (c collectorFromGatherer) Collect(ch chan<- prometheus.Metric) { c.Registry.Collect(ch) }

// TestRoutesNeverReachTheEC requests every route with every method and checks that the
// EC saw no command: metrics come from the probe state only.
func TestRoutesNeverReachTheEC(t *testing.T) {
	reg, dev := simRegistry(t)
	s, _ := parseServe(t)
	ts := httptest.NewServer(s.handler(slog.New(slog.NewTextHandler(io.Discard, nil)), reg))
	defer ts.Close()
	before := dev.Total()
	for _, path := range []string{"/", "/metrics", "/-/healthy", "/-/reload", "/probe", "/metrics?collect[]=ec", "/nonexistent"} {
		for _, method := range []string{"GET", "POST", "PUT", "DELETE", "HEAD"} {
			req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader("HELLO"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	if after := dev.Total(); after != before {
		t.Fatalf("HTTP requests caused %d EC commands", after-before)
	}
	resp, err := http.Get(ts.URL + "/-/healthy")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/-/healthy: %v %v", resp, err)
	}
	resp, err = http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "/metrics") {
		t.Fatalf("landing page does not link /metrics: %s", body)
	}
	if strings.Contains(string(body), "/debug/pprof") {
		t.Fatalf("landing page links profiling routes that are off: %s", body)
	}
	resp, err = http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	for _, want := range []string{"cros_ec_up{device=\"sim\"} 1", "ec_exporter_build_info", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestDisableExporterMetrics(t *testing.T) {
	reg, _ := simRegistry(t)
	s, _ := parseServe(t, "--web.disable-exporter-metrics")
	ts := httptest.NewServer(s.handler(slog.New(slog.NewTextHandler(io.Discard, nil)), reg))
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(body), "go_goroutines") || strings.Contains(string(body), "process_") {
		t.Fatal("exporter metrics still served")
	}
	if !strings.Contains(string(body), "ec_exporter_build_info") || !strings.Contains(string(body), "cros_ec_up") {
		t.Fatal("build info or EC metrics missing")
	}
}

// TestExampleConfigs checks the shipped Prometheus configs with promtool and the web
// config with the exporter-toolkit's own validator (file paths aside).
func TestExampleConfigs(t *testing.T) {
	promtool := testkit.NeedTool(t, "promtool", "prometheus")
	for _, f := range []string{"prometheus.yml", "agent.yml"} {
		out, err := exec.Command(promtool, "check", "config", "--syntax-only", filepath.Join("..", "..", "examples", "prometheus", f)).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", f, err, out)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "prometheus", "web.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	cfg := strings.NewReplacer("/etc/ec_exporter/tls.crt", cert, "/etc/ec_exporter/tls.key", key).Replace(string(b))
	path := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := web.Validate(path); err != nil {
		t.Fatalf("examples/prometheus/web.yml: %v", err)
	}
}

// BenchmarkMetricsHandler is one /metrics request on the simulated EC's state with the
// exporter's own go/process metrics, as Prometheus would scrape it.
func BenchmarkMetricsHandler(b *testing.B) {
	reg, _ := simRegistry(b)
	s, _ := parseServe(b)
	h := s.handler(slog.New(slog.NewTextHandler(io.Discard, nil)), reg)
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// TestHelloPathAllocatesNothing runs the periodic HELLO job as the rt worker would (prober
// state, ec.Device, ecspi, simulated EC) and checks that one probe allocates nothing.
func TestHelloPathAllocatesNothing(t *testing.T) {
	p, sched := simProber(t, "--ec.transport=sim", "--sim.clock=0", "--sim.rx-budget=0", "--sim.cs-budget=0", "--sim.processing=0s")
	at := time.Now()
	run := func() {
		at = at.Add(2 * time.Second)
		sched.Tick(0, at, 0, 0)
	}
	run()
	if a := testing.AllocsPerRun(200, run); a != 0 {
		t.Fatalf("one HELLO probe allocates %v times", a)
	}
	snap := p.Snapshots()[0]
	if !snap.Up || snap.Commands[0].Name != "hello" || snap.Commands[0].Attempts != 202 {
		t.Fatalf("up=%v %s attempts=%d, want up and hello 202", snap.Up, snap.Commands[0].Name, snap.Commands[0].Attempts)
	}
}

// TestPprofBehindFlag: profiling is served, and linked, only with --web.enable-pprof.
func TestPprofBehindFlag(t *testing.T) {
	reg, _ := simRegistry(t)
	for _, on := range []bool{false, true} {
		args := []string{}
		if on {
			args = append(args, "--web.enable-pprof")
		}
		s, err := parseServe(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(s.handler(slog.New(slog.NewTextHandler(io.Discard, nil)), reg))
		landing := get(t, ts.URL+"/")
		resp, err := http.Get(ts.URL + "/debug/pprof/heap")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ts.Close()
		if served := resp.StatusCode == 200; served != on {
			t.Errorf("--web.enable-pprof=%v: /debug/pprof/heap status %d", on, resp.StatusCode)
		}
		if linked := strings.Contains(landing, "/debug/pprof"); linked != on {
			t.Errorf("--web.enable-pprof=%v: landing page links pprof: %v", on, linked)
		}
	}
}

// simProber builds the prober serve would for a serve command line, on the scheduler
// fake, with the device opened and its identity read.
func simProber(t *testing.T, args ...string) (*prober.Prober, *testkit.Sched) {
	t.Helper()
	s, err := parseServe(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	targets, err := s.Conn.targets()
	if err != nil {
		t.Fatal(err)
	}
	sched := &testkit.Sched{}
	p, err := prober.New(prober.Config{Interval: 2 * time.Second, Timeout: time.Second, IdentityInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sched)
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		p.Add(tg.label, tg.open)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sched.Drain(time.Now(), 0)
	return p, sched
}
