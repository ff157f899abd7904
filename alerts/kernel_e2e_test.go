package alerts

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/collector"
	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// recordedTrace holds cros_ec trace_pipe lines in the kernel's format.
const recordedTrace = "../ectrace/testdata/chromebook.trace"

// kernelViewNames returns the series the kernel-trace and kernel-threads
// collectors expose on a host with a cros_ec driver and a cros-ec-spi device
// (this test machine has neither, so a live scrape lacks them): the real
// collectors run on a recorded trace and a fake /proc and /sys.
func kernelViewNames(t testing.TB) map[string]dto.MetricType {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	kt := collector.NewKernelTrace(collector.KernelTraceOptions{Replay: recordedTrace, Every: time.Hour, Logger: logger})
	kt.Start(t.Context())
	defer kt.Close()
	testkit.Eventually(t, "the recorded trace replayed", 5*time.Second, func() bool { return kt.Events() > 0 })
	kth := collector.NewKernelThreads(collector.KernelThreadsOptions{Root: kthreadTree(t, true), Logger: logger})
	kth.Scan()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.NewSet(logger, collector.Named{Name: "kernel_trace", U: kt}, collector.Named{Name: "kernel_threads", U: kth}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		m[f.GetName()] = f
	}
	return seriesNames(m)
}

// kthreadTree writes a directory with proc/ and sys/ as a host with one
// cros-ec-spi device (spi2.0) shows them: the SPI pump kthread spi2 at SCHED_FIFO
// 50 and, if fixed, the cros_ec_spi_high_pri worker kthread at SCHED_FIFO 50.
func kthreadTree(t testing.TB, fixed bool) string {
	t.Helper()
	root := t.TempDir()
	stat := func(pid int, comm string, prio, policy int) {
		f := strings.Fields(strings.Repeat("0 ", 52))
		f[0], f[1], f[2] = strconv.Itoa(pid), "("+comm+")", "S"
		f[8] = strconv.Itoa(0x00200000 | 0x8040) // PF_KTHREAD | PF_NOFREEZE | PF_FORKNOEXEC
		f[39], f[40] = strconv.Itoa(prio), strconv.Itoa(policy)
		dir := filepath.Join(root, "proc", strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(strings.Join(f, " ")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stat(2, "kthreadd", 0, 0)
	stat(310, "spi2", 50, 1)
	if fixed {
		stat(311, "cros_ec_spi_hig", 50, 1)
	}
	if err := os.MkdirAll(filepath.Join(root, "sys", "bus", "spi", "drivers", "cros-ec-spi", "spi2.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestKernelViewEndToEnd runs two real exporters, one on a host with the kernel's
// real-time fix and one without (fake /proc and /sys), both replaying recorded
// kernel-format cros_ec trace lines every second through the kernel-trace
// collector (the host without the fix with more transport timeouts); a real
// Prometheus scrapes them with the rules (for: shortened to 2s). It checks that
// CrosEcKernelWorkerNotRealTime fires for the host without the fix only, and that
// every kernel-view panel of the fleet dashboard returns data, the failure ratio
// being higher without the fix.
func TestKernelViewEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	promBin := testkit.NeedTool(t, "prometheus", "prometheus")
	start := time.Now()
	base, err := os.ReadFile(recordedTrace)
	if err != nil {
		t.Fatal(err)
	}
	// Without the fix: five more GET_NEXT_EVENT calls that time out (-ETIMEDOUT printed unsigned).
	worse := string(base)
	for i := 0; i < 5; i++ {
		ts := 5200 + i
		worse += fmt.Sprintf(" irq/135-chromeo-1456    [001] d..1.  %d.000100: cros_ec_request_start: version: 0, offset: 0, command: EC_CMD_GET_NEXT_EVENT, outsize: 0, insize: 17\n", ts)
		worse += fmt.Sprintf(" irq/135-chromeo-1456    [001] .....  %d.200100: cros_ec_request_done: version: 0, offset: 0, command: EC_CMD_GET_NEXT_EVENT, outsize: 0, insize: 17, ec result: EC_RES_SUCCESS, retval: 4294967186\n", ts)
	}
	worsePath := filepath.Join(t.TempDir(), "nofix.trace")
	if err := os.WriteFile(worsePath, []byte(worse), 0o644); err != nil {
		t.Fatal(err)
	}
	fixed := startExporter(t, "--collector.kernel-trace.replay="+recordedTrace, "--collector.kernel-threads.root="+kthreadTree(t, true))
	unfixed := startExporter(t, "--collector.kernel-trace.replay="+worsePath, "--collector.kernel-threads.root="+kthreadTree(t, false))

	prom := startPrometheus(t, promBin, scrapeConfig([]string{"alerts.yml"}, "cros_ec="+fixed+","+unfixed),
		map[string]string{"alerts.yml": shortRules(t, "2s")["alerts.yml"]})

	deadline := start.Add(60 * time.Second)
	for fired := false; !fired; {
		for _, a := range prom.alerts(t) {
			if a.Labels["alertname"] != "CrosEcKernelWorkerNotRealTime" {
				continue
			}
			if a.Labels["instance"] != unfixed || a.Labels["thread"] != "cros_ec_spi_high_pri" || a.Labels["found"] != "false" {
				t.Fatalf("CrosEcKernelWorkerNotRealTime %s for %v; want it for %s's missing worker only", a.State, a.Labels, unfixed)
			}
			if a.State == "firing" {
				fired = true
				t.Logf("CrosEcKernelWorkerNotRealTime firing after %v: %v", time.Since(start).Round(time.Second), a.Labels)
			}
		}
		if !fired && time.Now().After(deadline) {
			t.Fatal("CrosEcKernelWorkerNotRealTime did not fire for the host without the fix")
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Every kernel-view panel returns data.
	panels := 0
	for _, e := range dashboardExpressions(t) {
		if !strings.Contains(e.expr, "cros_ec_kernel_worker_info") && !strings.Contains(e.expr, "cros_ec_kernel_command") {
			continue
		}
		panels++
		expr := grafanaVars(e.expr, "20s", "1m")
		if n, err := prom.waitData(expr, deadline); err != nil {
			t.Fatalf("%s: %v\n%s", e.where, err, expr)
		} else if n == 0 {
			t.Fatalf("%s: no data\n%s", e.where, expr)
		}
	}
	if panels != 6 {
		t.Fatalf("%d kernel-view panel queries, want 6 (4 panels, two with two queries)", panels)
	}

	// The answer to "do they fail more": the failure ratio without the fix is higher.
	ratio := func(group string) float64 {
		var data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		}
		for _, e := range dashboardExpressions(t) {
			if !strings.HasSuffix(e.where, "Kernel EC failure ratio, with vs without the fix/"+group) {
				continue
			}
			if err := prom.get("/api/v1/query", map[string][]string{"query": {grafanaVars(e.expr, "20s", "1m")}}, &data); err != nil {
				t.Fatal(err)
			}
		}
		if len(data.Result) != 1 {
			t.Fatalf("failure ratio %s: %d results", group, len(data.Result))
		}
		v, err := strconv.ParseFloat(data.Result[0].Value[1].(string), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	with, without := ratio("A"), ratio("B")
	t.Logf("kernel EC transport failure ratio: %.3f with the fix, %.3f without", with, without)
	if !(without > with && with > 0) {
		t.Fatalf("failure ratio with the fix %v, without %v: want 0 < with < without", with, without)
	}
}
