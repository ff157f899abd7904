package dashboards

//lint:file-ignore SA1019 The classic dashboard schema (v1) is deliberate: it imports and provisions on Grafana 10 and 11 too, while dashboardv2 needs Grafana 12.

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Budget is the EC firmware's receive budget (8192 µs per receive stage, 8 ms
// from CS assertion to the end of a transfer), drawn as a threshold on delays.
const Budget = 0.008

// Selectors of the template variables. Multi-value variables expand to a
// regular expression, hence =~.
const (
	selJob      = `job=~"$job"`
	selInstance = `job=~"$job", instance=~"$instance"`
	selDevice   = `job=~"$job", instance=~"$instance", device=~"$device"`
)

// datasource refers to the dashboard's datasource variable.
func datasource() dashboard.DataSourceRef {
	return dashboard.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// newDashboard starts a dashboard with the shared settings, variables and links.
func newDashboard(uid, title, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(TitlePrefix+title).
		Uid(uid).
		Description(description).
		Tags([]string{Tag, "cros_ec"}).
		Editable().
		Time("now-1h", "now").
		Refresh("30s").
		Timezone(common.TimeZoneBrowser).
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Link(dashboard.NewDashboardLinkBuilder("EC comms").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{Tag}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true).
			TargetBlank(false).
			Icon("external link").
			Tooltip("").
			Url("")).
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus")).
		WithVariable(queryVariable("job", "Job", `label_values(cros_ec_up, job)`)).
		WithVariable(queryVariable("instance", "Instance", `label_values(cros_ec_up{`+selJob+`}, instance)`)).
		WithVariable(queryVariable("device", "Device", `label_values(cros_ec_up{`+selInstance+`}, device)`))
}

// queryVariable is a multi-value variable of label values, "All" included.
func queryVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Datasource(datasource()).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".+")
}

// query is a range query drawn as a time series.
func query(refID, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		RefId(refID).
		Expr(expr).
		LegendFormat(legend).
		Range().
		Format(prometheus.PromQueryFormatTimeSeries)
}

// tableQuery is an instant query drawn as a table, one row per series.
func tableQuery(refID, expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		RefId(refID).
		Expr(expr).
		LegendFormat("__auto").
		Instant().
		Format(prometheus.PromQueryFormatTable)
}

// heatmapQuery is a range query of classic buckets in Grafana's heatmap format.
func heatmapQuery(refID, expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		RefId(refID).
		Expr(expr).
		LegendFormat("{{le}}").
		Range().
		Format(prometheus.PromQueryFormatHeatmap)
}

// nativeHeatmapQuery is a range query of a native histogram (no le), drawn by
// Grafana 10.3+ as a heatmap.
func nativeHeatmapQuery(refID, expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		RefId(refID).
		Expr(expr).
		LegendFormat("__auto").
		Range().
		Format(prometheus.PromQueryFormatHeatmap)
}

// timeSeries is a line panel with the shared legend and tooltip settings.
func timeSeries(title, description, unit string) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unit).
		Height(8).
		Span(12).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		SpanNulls(common.BoolOrFloat64{Bool: cog.ToPtr(false)}).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			Calcs([]string{"mean", "max", "lastNotNull"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
}

// delayPanel is a time series of durations on a log axis with the EC's 8 ms
// budget as a red dashed threshold (and a quarter of it, where
// CrosEcScheduleDelayHigh warns, in yellow).
func delayPanel(title, description string) *timeseries.PanelBuilder {
	return timeSeries(title, description, units.Seconds).
		ScaleDistribution(common.NewScaleDistributionConfigBuilder().
			Type(common.ScaleDistributionLog).
			Log(10)).
		Thresholds(dashboard.NewThresholdsConfigBuilder().
			Mode(dashboard.ThresholdsModeAbsolute).
			Steps([]dashboard.Threshold{
				{Value: nil, Color: "green"},
				{Value: cog.ToPtr(Budget / 4), Color: "yellow"},
				{Value: cog.ToPtr(Budget), Color: "red"},
			})).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().
			Mode(common.GraphThresholdsStyleModeDashed))
}

// heatmapPanel draws pre-bucketed data (classic or native) without recalculating it.
func heatmapPanel(title, description string) *heatmap.PanelBuilder {
	return heatmap.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Height(8).
		Span(12).
		Calculate(false).
		Color(heatmap.NewHeatmapColorOptionsBuilder().
			Mode(heatmap.HeatmapColorModeScheme).
			Scheme("Oranges").
			Scale(heatmap.HeatmapColorScaleExponential).
			Exponent(0.5).
			Fill("dark-orange").
			Steps(64).
			Reverse(false)).
		YAxis(heatmap.NewYAxisConfigBuilder().
			Unit(units.Seconds).
			AxisPlacement(common.AxisPlacementLeft)).
		CellGap(1).
		ShowValue(common.VisibilityModeNever).
		ShowLegend().
		Tooltip(heatmap.NewHeatmapTooltipBuilder().
			Mode(common.TooltipDisplayModeSingle).
			YHistogram(true).
			ShowColorScale(true)).
		RowsFrame(heatmap.NewRowsHeatmapOptionsBuilder().
			Layout(common.HeatmapCellLayoutAuto)).
		ExemplarsColor("rgba(255,0,255,0.7)").
		FilterValues(heatmap.NewFilterValueRangeBuilder().Le(1e-9))
}

// statPanel is a single big number with thresholds.
func statPanel(title, description, unit string, steps []dashboard.Threshold) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unit).
		Height(4).
		Span(6).
		Thresholds(dashboard.NewThresholdsConfigBuilder().
			Mode(dashboard.ThresholdsModeAbsolute).
			Steps(steps)).
		ColorMode(common.BigValueColorModeBackground).
		GraphMode(common.BigValueGraphModeNone).
		JustifyMode(common.BigValueJustifyModeAuto).
		TextMode(common.BigValueTextModeAuto).
		Orientation(common.VizOrientationAuto).
		ReduceOptions(common.NewReduceDataOptionsBuilder().
			Calcs([]string{"lastNotNull"}).
			Values(false))
}

// tablePanel shows one row per series; the organize transformation hides the
// columns named in hide (Time and __name__ are always hidden).
func tablePanel(title, description string, hide ...string) *table.PanelBuilder {
	exclude := map[string]bool{"Time": true, "__name__": true}
	for _, h := range hide {
		exclude[h] = true
	}
	return table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Height(8).
		Span(12).
		ShowHeader(true).
		CellHeight(common.TableCellHeightSm).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"})).
		Filterable(true).
		WithTransformation(dashboard.DataTransformerConfig{
			Id:      "organize",
			Options: map[string]any{"excludeByName": exclude},
		})
}

// steps builds threshold steps: base color, then (value, color) pairs.
func steps(base string, more ...any) []dashboard.Threshold {
	out := []dashboard.Threshold{{Value: nil, Color: base}}
	for i := 0; i+1 < len(more); i += 2 {
		out = append(out, dashboard.Threshold{Value: cog.ToPtr(more[i].(float64)), Color: more[i+1].(string)})
	}
	return out
}

// valueText maps exact values to a text and a color, given as triples
// (value, text, color).
func valueText(triples ...string) []dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	for i := 0; i+2 < len(triples); i += 3 {
		idx := int32(i / 3)
		opts[triples[i]] = dashboard.ValueMappingResult{Text: cog.ToPtr(triples[i+1]), Color: cog.ToPtr(triples[i+2]), Index: &idx}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}
