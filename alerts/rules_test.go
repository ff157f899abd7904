package alerts

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// ruleFile is the subset of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

// rule is one alerting or recording rule.
type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// loadRules reads every rule of the embedded rule files.
func loadRules(t testing.TB) []rule {
	t.Helper()
	var out []rule
	for _, name := range RuleFiles() {
		b, err := Rules.ReadFile(name)
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		var f ruleFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, g := range f.Groups {
			out = append(out, g.Rules...)
		}
	}
	if len(out) == 0 {
		t.Fatal("no rules found")
	}
	return out
}

// alertRules returns the alerting rules, failing the test when there are none.
func alertRules(t testing.TB) []rule {
	return rulesWhere(t, "alerting", func(r rule) bool { return r.Alert != "" })
}

// recordingRules returns the recording rules, failing the test when there are none.
func recordingRules(t testing.TB) []rule {
	return rulesWhere(t, "recording", func(r rule) bool { return r.Record != "" })
}

func rulesWhere(t testing.TB, kind string, keep func(rule) bool) []rule {
	t.Helper()
	var out []rule
	for _, r := range loadRules(t) {
		if keep(r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no %s rules found", kind)
	}
	return out
}
