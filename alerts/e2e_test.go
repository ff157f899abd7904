package alerts

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/internal/testkit"
	dto "github.com/prometheus/client_model/go"
)

// prometheusServer is a real Prometheus (Debian's /usr/bin/prometheus) run by a test.
type prometheusServer struct {
	addr string
}

// startPrometheus runs prometheus with config (YAML) and extra flags in its
// own temporary directory, and waits until it is ready.
func startPrometheus(t *testing.T, bin, config string, files map[string]string, flags ...string) *prometheusServer {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testkit.FreeAddr(t)
	args := append([]string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}, flags...)
	p := startProcess(t, bin, args...)
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("prometheus exited: %v\n%s", p.err, p.out.String())
		default:
		}
		if resp, err := http.Get("http://" + addr + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &prometheusServer{addr: addr}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready on %s within 20s:\n%s", addr, p.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// get decodes the data field of a Prometheus API answer.
func (p *prometheusServer) get(path string, params url.Values, data any) error {
	resp, err := http.Get("http://" + p.addr + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: decode: %w", path, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", path, body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// query runs an instant query and returns how many series or samples it gave.
// waitData runs the instant query expr every 500 ms until it returns series, fails, or
// deadline passes, and returns the last series count.
func (p *prometheusServer) waitData(expr string, deadline time.Time) (int, error) {
	for {
		n, err := p.query(expr)
		if err != nil || n > 0 || time.Now().After(deadline) {
			return n, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func (p *prometheusServer) query(expr string) (int, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return 0, err
	}
	if data.ResultType == "scalar" || data.ResultType == "string" {
		return 1, nil
	}
	var rs []json.RawMessage
	if err := json.Unmarshal(data.Result, &rs); err != nil {
		return 0, err
	}
	return len(rs), nil
}

// shortFor rewrites every for: duration of a rule file to d, so that a test
// Prometheus fires within seconds. Rate windows stay: rate() over 5m works as
// soon as two samples exist.
func shortFor(rules, d string) string {
	return regexp.MustCompile(`(?m)^(\s+for:)\s*\S+\s*$`).ReplaceAllString(rules, "${1} "+d)
}

// alert is one entry of Prometheus' /api/v1/alerts.
type alert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
	Value  string            `json:"value"`
}

// alerts returns the active (pending and firing) alerts.
func (p *prometheusServer) alerts(t *testing.T) []alert {
	t.Helper()
	var data struct {
		Alerts []alert `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", nil, &data); err != nil {
		t.Fatal(err)
	}
	return data.Alerts
}

// scrapeConfig is a Prometheus configuration that scrapes and evaluates every second, one
// job per "name=target,target…" entry, with the rule files given.
func scrapeConfig(ruleFiles []string, jobs ...string) string {
	var b strings.Builder
	if len(ruleFiles) > 0 {
		fmt.Fprintf(&b, "rule_files: [%s]\n", strings.Join(ruleFiles, ", "))
	}
	b.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\nscrape_configs:\n")
	for _, j := range jobs {
		name, targets, _ := strings.Cut(j, "=")
		quoted := strings.Split(targets, ",")
		for i, t := range quoted {
			quoted[i] = fmt.Sprintf("%q", t)
		}
		fmt.Fprintf(&b, "  - job_name: %s\n    static_configs:\n      - targets: [%s]\n", name, strings.Join(quoted, ", "))
	}
	return b.String()
}

// shortRules returns the shipped rule files by name with every for: shortened to d.
func shortRules(t *testing.T, d string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, name := range RuleFiles() {
		b, err := Rules.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = shortFor(string(b), d)
		if name == "alerts.yml" && !strings.Contains(files[name], "for: "+d) {
			t.Fatal("shortFor changed nothing in alerts.yml")
		}
	}
	return files
}

// TestEndToEndWithPrometheus runs the exporter on the simulated EC with 30 %
// of commands timing out and an EC reboot every 8 s, lets a real Prometheus
// scrape it every second with a copy of the rules (for: shortened to 2s), and
// checks through the HTTP API that every rule is healthy, that
// CrosEcCommandFailureRatioHigh fires at both severities and
// CrosEcResetDetected fires, that the exporter-health alerts stay quiet, and
// that every dashboard query returns data. Native-histogram queries go to a
// second Prometheus run with --enable-feature=native-histograms (on 2.42 that
// flag replaces the classic buckets, so it cannot be the same server).
func TestEndToEndWithPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	promBin := testkit.NeedTool(t, "prometheus", "prometheus")
	start := time.Now()
	// 30 % of commands time out, and the simulated EC reboots every 8 s (1 s silent).
	exporter := startExporter(t, "--sim.fault.timeout=0.3", "--sim.fault.reboot-every=8s", "--sim.fault.reboot-silence=1s")

	files := shortRules(t, "2s")
	classic := startPrometheus(t, promBin, scrapeConfig(RuleFiles(), "cros_ec="+exporter), files)
	native := startPrometheus(t, promBin, scrapeConfig(nil, "cros_ec="+exporter), nil, "--enable-feature=native-histograms")

	// The failure-ratio alert fires (30 % > 5 %: critical; > 1 %: warning),
	// and so does the reset alert.
	deadline := start.Add(50 * time.Second)
	fired := map[string]bool{}
	want := []string{"CrosEcCommandFailureRatioHigh/warning", "CrosEcCommandFailureRatioHigh/critical", "CrosEcResetDetected/warning"}
	for len(fired) < len(want) {
		for _, a := range classic.alerts(t) {
			key := a.Labels["alertname"] + "/" + a.Labels["severity"]
			if a.State == "firing" && slices.Contains(want, key) && !fired[key] {
				fired[key] = true
				t.Logf("%s firing after %v: value %s, labels %v", key, time.Since(start).Round(time.Second), a.Value, a.Labels)
			}
			// Alerts that must stay quiet while the exporter is scraped and its worker is real-time.
			switch a.Labels["alertname"] {
			case "CrosEcExporterDown", "CrosEcProbeMissing":
				t.Errorf("%s is %s although the exporter is scraped: %v", key, a.State, a.Labels)
			case "CrosEcWorkerNotRealTime":
				if a.Labels["policy"] == "fifo" || a.Labels["policy"] == "rr" {
					t.Errorf("%s is %s for a real-time worker: %v", key, a.State, a.Labels)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all of %v fired within %v (fired: %v)", want, deadline.Sub(start), fired)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Every rule loaded and evaluates without error.
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := classic.get("/api/v1/rules", nil, &rules); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s/%s: health %q: %s", g.Name, r.Name, r.Health, r.LastError)
			}
		}
	}
	if want := len(loadRules(t)); n != want {
		t.Errorf("prometheus loaded %d rules, the files hold %d", n, want)
	}

	// Every dashboard query returns data.
	exposed := seriesNames(scrape(t, exporter))
	histograms := map[string]bool{}
	for name, typ := range exposed {
		if typ == dto.MetricType_HISTOGRAM {
			histograms[name] = true
		}
	}
	for _, e := range dashboardExpressions(t) {
		expr := grafanaVars(e.expr, "20s", "1m")
		names, err := metricNames(expr)
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		server, kind := classic, "classic"
		missing := 0
		for _, name := range names {
			if histograms[name] {
				server, kind = native, "native"
			}
			if _, ok := exposed[name]; !ok && !strings.Contains(name, ":") && name != "up" {
				missing++
			}
		}
		if missing == len(names) {
			// Only the kernel-log counters can be absent from a healthy scrape:
			// TestExpressionsNameExposedMetrics checks their names.
			t.Logf("%s: skipped, %v not exposed on this host (no cros-ec driver bound)", e.where, names)
			continue
		}
		if got, err := server.waitData(expr, deadline); err != nil {
			t.Errorf("%s (%s): %v\n%s", e.where, kind, err, expr)
		} else if got == 0 {
			t.Errorf("%s (%s Prometheus): no data\n%s", e.where, kind, expr)
		}
	}
	t.Logf("end to end took %v", time.Since(start).Round(100*time.Millisecond))
}
