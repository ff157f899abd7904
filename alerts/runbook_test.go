package alerts

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/internal/testkit"
)

// TestRunbookCauses drives the causes docs/alerts.md gives for each exporter-side alert
// through the real exporter, scraped by a real Prometheus with the shipped rules (for:
// shortened to 2s), and checks that the alert the runbook names fires for that target
// and the neighbouring ones do not.
func TestRunbookCauses(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	promBin := testkit.NeedTool(t, "prometheus", "prometheus")
	runbook := readRunbook(t)
	cases := []struct {
		job, alert, cause string
		addr              string
	}{
		// A wrong or missing --ec.device: the EC is reported down, device_open 0.
		{job: "cros_ec_wrong_device", alert: "CrosEcUnreachable", cause: "--ec.device",
			addr: startExporter(t, "--ec.transport=chardev", "--ec.device=/dev/cros_ec_runbook_missing", "--no-collector.kmsg")},
		// An EC stuck in the kernel, from the first open on.
		{job: "cros_ec_hung", alert: "CrosEcUnreachable", cause: "stuck",
			addr: startExporter(t, "--sim.fault.hang=1", "--sim.fault.hang-for=10m", "--no-collector.kmsg")},
		// No SCHED_FIFO for the worker.
		{job: "cros_ec_not_rt", alert: "CrosEcWorkerNotRealTime", cause: "CAP_SYS_NICE",
			addr: startExporter(t, "--rt.policy=other", "--no-collector.kmsg")},
	}
	files := shortRules(t, "2s")
	var jobs []string
	for _, c := range cases {
		jobs = append(jobs, c.job+"="+c.addr)
	}
	// A scrape target under a cros_ec job that is not ec_exporter (another program on
	// the port): the runbook's cause of CrosEcProbeMissing.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# TYPE some_other_exporter_up gauge\nsome_other_exporter_up 1\n"))
	}))
	t.Cleanup(other.Close)
	jobs = append(jobs, "cros_ec_not_the_exporter="+strings.TrimPrefix(other.URL, "http://"))
	cases = append(cases, struct{ job, alert, cause, addr string }{job: "cros_ec_not_the_exporter", alert: "CrosEcProbeMissing", cause: "not ec_exporter"})

	prom := startPrometheus(t, promBin, scrapeConfig(RuleFiles(), jobs...), files)
	for _, c := range cases {
		if !strings.Contains(runbook[c.alert], c.cause) {
			t.Errorf("the runbook of %s does not name the cause %q this test drives", c.alert, c.cause)
		}
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		firing := firingByJob(t, prom)
		missing := 0
		for _, c := range cases {
			if !firing[c.job][c.alert] {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			for _, c := range cases {
				if !firing[c.job][c.alert] {
					t.Errorf("%s: %s (runbook cause %q) did not fire; firing there: %v", c.job, c.alert, c.cause, firing[c.job])
				}
				for other := range firing[c.job] {
					switch other {
					case c.alert, "CrosEcCommandFailureRatioHigh": // a hung or missing EC also fails its commands
					default:
						t.Errorf("%s: %s fired besides %s", c.job, other, c.alert)
					}
				}
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// firingByJob returns the firing alerts' names per job.
func firingByJob(t *testing.T, p *prometheusServer) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for _, a := range p.alerts(t) {
		if a.State != "firing" {
			continue
		}
		job := a.Labels["job"]
		if out[job] == nil {
			out[job] = map[string]bool{}
		}
		out[job][a.Labels["alertname"]] = true
	}
	return out
}

// readRunbook returns docs/alerts.md's section of each alert.
func readRunbook(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../docs/alerts.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, sec := range strings.Split(string(b), "\n## ")[1:] {
		name, body, _ := strings.Cut(sec, "\n")
		out[strings.TrimSpace(name)] = body
	}
	return out
}
