package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"github.com/ec-exporter/ec_exporter/tools/internal/latency"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestSmoke runs the comparison for a moment: real cyclictest beside a /metrics endpoint whose
// native wake-up histogram grows meanwhile (client_golang, the exporter's library). It checks
// the report's structure and counts, not timing.
func TestSmoke(t *testing.T) {
	cyclictest := testkit.NeedTool(t, "cyclictest", "rt-tests")
	if os.Geteuid() != 0 {
		t.Skip("needs root for cyclictest -p50")
	}
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "cros_ec_worker_wakeup_latency_seconds", Help: "test",
		Buckets: prometheus.DefBuckets, NativeHistogramBucketFactor: 1.1,
	})
	rtd := prometheus.NewHistogram(prometheus.HistogramOpts{ // native only, like the exporter's
		Name: "cros_ec_worker_runtime_delay_seconds", Help: "test", NativeHistogramBucketFactor: 1.1,
	})
	reg.MustRegister(h, rtd)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		tk := time.NewTicker(time.Millisecond)
		defer tk.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tk.C:
				h.Observe(float64(10+i%50) * 1e-6) // 10–59 µs
				rtd.Observe(float64(3+i%5) * 1e-6) // 3–7 µs
			}
		}
	}()
	var out bytes.Buffer
	url := "http://" + ln.Addr().String() + "/metrics"
	if err := run([]string{"-url", url, "-scrape-every", "500ms", "-case", "smoke", "--",
		cyclictest, "-m", "-p50", "-i1000", "-h2000", "-q", "-D2s"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	report := out.String()
	t.Log("\n" + report)
	lines := strings.Split(strings.TrimSpace(report), "\n")
	if len(lines) != 7 || !strings.HasPrefix(lines[0], "## smoke") {
		t.Fatalf("want a title, a comment, a header and 4 rows:\n%s", report)
	}
	for i, want := range []string{"p50 µs", "cyclictest", "exporter", "exporter/cyclictest", "exporter, runtime share"} {
		if !strings.Contains(lines[2+i], want) {
			t.Errorf("line %d lacks %q: %s", 2+i, want, lines[2+i])
		}
	}
	// 2 s at 1 ms on both sides: cyclictest counts ~2000, the histogram grew by about as many.
	for _, row := range lines[3:5] {
		f := strings.Fields(row) // name, count, p50, p99, p99.9, max, then 3 × (share, "%")
		if len(f) != 12 {
			t.Errorf("row has %d fields, want 12: %s", len(f), row)
			continue
		}
		if n, err := strconv.Atoi(f[1]); err != nil || n < 1000 {
			t.Errorf("row %s: %s wake-ups, want ≥ 1000", f[0], f[1])
		}
	}
	// The test histogram has nothing beyond 100 µs and (with 10–59 µs) some beyond 50 µs.
	if f := strings.Fields(lines[4]); len(f) == 12 && (f[10] != "0.000" || f[8] == "0.000") {
		t.Errorf("exporter row %v: want 0.000 %% beyond 100 µs and some beyond 50 µs", f)
	}
	// The runtime row: as many returns, nothing beyond 20 µs (3–7 µs).
	if f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(lines[6]), "exporter, runtime share (every return)")); len(f) != 11 || atoi(f[0]) < 1000 || f[5] != "0.000" {
		t.Errorf("runtime row %q: want ≥ 1000 returns, none beyond 20 µs", lines[6])
	}
	if _, err := latency.Scrape("http://"+ln.Addr().String()+"/nothing", "x"); err == nil {
		t.Error("scrape of a 404 did not fail")
	}
	if err := run([]string{"-url", url, "--", "true"}, &out); err == nil || !strings.Contains(err.Error(), "-h<N>") {
		t.Errorf("a command without -h: err %v", err)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
