package dashboards

//lint:file-ignore SA1019 The classic dashboard schema (v1) is deliberate: it imports and provisions on Grafana 10 and 11 too, while dashboardv2 needs Grafana 12.

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// TitlePrefix starts the title of every dashboard.
const TitlePrefix = "EC comms / "

// Tag is set on every dashboard; dashboard links find each other by it.
const Tag = "ec_exporter"

// Dashboard is one generated dashboard and the file it is committed as.
type Dashboard struct {
	File  string // file name in this directory, e.g. "ec-comms-device.json"
	Build func() (dashboard.Dashboard, error)
}

// All returns every dashboard in a stable order.
func All() []Dashboard {
	return []Dashboard{
		{File: "ec-comms-device.json", Build: Device},
		{File: "ec-comms-fleet.json", Build: Fleet},
	}
}

// numberPanels gives every panel, rows and panels inside collapsed rows
// included, a stable id in layout order (Grafana would otherwise invent them
// on import, which breaks links to a panel).
func numberPanels(d dashboard.Dashboard, err error) (dashboard.Dashboard, error) {
	if err != nil {
		return d, fmt.Errorf("dashboards: build %q: %w", deref(d.Title), err)
	}
	id := uint32(0)
	next := func() uint32 { id++; return id }
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(next())
		case p.RowPanel != nil:
			p.RowPanel.Id = next()
			for i := range p.RowPanel.Panels {
				p.RowPanel.Panels[i].Id = cog.ToPtr(next())
			}
		}
	}
	return d, nil
}

// Marshal renders a dashboard as the committed JSON: indented, with a final newline.
func Marshal(d dashboard.Dashboard) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("dashboards: marshal %q: %w", deref(d.Title), err)
	}
	return b.Bytes(), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
