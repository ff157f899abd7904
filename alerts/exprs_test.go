package alerts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql/parser"
)

// expression is one PromQL expression and where it comes from.
type expression struct {
	where string // "alerts.yml CrosEcUnreachable", "ec-comms-device.json/Up/A", ...
	expr  string // as written, template variables included
	panel string // dashboard file and panel title; empty for rules and variables
}

// ruleExpressions returns the expressions of every rule.
func ruleExpressions(t testing.TB) []expression {
	var out []expression
	for _, r := range loadRules(t) {
		name := r.Alert + r.Record
		if r.Alert != "" {
			name += "/" + r.Labels["severity"]
		}
		out = append(out, expression{where: "rule " + name, expr: r.Expr})
	}
	return out
}

// dashboardExpressions returns every query of every committed dashboard
// (panels inside collapsed rows included) and the selectors inside the
// label_values() variable queries.
func dashboardExpressions(t testing.TB) []expression {
	t.Helper()
	files, err := filepath.Glob("../dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in ../dashboards: %v", err)
	}
	type panel struct {
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*\w+\)$`)
	var out []expression
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		base := filepath.Base(f)
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				for _, tg := range p.Targets {
					out = append(out, expression{where: base + "/" + p.Title + "/" + tg.RefID, expr: tg.Expr, panel: base + "/" + p.Title})
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			q, _ := v.Query.(string)
			m := labelValues.FindStringSubmatch(q)
			if m == nil {
				t.Errorf("%s: variable %s: query %q is not label_values(selector, label)", base, v.Name, q)
				continue
			}
			out = append(out, expression{where: base + " variable " + v.Name, expr: m[1]})
		}
	}
	return out
}

// grafanaVars replaces Grafana's template variables with values Prometheus
// accepts: interval variables with durations, the rest (job, instance,
// device, all regex-matched) with ".+".
func grafanaVars(expr, rateInterval, rng string) string {
	r := strings.NewReplacer("$__rate_interval", rateInterval, "${__rate_interval}", rateInterval,
		"$__range", rng, "${__range}", rng, "$__interval", rateInterval, "${__interval}", rateInterval)
	expr = r.Replace(expr)
	return regexp.MustCompile(`\$\{?\w+\}?`).ReplaceAllString(expr, ".+")
}

// metricNames parses expr and returns the metric names it selects.
func metricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
			names = append(names, name)
		}
		return nil
	})
	return names, nil
}

// TestExpressionsParse parses every PromQL expression of the rules and the
// dashboards with the Prometheus parser.
func TestExpressionsParse(t *testing.T) {
	exprs := append(ruleExpressions(t), dashboardExpressions(t)...)
	for _, e := range exprs {
		names, err := metricNames(grafanaVars(e.expr, "1m", "1h"))
		if err != nil {
			t.Errorf("%s: %v\n%s", e.where, err, e.expr)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: selects no metric: %s", e.where, e.expr)
		}
	}
	if len(exprs) < 30 {
		t.Fatalf("only %d expressions found; the dashboards or rules were not read", len(exprs))
	}
}

// TestExpressionsNameExposedMetrics checks that every metric name the rules
// and dashboards select is one the exporter really exposes (read from a live
// scrape of `ec_exporter serve --ec.transport=sim`), a recording rule's
// output, or Prometheus' own per-target `up`.
func TestExpressionsNameExposedMetrics(t *testing.T) {
	addr := startExporter(t)
	exposed := seriesNames(scrape(t, addr))
	allowed := map[string]string{"up": "Prometheus' scrape health"}
	for name, typ := range exposed {
		if typ == dto.MetricType_HISTOGRAM {
			allowed[name] = "native histogram"
		} else {
			allowed[name] = "exposed"
		}
	}
	for name := range boundDriverNames(t) {
		if _, ok := allowed[name]; !ok {
			allowed[name] = "kernel-log collector with a cros-ec driver bound"
			t.Logf("%s: not in the live scrape (no cros-ec driver bound on this host); taken from the kmsg collector", name)
		}
	}
	for name := range kernelViewNames(t) {
		if _, ok := allowed[name]; !ok {
			allowed[name] = "kernel-trace and kernel-threads collectors on a host with a cros-ec-spi EC"
		}
	}
	for _, r := range loadRules(t) {
		if r.Record != "" {
			allowed[r.Record] = "recording rule"
		}
	}
	used := map[string]bool{}
	for _, e := range append(ruleExpressions(t), dashboardExpressions(t)...) {
		names, err := metricNames(grafanaVars(e.expr, "1m", "1h"))
		if err != nil {
			t.Errorf("%s: %v", e.where, err)
			continue
		}
		for _, n := range names {
			used[n] = true
			if _, ok := allowed[n]; !ok {
				t.Errorf("%s: metric %q is not exposed by ec_exporter (nor a recording rule)", e.where, n)
			}
		}
	}
	// The other direction, for information: cros_ec_ series nobody reads.
	var unused []string
	for name := range exposed {
		if strings.HasPrefix(name, "cros_ec_") && !used[name] && !strings.HasSuffix(name, "_sum") && !strings.HasSuffix(name, "_count") {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	t.Logf("exposed cros_ec_ series used by no rule or panel: %v", unused)
}
