package alerts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"go.yaml.in/yaml/v3"
)

// TestPromtoolCheckRules runs `promtool check rules` on the rule files.
func TestPromtoolCheckRules(t *testing.T) {
	promtool := testkit.NeedTool(t, "promtool", "prometheus")
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, RuleFiles()...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// TestPromtoolTestRules runs the promtool unit tests in testdata/.
func TestPromtoolTestRules(t *testing.T) {
	promtool := testkit.NeedTool(t, "promtool", "prometheus")
	files := unitTestFiles(t)
	out, err := exec.Command(promtool, append([]string{"test", "rules"}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if n := bytes.Count(out, []byte("SUCCESS")); n != len(files) {
		t.Fatalf("promtool reported %d successes for %d files:\n%s", n, len(files), out)
	}
}

func unitTestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/*_test.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool unit tests in testdata/: %v", err)
	}
	return files
}

// unitTests is the subset of a promtool unit test file the coverage check reads.
type unitTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestEveryAlertIsUnitTested checks that each alert, at each severity, has a
// promtool case where it fires and one where it is expected to stay quiet.
func TestEveryAlertIsUnitTested(t *testing.T) {
	fires := map[string]bool{} // alertname/severity
	quiet := map[string]bool{} // alertname
	for _, f := range unitTestFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var u unitTests
		if err := yaml.Unmarshal(b, &u); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, tc := range u.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) == 0 {
					quiet[a.Alertname] = true
				}
				for _, e := range a.ExpAlerts {
					fires[a.Alertname+"/"+e.ExpLabels["severity"]] = true
				}
			}
		}
	}
	for _, r := range alertRules(t) {
		if key := r.Alert + "/" + r.Labels["severity"]; !fires[key] {
			t.Errorf("%s: no promtool test shows it firing", key)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s: no promtool test shows it quiet", r.Alert)
		}
	}
}

// TestAlertStyle checks the mixin conventions: CrosEc CamelCase names, a
// severity, summary and description, and a runbook_url whose anchor is a
// section of docs/alerts.md.
func TestAlertStyle(t *testing.T) {
	docs, err := os.ReadFile("../docs/alerts.md")
	if err != nil {
		t.Fatalf("runbooks: %v", err)
	}
	anchors := markdownAnchors(string(docs))
	name := regexp.MustCompile(`^CrosEc([A-Z][a-z0-9]*)+$`)
	const runbooks = "https://github.com/ec-exporter/ec_exporter/blob/main/docs/alerts.md#"
	for _, r := range alertRules(t) {
		if !name.MatchString(r.Alert) {
			t.Errorf("%s: want a CamelCase name starting with CrosEc", r.Alert)
		}
		if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
			t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, s)
		}
		if s := r.Annotations["summary"]; s == "" || strings.Contains(s, "{{") || !strings.HasSuffix(s, ".") {
			t.Errorf("%s: summary %q must be a static sentence ending in a period", r.Alert, s)
		}
		// An absent() alert has no labels to template (kubernetes-mixin's KubeAPIDown neither).
		if d := r.Annotations["description"]; d == "" || !strings.Contains(d, "{{") && !strings.Contains(r.Expr, "absent(") {
			t.Errorf("%s: description %q should be templated with labels or the value", r.Alert, d)
		}
		u := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(u, runbooks)
		if !ok || anchor != strings.ToLower(r.Alert) {
			t.Errorf("%s: runbook_url %q, want %s%s", r.Alert, u, runbooks, strings.ToLower(r.Alert))
		} else if !anchors[anchor] {
			t.Errorf("%s: docs/alerts.md has no section with anchor #%s", r.Alert, anchor)
		}
	}
}

// markdownAnchors returns the GitHub anchors of the headings in a markdown text.
func markdownAnchors(md string) map[string]bool {
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for line := range strings.SplitSeq(md, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#")))
		h = strings.ReplaceAll(drop.ReplaceAllString(h, ""), " ", "-")
		out[h] = true
	}
	return out
}

// TestRecordingRuleNames checks the level:metric:operations convention and
// that each recorded metric keeps the cros_ec_ prefix.
func TestRecordingRuleNames(t *testing.T) {
	re := regexp.MustCompile(`^[a-z_]+:cros_ec_[a-z0-9_]+:[a-z0-9_]+$`)
	for _, r := range recordingRules(t) {
		if !re.MatchString(r.Record) {
			t.Errorf("recording rule %q: want level:cros_ec_metric:operations", r.Record)
		}
	}
}
