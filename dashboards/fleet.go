package dashboards

//lint:file-ignore SA1019 The classic dashboard schema (v1) is deliberate: it imports and provisions on Grafana 10 and 11 too, while dashboardv2 needs Grafana 12.

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// FleetUID is the stable UID of the fleet dashboard.
const FleetUID = "ec-comms-fleet"

// Fleet builds "EC comms / Fleet": many devices at once, mostly from the
// recording rules in alerts/recording.yml (load them, or these panels stay
// empty). The instance and device variables filter the per-device panels;
// the roll-ups are per job.
func Fleet() (dashboard.Dashboard, error) {
	const perDevice = `{` + selDevice + `}`
	b := newDashboard(FleetUID, "Fleet",
		"EC communication health across a fleet: devices down, devices not real-time, worst devices by failure ratio, failure ratio by firmware version and schedule delay. Needs the recording rules in alerts/recording.yml. Panels are documented in docs/dashboards.md.").
		WithRow(dashboard.NewRowBuilder("Overview")).
		WithPanel(statPanel("Devices", "ECs the exporters report (cros_ec_up series).", units.Short, steps("blue")).
			WithTarget(query("A", `sum(job:cros_ec_up:count{`+selJob+`})`, "devices"))).
		WithPanel(statPanel("Devices down", "ECs whose latest probe failed (cros_ec_up == 0).", units.Short, steps("green", 1.0, "red")).
			WithTarget(query("A", `sum(job:cros_ec_up:count{`+selJob+`}) - sum(job:cros_ec_up:sum{`+selJob+`})`, "down"))).
		WithPanel(statPanel("Devices not real-time", "Exporters whose worker thread runs without a real-time policy (CrosEcWorkerNotRealTime).", units.Short, steps("green", 1.0, "red")).
			WithTarget(query("A", `sum(job:cros_ec_worker_not_realtime:count{`+selJob+`})`, "not real-time"))).
		WithPanel(statPanel("Fleet failure ratio", "Failed share of all host commands in the fleet over the last 5 minutes.", units.PercentUnit, steps("green", 0.01, "yellow", 0.05, "red")).
			Decimals(3).
			WithTarget(query("A", `sum(job_instance_device:cros_ec_command_failures:rate5m{`+selJob+`}) / sum(job_instance_device:cros_ec_commands:rate5m{`+selJob+`})`, "failure ratio"))).
		WithPanel(timeSeries("Devices down over time", "Number of ECs whose latest probe failed, per job.", units.Short).
			Min(0).
			WithTarget(query("A", `sum by (job) (job:cros_ec_up:count{`+selJob+`}) - sum by (job) (job:cros_ec_up:sum{`+selJob+`})`, "{{job}}"))).
		WithPanel(tablePanel("Worker policies", "How many exporters obtained each scheduling policy and priority.", "Time").
			WithTarget(tableQuery("A", `count by (job, policy, priority) (cros_ec_worker_info{`+selInstance+`})`))).
		WithRow(dashboard.NewRowBuilder("Failures")).
		WithPanel(tablePanel("Worst devices by failure ratio", "The 10 devices with the highest failed share of host commands over the last 5 minutes.").
			Unit(units.PercentUnit).
			Decimals(3).
			SortBy([]cog.Builder[common.TableSortByFieldState]{common.NewTableSortByFieldStateBuilder().DisplayName("Value").Desc(true)}).
			WithTarget(tableQuery("A", `topk(10, job_instance_device:cros_ec_command_failures:ratio_rate5m`+perDevice+`)`))).
		WithPanel(timeSeries("Failure ratio by firmware version", "Failed share of host commands per RW firmware version (joined through cros_ec_info), and the whole job.", units.PercentUnit).
			Min(0).Decimals(3).
			WithTarget(query("A", `job_version_rw:cros_ec_command_failures:ratio_rate5m{`+selJob+`}`, "{{job}} {{version_rw}}")).
			WithTarget(query("B", `job:cros_ec_command_failures:ratio_rate5m{`+selJob+`}`, "{{job}} all versions"))).
		WithPanel(timeSeries("Worst devices by failure ratio over time", "The 10 devices with the highest failure ratio at each step.", units.PercentUnit).
			Min(0).Decimals(3).
			WithTarget(query("A", `topk(10, job_instance_device:cros_ec_command_failures:ratio_rate5m`+perDevice+`)`, "{{instance}} {{device}}"))).
		WithPanel(timeSeries("Kernel-logged EC errors by kind", "cros-ec errors the kernels of the fleet logged per interval, by kind.", units.Short).
			Min(0).
			DrawStyle(common.GraphDrawStyleBars).
			WithTarget(query("A", `sum by (kind) (increase(cros_ec_kernel_errors_total{`+selInstance+`}[$__rate_interval]))`, "{{kind}}"))).
		WithRow(dashboard.NewRowBuilder("Scheduling")).
		WithPanel(delayPanel("Schedule delay p99 across the fleet", "p99 of the schedule delay over all devices of each job (5 minute rate), against 2 ms (warning) and the EC's 8 ms budget.").
			WithTarget(query("A", `job:cros_ec_schedule_delay_seconds:p99_rate5m{`+selJob+`}`, "p99 {{job}}"))).
		WithPanel(delayPanel("Worst devices by schedule delay p99", "The 10 devices with the highest p99 schedule delay (5 minute rate).").
			WithTarget(query("A", `topk(10, job_instance_device:cros_ec_schedule_delay_seconds:p99_rate5m`+perDevice+`)`, "{{instance}} {{device}}"))).
		WithPanel(timeSeries("EC reboots", "EC reboots (uptime going down) per interval across the fleet.", units.Short).
			Min(0).
			DrawStyle(common.GraphDrawStyleBars).
			WithTarget(query("A", `sum by (job) (resets(cros_ec_uptime_seconds`+perDevice+`[$__rate_interval]))`, "{{job}}")))
	return numberPanels(withKernelView(b).
		WithRow(dashboard.NewRowBuilder("Native histograms (Prometheus with --enable-feature=native-histograms)").
			Collapsed(true).
			WithPanel(delayPanel("Schedule delay across the fleet (native)", "p99 and p99.9 of the schedule delay over all devices of each job, from native histograms.").
				Span(24).
				WithTarget(query("A", nativeQuantile("0.99", "cros_ec_schedule_delay_seconds", selDevice, "job"), "p99 {{job}}")).
				WithTarget(query("B", nativeQuantile("0.999", "cros_ec_schedule_delay_seconds", selDevice, "job"), "p99.9 {{job}}")))).
		Build())
}
