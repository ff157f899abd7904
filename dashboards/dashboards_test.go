package dashboards

//lint:file-ignore SA1019 The classic dashboard schema (v1) is deliberate; see common.go.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"go.yaml.in/yaml/v3"
)

// TestCommittedJSONIsFresh fails when a committed dashboard differs from what
// the builders make: run `go generate ./dashboards/...` and commit the result.
func TestCommittedJSONIsFresh(t *testing.T) {
	for _, d := range All() {
		built, err := d.Build()
		if err != nil {
			t.Fatalf("%s: %v", d.File, err)
		}
		want, err := Marshal(built)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(d.File)
		if err != nil {
			t.Fatalf("%s: %v (run go generate ./dashboards/...)", d.File, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `go generate ./dashboards/...` and commit it", d.File)
		}
	}
}

// panelJSON is the subset of a panel the structural checks read.
type panelJSON struct {
	ID      *int         `json:"id"`
	Type    string       `json:"type"`
	Title   string       `json:"title"`
	Panels  []panelJSON  `json:"panels"`
	Targets []targetJSON `json:"targets"`
	Options struct {
		Legend *struct {
			ShowLegend *bool `json:"showLegend"`
			Show       *bool `json:"show"`
		} `json:"legend"`
		Tooltip *struct {
			Mode string `json:"mode"`
		} `json:"tooltip"`
		Calculate *bool `json:"calculate"`
	} `json:"options"`
	FieldConfig struct {
		Defaults struct {
			Thresholds *struct {
				Steps []struct {
					Value *float64 `json:"value"`
				} `json:"steps"`
			} `json:"thresholds"`
			Custom struct {
				ThresholdsStyle *struct {
					Mode string `json:"mode"`
				} `json:"thresholdsStyle"`
			} `json:"custom"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type targetJSON struct {
	RefID        string `json:"refId"`
	Expr         string `json:"expr"`
	Format       string `json:"format"`
	LegendFormat string `json:"legendFormat"`
}

type dashboardJSON struct {
	UID        string      `json:"uid"`
	Title      string      `json:"title"`
	Panels     []panelJSON `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"list"`
	} `json:"templating"`
}

func readDashboard(t *testing.T, file string) dashboardJSON {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboardJSON
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d
}

func flatten(ps []panelJSON) []panelJSON {
	var out []panelJSON
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

// TestDashboardConventions checks what Grafana needs and what the SDK leaves
// unset by default: stable UIDs, the shared title prefix, the variables,
// unique panel ids, a refId, legend and tooltip on every query panel, and the
// 8 ms budget threshold on the schedule-delay panels.
func TestDashboardConventions(t *testing.T) {
	uids := map[string]string{"ec-comms-device.json": DeviceUID, "ec-comms-fleet.json": FleetUID}
	for _, f := range All() {
		d := readDashboard(t, f.File)
		if d.UID != uids[f.File] {
			t.Errorf("%s: uid %q, want %q", f.File, d.UID, uids[f.File])
		}
		if !strings.HasPrefix(d.Title, TitlePrefix) {
			t.Errorf("%s: title %q lacks prefix %q", f.File, d.Title, TitlePrefix)
		}
		var vars []string
		for _, v := range d.Templating.List {
			vars = append(vars, v.Name)
		}
		if got := strings.Join(vars, ","); got != "datasource,job,instance,device" {
			t.Errorf("%s: variables %s, want datasource,job,instance,device", f.File, got)
		}
		ids := map[int]bool{}
		budget := false
		for _, p := range flatten(d.Panels) {
			if p.ID == nil || ids[*p.ID] {
				t.Errorf("%s: panel %q: missing or duplicate id", f.File, p.Title)
			} else {
				ids[*p.ID] = true
			}
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f.File, p.Title)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("%s: panel %q: missing or duplicate refId %q", f.File, p.Title, tg.RefID)
				}
				refs[tg.RefID] = true
				if tg.Expr == "" || tg.LegendFormat == "" || tg.Format == "" {
					t.Errorf("%s: panel %q %s: expr, legendFormat and format must be set", f.File, p.Title, tg.RefID)
				}
			}
			switch p.Type {
			case "timeseries":
				if p.Options.Legend == nil || p.Options.Legend.ShowLegend == nil || !*p.Options.Legend.ShowLegend {
					t.Errorf("%s: panel %q: legend not shown", f.File, p.Title)
				}
				if p.Options.Tooltip == nil || p.Options.Tooltip.Mode == "" {
					t.Errorf("%s: panel %q: tooltip mode unset", f.File, p.Title)
				}
			case "heatmap":
				if p.Options.Calculate == nil || *p.Options.Calculate {
					t.Errorf("%s: heatmap %q must draw pre-bucketed data (calculate=false)", f.File, p.Title)
				}
				for _, tg := range p.Targets {
					if tg.Format != "heatmap" {
						t.Errorf("%s: heatmap %q: format %q, want heatmap", f.File, p.Title, tg.Format)
					}
				}
			}
			if strings.Contains(p.Title, "chedule delay") && p.Type == "timeseries" {
				th := p.FieldConfig.Defaults.Thresholds
				style := p.FieldConfig.Defaults.Custom.ThresholdsStyle
				ok := th != nil && style != nil && style.Mode != "off"
				if ok {
					ok = false
					for _, s := range th.Steps {
						if s.Value != nil && *s.Value == Budget {
							ok = true
						}
					}
				}
				if !ok {
					t.Errorf("%s: panel %q must draw the 8 ms budget as a threshold", f.File, p.Title)
				}
				budget = true
			}
		}
		if !budget {
			t.Errorf("%s: no schedule-delay panel", f.File)
		}
	}
}

// TestDocsDescribeEveryPanel checks that docs/dashboards.md names every panel.
func TestDocsDescribeEveryPanel(t *testing.T) {
	b, err := os.ReadFile("../docs/dashboards.md")
	if err != nil {
		t.Fatal(err)
	}
	docs := string(b)
	for _, f := range All() {
		for _, p := range flatten(readDashboard(t, f.File).Panels) {
			if p.Type == "row" {
				continue
			}
			if !strings.Contains(docs, p.Title) {
				t.Errorf("docs/dashboards.md does not describe panel %q of %s", p.Title, f.File)
			}
		}
	}
}

// TestProvisioningExample checks that the Grafana provisioning example is
// valid YAML of provisioning format 1 with a file provider.
func TestProvisioningExample(t *testing.T) {
	for _, f := range []string{
		"../examples/grafana/provisioning/dashboards/ec_exporter.yml",
		"../examples/grafana/provisioning/datasources/prometheus.yml",
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			APIVersion int `yaml:"apiVersion"`
			Providers  []struct {
				Type    string `yaml:"type"`
				Options struct {
					Path string `yaml:"path"`
				} `yaml:"options"`
			} `yaml:"providers"`
			Datasources []struct {
				Type string `yaml:"type"`
			} `yaml:"datasources"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if doc.APIVersion != 1 || len(doc.Providers)+len(doc.Datasources) == 0 {
			t.Errorf("%s: want apiVersion 1 with providers or datasources", f)
		}
		for _, p := range doc.Providers {
			if p.Type != "file" || p.Options.Path == "" {
				t.Errorf("%s: provider must be type file with options.path", f)
			}
		}
		for _, d := range doc.Datasources {
			if d.Type != "prometheus" {
				t.Errorf("%s: datasource type %q, want prometheus", f, d.Type)
			}
		}
	}
}

// TestCommittedJSONMatchesSchema decodes each committed file strictly with the
// SDK's Grafana schema types (unknown or mistyped fields fail) and validates it.
func TestCommittedJSONMatchesSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins() // panel and query types, for decoding
	for _, f := range All() {
		b, err := os.ReadFile(f.File)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard.Dashboard
		if err := sdkErr(d.UnmarshalJSONStrict(b)); err != nil {
			t.Errorf("%s: strict decode: %v", f.File, err)
			continue
		}
		if err := sdkErr(d.Validate()); err != nil {
			t.Errorf("%s: %v", f.File, err)
		}
		if len(d.Panels) == 0 || d.Uid == nil {
			t.Errorf("%s: decoded without panels or uid", f.File)
		}
	}
}

// sdkErr works around the SDK (v0.0.22) returning an empty cog.BuildErrors,
// a typed nil, as a non-nil error when there is nothing wrong.
func sdkErr(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}
