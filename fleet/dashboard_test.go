package fleet_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// panelQuery is one query of the fleet dashboard.
type panelQuery struct {
	panel, ref, expr string
}

// fleetQueries reads every query of the generated fleet dashboard (dashboards/ec-comms-fleet.json),
// collapsed rows included.
func fleetQueries(t *testing.T, root string) []panelQuery {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "dashboards", "ec-comms-fleet.json"))
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var d struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var out []panelQuery
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, raw := range ps {
			var p panel
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			for _, tg := range p.Targets {
				out = append(out, panelQuery{p.Title, tg.RefID, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	if len(out) == 0 {
		t.Fatal("no queries in the fleet dashboard")
	}
	return out
}

// expand fills the dashboard variables as Grafana does with "All" selected, and
// $__rate_interval with the test's rule window.
func expand(expr string) string {
	return strings.NewReplacer(`"$job"`, `".*"`, `"$instance"`, `".*"`, `"$device"`, `".*"`,
		"$__rate_interval", window).Replace(expr)
}

// checkDashboard runs every fleet-dashboard query on store s and checks what it shows. Failure
// panels must single out the failing devices and firmware version; the others must agree with the fleet.
func checkDashboard(t *testing.T, root string, s store, site string, base int) {
	t.Helper()
	failing, mayFail := instances(base, fail), instances(base, other)
	checks := map[string]func(pq panelQuery, ss []sample) error{
		"Devices": func(_ panelQuery, ss []sample) error { return equal(ss, n) },
		"Devices down": func(_ panelQuery, ss []sample) error {
			// A failing device is down while its latest probe failed: only those may be.
			v, err := one(ss)
			if err != nil || v < 0 || v > float64(len(fail)+len(other)) {
				return fmt.Errorf("%v (%v), want 0..%d", ss, err, len(fail)+len(other))
			}
			return nil
		},
		"Devices not real-time": func(_ panelQuery, ss []sample) error { return equal(ss, len(other)) },
		"Fleet failure ratio":   func(_ panelQuery, ss []sample) error { return fleetRatio(ss) },
		"Worker policies": func(_ panelQuery, ss []sample) error {
			got := byLabel(ss, "policy")
			if len(got) != 2 || got["other"] != float64(len(other)) || got["fifo"] != float64(n-len(other)) {
				return fmt.Errorf("policies %v, want other=%d fifo=%d", got, len(other), n-len(other))
			}
			return nil
		},
		"Worst devices by failure ratio": func(_ panelQuery, ss []sample) error { return worst(ss, failing, mayFail) },
		"Failure ratio by firmware version": func(pq panelQuery, ss []sample) error {
			if pq.ref == "B" { // the whole job
				return fleetRatio(ss)
			}
			return singlesOut(byLabel(ss, "version_rw"), []string{degraded}, nil, 0.03, 0.05, len(versions))
		},
		"Kernel-logged EC errors by kind": func(_ panelQuery, ss []sample) error {
			// This machine's kernel logs no cros-ec errors: the sites have no such series to ship.
			raw, err := query(site, "cros_ec_kernel_errors_total")
			if err != nil {
				return err
			}
			if len(ss) != 0 || len(raw) != 0 {
				return fmt.Errorf("central %v, site %v: want both empty", ss, raw)
			}
			return nil
		},
		"Schedule delay p99 across the fleet": func(_ panelQuery, ss []sample) error {
			v, err := one(ss)
			if err != nil || !(v > 0 && v < 1) {
				return fmt.Errorf("%v (%v), want one p99 in (0, 1 s)", ss, err)
			}
			return nil
		},
		"Worst devices by schedule delay p99": func(_ panelQuery, ss []sample) error {
			if len(ss) != min(n, 10) {
				return fmt.Errorf("%d devices, want %d", len(ss), min(n, 10))
			}
			return nil
		},
		"EC reboots": func(_ panelQuery, ss []sample) error { return equal(ss, 0) },
	}
	// Kernel view: the simulated fleet runs on a machine without a cros_ec driver or a
	// cros-ec-spi device, so there is no kernel trace or kernel worker to ship.
	noKernel := func(_ panelQuery, ss []sample) error {
		raw, err := query(site, "{__name__=~\"cros_ec_kernel_worker_info|cros_ec_kernel_commands_total\"}")
		if err != nil {
			return err
		}
		if len(ss) != 0 || len(raw) != 0 {
			return fmt.Errorf("central %v, site %v: want both empty", ss, raw)
		}
		return nil
	}
	checks["cros-ec-spi devices by real-time fix"] = func(_ panelQuery, ss []sample) error { return equal(ss, 0) }
	checks["Kernel EC failure ratio, with vs without the fix"] = noKernel
	checks["Kernel EC command duration p99"] = noKernel
	checks["Kernel EC commands by result"] = noKernel
	checks["Devices down over time"] = checks["Devices down"]
	checks["Worst devices by failure ratio over time"] = checks["Worst devices by failure ratio"]
	for _, pq := range fleetQueries(t, root) {
		q := expand(pq.expr)
		what := fmt.Sprintf("%s: panel %q query %s: %s", s.name, pq.panel, pq.ref, q)
		if strings.Contains(pq.panel, "(native)") {
			// Debian's Prometheus 2.42 at the sites scrapes classic histograms only, and
			// VictoriaMetrics 1.79 stores no native histograms: the query must parse, nothing more.
			holds(t, what, func() error { _, err := query(s.query, q); return err })
			continue
		}
		check, ok := checks[pq.panel]
		if !ok {
			// A panel added since: it must at least answer with data on the central side.
			t.Logf("%s: no specific check for panel %q, checking it returns data", s.name, pq.panel)
			check = func(_ panelQuery, ss []sample) error {
				if len(ss) == 0 {
					return fmt.Errorf("no data")
				}
				return nil
			}
		}
		holds(t, what, func() error {
			ss, err := query(s.query, q)
			if err != nil {
				return err
			}
			return check(pq, ss)
		})
	}
}

// equal: every series has value want (and there is at least one).
func equal(ss []sample, want int) error {
	if len(ss) == 0 {
		return fmt.Errorf("no data, want %d", want)
	}
	for _, s := range ss {
		if s.Value != float64(want) {
			return fmt.Errorf("%v, want %d", ss, want)
		}
	}
	return nil
}

// fleetRatio: one series, at least half of what the failing devices alone contribute, below 1.
func fleetRatio(ss []sample) error {
	v, err := one(ss)
	if err != nil {
		return err
	}
	if low := failRate * float64(len(fail)) / n / 2; !(v > low && v < 1) {
		return fmt.Errorf("%g, want from %g to 1", v, low)
	}
	return nil
}

// worst: topk(10) holds the failing devices above 10 %, every healthy device in it is below 5 %
// (the non-real-time ones may be anywhere).
func worst(ss []sample, failing, mayFail []string) error {
	if len(ss) != min(n, 10) {
		return fmt.Errorf("%d devices, want %d", len(ss), min(n, 10))
	}
	m := byLabel(ss, "instance")
	for _, f := range failing {
		if _, ok := m[f]; !ok {
			return fmt.Errorf("failing %s not among the worst: %v", f, m)
		}
	}
	return singlesOut(m, failing, mayFail, 0.05, 0.1, len(m))
}
