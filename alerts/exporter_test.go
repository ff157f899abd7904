package alerts

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/collector"
	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// buildExporter builds cmd/ec_exporter into a temporary directory.
func buildExporter(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ec_exporter")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/ec_exporter")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ec_exporter: %v\n%s", err, out)
	}
	return bin
}

// process is a child started by a test.
type process struct {
	out  *testkit.LockedBuffer
	done chan struct{} // closed when the child has exited
	err  error         // Wait's result, valid once done is closed
}

// startProcess starts a child that the test ends (by its own pid) when done.
func startProcess(t testing.TB, name string, args ...string) *process {
	t.Helper()
	p := &process{out: &testkit.LockedBuffer{}, done: make(chan struct{})}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), tail(p.out.String(), 40))
		}
	})
	return p
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// startExporter runs `ec_exporter serve --ec.transport=sim` with extra flags
// and waits until /metrics answers. It skips the test while serve is still
// the "not implemented" placeholder.
func startExporter(t testing.TB, extra ...string) string {
	t.Helper()
	bin := buildExporter(t)
	addr := testkit.FreeAddr(t)
	args := append([]string{"serve", "--ec.transport=sim", "--web.listen-address=" + addr, "--log.level=warn"}, extra...)
	p := startProcess(t, bin, args...)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("ec_exporter %s exited: %v\n%s", strings.Join(args, " "), p.err, p.out.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ec_exporter did not serve /metrics on %s within 20s (last error %v)", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scrape parses the text exposition of the exporter at addr.
func scrape(t testing.TB, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape of %s: %v", addr, err)
	}
	return fams
}

// seriesNames returns the series names a Prometheus scraping fams can store:
// the family names, and for histograms also _bucket, _sum and _count (the
// bare name is the native histogram).
func seriesNames(fams map[string]*dto.MetricFamily) map[string]dto.MetricType {
	out := map[string]dto.MetricType{}
	for name, f := range fams {
		if len(f.GetMetric()) == 0 {
			continue
		}
		out[name] = f.GetType()
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				out[name+s] = dto.MetricType_UNTYPED
			}
		}
	}
	return out
}

// boundDriverNames returns the series the kernel-log collector exposes on a
// host where a cros-ec driver is bound. A live scrape here (no EC hardware, no
// cros-ec driver) has no cros_ec_kernel_errors_total series: the collector
// exports a driver's counters only once the driver is bound or has logged.
// So the real collector is run against a fake sysfs with cros-ec-spi bound.
func boundDriverNames(t testing.TB) map[string]dto.MetricType {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bus", "spi", "drivers", "cros-ec-spi"), 0o755); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	k := collector.NewKmsg(collector.KmsgOptions{Path: filepath.Join(root, "no-kmsg"), SysfsRoot: root, Logger: logger})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.NewSet(logger, collector.Named{Name: "kmsg", U: k}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather kmsg collector: %v", err)
	}
	m := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		m[f.GetName()] = f
	}
	return seriesNames(m)
}
