package dashboards

//lint:file-ignore SA1019 The classic dashboard schema (v1) is deliberate: it imports and provisions on Grafana 10 and 11 too, while dashboardv2 needs Grafana 12.

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// DeviceUID is the stable UID of the device dashboard.
const DeviceUID = "ec-comms-device"

// Device builds "EC comms / Device": one or a few ECs in detail.
func Device() (dashboard.Dashboard, error) {
	return numberPanels(newDashboard(DeviceUID, "Device",
		"EC communication health of single devices: probe success, failures, latency against the EC's 8 ms budget, the real-time worker, EC identity and kernel-logged errors. Panels are documented in docs/dashboards.md.").
		WithRow(dashboard.NewRowBuilder("Overview")).
		WithPanel(statPanel("Up", "cros_ec_up: 1 when the latest probe of the EC succeeded.", units.Short,
			steps("red", 1.0, "green")).
			Span(4).
			Mappings(valueText("0", "DOWN", "red", "1", "UP", "green")).
			WithTarget(query("A", `cros_ec_up{`+selDevice+`}`, "{{instance}} {{device}}"))).
		WithPanel(statPanel("Device open", "cros_ec_device_open: 1 when the EC's device (chardev, spidev or simulator) is open; 0 while the exporter keeps retrying to open it.", units.Short,
			steps("red", 1.0, "green")).
			Span(4).
			Mappings(valueText("0", "CLOSED", "red", "1", "open", "green")).
			WithTarget(query("A", `cros_ec_device_open{`+selDevice+`}`, "{{instance}} {{device}}"))).
		WithPanel(statPanel("Success ratio", "Share of attempted host commands that succeeded over the dashboard's time range.", units.PercentUnit,
			steps("red", 0.95, "yellow", 0.99, "green")).
			Span(4).
			Decimals(3).
			WithTarget(query("A", `1 - sum(increase(cros_ec_command_failures_total{`+selDevice+`}[$__range])) / sum(increase(cros_ec_commands_total{`+selDevice+`}[$__range]))`, "success"))).
		WithPanel(statPanel("Since last success", "Time since the latest successful host command (cros_ec_last_success_timestamp_seconds).", units.Seconds,
			steps("green", 10.0, "yellow", 60.0, "red")).
			Span(4).
			WithTarget(query("A", `time() - max by (instance, device) (cros_ec_last_success_timestamp_seconds{`+selDevice+`})`, "{{instance}} {{device}}"))).
		WithPanel(statPanel("Worker real-time", "Whether the exporter's EC worker thread obtained a real-time policy (fifo or rr), read back from the kernel (cros_ec_worker_info).", units.Short,
			steps("red", 1.0, "green")).
			Span(4).
			Mappings(valueText("0", "NOT real-time", "red", "1", "real-time", "green")).
			WithTarget(query("A", `count by (instance) (cros_ec_worker_info{`+selInstance+`, policy=~"fifo|rr"}) or count by (instance) (cros_ec_worker_info{`+selInstance+`}) * 0`, "{{instance}}"))).
		WithPanel(statPanel("Collectors", "Whether each of the exporter's collectors (ec, kmsg) produced its metrics on the latest scrape (cros_ec_scrape_collector_success).", units.Short,
			steps("red", 1.0, "green")).
			Span(4).
			Mappings(valueText("0", "FAILING", "red", "1", "ok", "green")).
			WithTarget(query("A", `cros_ec_scrape_collector_success{`+selInstance+`}`, "{{instance}} {{collector}}"))).
		WithRow(dashboard.NewRowBuilder("Host commands")).
		WithPanel(timeSeries("Success ratio over time", "Share of attempted host commands that succeeded, per device.", units.PercentUnit).
			Min(0).Max(1).Decimals(3).
			WithTarget(query("A", `1 - (sum by (instance, device) (rate(cros_ec_command_failures_total{`+selDevice+`}[$__rate_interval])) / sum by (instance, device) (rate(cros_ec_commands_total{`+selDevice+`}[$__rate_interval])))`, "{{instance}} {{device}}"))).
		WithPanel(timeSeries("Failures by cause", "Failed host commands per second by cause: timeout, checksum, bad_response, ec_result, not_ready, io, busy.", units.OpsPerSecond).
			Min(0).
			Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).
			WithTarget(query("A", `sum by (instance, device, cause) (rate(cros_ec_command_failures_total{`+selDevice+`}[$__rate_interval]))`, "{{instance}} {{device}} {{cause}}"))).
		WithPanel(timeSeries("Commands", "Host commands attempted per second, by command.", units.OpsPerSecond).
			Min(0).
			WithTarget(query("A", `sum by (instance, device, command) (rate(cros_ec_commands_total{`+selDevice+`}[$__rate_interval]))`, "{{instance}} {{device}} {{command}}"))).
		WithPanel(timeSeries("Retries", "Retries inside host commands per second (EC busy or not ready, IN_PROGRESS polls), by command.", units.OpsPerSecond).
			Min(0).
			WithTarget(query("A", `sum by (instance, device, command) (rate(cros_ec_command_retries_total{`+selDevice+`}[$__rate_interval]))`, "{{instance}} {{device}} {{command}}"))).
		WithRow(dashboard.NewRowBuilder("Transfer latency")).
		WithPanel(heatmapPanel("Transfer duration", "Start of transfer to verified response of the successful transfers (failures are in the failure panels), classic buckets of cros_ec_transfer_duration_seconds.").
			WithTarget(heatmapQuery("A", `sum by (le) (rate(cros_ec_transfer_duration_seconds_bucket{`+selDevice+`}[$__rate_interval]))`))).
		WithPanel(delayPanel("Transfer duration quantiles", "p50, p99 and max (upper bound of the highest bucket hit) of the duration of successful transfers; the dashed red line is the EC's 8 ms budget from CS assertion to the end of a transfer.").
			WithTarget(query("A", quantile("0.5", "cros_ec_transfer_duration_seconds", selDevice, "instance, device"), "p50 {{instance}} {{device}}")).
			WithTarget(query("B", quantile("0.99", "cros_ec_transfer_duration_seconds", selDevice, "instance, device"), "p99 {{instance}} {{device}}")).
			WithTarget(query("C", quantile("1", "cros_ec_transfer_duration_seconds", selDevice, "instance, device"), "max {{instance}} {{device}}"))).
		WithRow(dashboard.NewRowBuilder("Scheduling")).
		WithPanel(heatmapPanel("Schedule delay", "Intended start of a job to the moment the worker thread ran it (cros_ec_schedule_delay_seconds, classic buckets).").
			WithTarget(heatmapQuery("A", `sum by (le) (rate(cros_ec_schedule_delay_seconds_bucket{`+selDevice+`}[$__rate_interval]))`))).
		WithPanel(delayPanel("Schedule delay quantiles", "p50, p99, p99.9 and max of the schedule delay. Dashed lines: 2 ms (25 % of the budget, CrosEcScheduleDelayHigh warns) and the EC's 8 ms receive budget: a host that delays the worker this long makes the EC give up.").
			WithTarget(query("A", quantile("0.5", "cros_ec_schedule_delay_seconds", selDevice, "instance, device"), "p50 {{instance}} {{device}}")).
			WithTarget(query("B", quantile("0.99", "cros_ec_schedule_delay_seconds", selDevice, "instance, device"), "p99 {{instance}} {{device}}")).
			WithTarget(query("C", quantile("0.999", "cros_ec_schedule_delay_seconds", selDevice, "instance, device"), "p99.9 {{instance}} {{device}}")).
			WithTarget(query("D", quantile("1", "cros_ec_schedule_delay_seconds", selDevice, "instance, device"), "max {{instance}} {{device}}"))).
		WithPanel(delayPanel("Worker wake-up latency", "Timer overshoot on the worker thread, read as soon as it is back from the kernel, cyclictest's measure (cros_ec_worker_wakeup_latency_seconds): p50, p99 and max; and the mean of the Go runtime's share after that, before the worker's code runs (cros_ec_worker_runtime_delay_seconds: ~5 µs with its P kept, ~20 µs when sysmon took it, milliseconds when no P was idle).").
			WithTarget(query("A", quantile("0.5", "cros_ec_worker_wakeup_latency_seconds", selInstance, "instance"), "p50 {{instance}}")).
			WithTarget(query("B", quantile("0.99", "cros_ec_worker_wakeup_latency_seconds", selInstance, "instance"), "p99 {{instance}}")).
			WithTarget(query("C", quantile("1", "cros_ec_worker_wakeup_latency_seconds", selInstance, "instance"), "max {{instance}}")).
			WithTarget(query("D", `sum by (instance) (rate(cros_ec_worker_runtime_delay_seconds_sum{`+selInstance+`}[$__rate_interval])) / sum by (instance) (rate(cros_ec_worker_runtime_delay_seconds_count{`+selInstance+`}[$__rate_interval]))`, "Go runtime share, mean {{instance}}"))).
		WithPanel(timeSeries("Worker queue drops", "Jobs the worker's bounded queue refused because it was full (cros_ec_worker_queue_dropped_total): the worker is stuck or starved.", units.Short).
			Min(0).
			DrawStyle(common.GraphDrawStyleBars).
			WithTarget(query("A", `increase(cros_ec_worker_queue_dropped_total{`+selInstance+`}[$__rate_interval])`, "{{instance}}"))).
		WithPanel(tablePanel("Worker thread", "What the worker thread obtained, read back from the kernel: scheduling policy, priority, CPUs, memory lock (cros_ec_worker_info).", "Value", "job").
			Span(24).
			WithTarget(tableQuery("A", `cros_ec_worker_info{`+selInstance+`}`))).
		WithRow(dashboard.NewRowBuilder("EC")).
		WithPanel(tablePanel("EC identity", "RO/RW firmware versions, active image, chip, protocol and build, from GET_VERSION, GET_CHIP_INFO, GET_PROTOCOL_INFO and GET_BUILD_INFO (cros_ec_info).", "Value", "job").
			Span(24).
			WithTarget(tableQuery("A", `cros_ec_info{`+selDevice+`}`))).
		WithPanel(timeSeries("EC uptime", "Time since the EC booted (GET_UPTIME_INFO); a drop is an EC reboot.", units.Seconds).
			Span(8).
			WithTarget(query("A", `cros_ec_uptime_seconds{`+selDevice+`}`, "{{instance}} {{device}}"))).
		WithPanel(timeSeries("EC and AP resets", "EC reboots per interval as seen in the uptime (it went down) and as counted by the exporter (cros_ec_resets_detected_total), the signals of CrosEcResetDetected; and AP resets the EC counted (cros_ec_ap_resets_total).", units.Short).
			Span(8).
			Min(0).
			DrawStyle(common.GraphDrawStyleBars).
			WithTarget(query("A", `resets(cros_ec_uptime_seconds{`+selDevice+`}[$__rate_interval])`, "uptime went down {{instance}} {{device}}")).
			WithTarget(query("B", `increase(cros_ec_resets_detected_total{`+selDevice+`}[$__rate_interval])`, "detected by exporter {{instance}} {{device}}")).
			WithTarget(query("C", `increase(cros_ec_ap_resets_total{`+selDevice+`}[$__rate_interval])`, "AP resets {{instance}} {{device}}"))).
		WithPanel(timeSeries("Kernel-logged EC errors", "cros-ec errors the kernel logged per interval, by driver and kind (cros_ec_kernel_errors_total): all EC traffic on the host, not only the exporter's; and kernel log records lost before the exporter read them.", units.Short).
			Span(8).
			Min(0).
			DrawStyle(common.GraphDrawStyleBars).
			WithTarget(query("A", `sum by (instance, driver, kind) (increase(cros_ec_kernel_errors_total{`+selInstance+`}[$__rate_interval]))`, "{{instance}} {{driver}} {{kind}}")).
			WithTarget(query("B", `increase(cros_ec_kernel_log_lost_records_total{`+selInstance+`}[$__rate_interval])`, "{{instance}} records lost (not classified)"))).
		WithRow(dashboard.NewRowBuilder("Native histograms (Prometheus with --enable-feature=native-histograms)").
			Collapsed(true).
			WithPanel(heatmapPanel("Transfer duration (native)", "The same as the classic heatmap at ~9 % bucket resolution. Needs native histograms (Prometheus 2.40+ with --enable-feature=native-histograms, which on 2.42-2.44 replaces the classic buckets; 3.x: scrape_native_histograms) and Grafana 10.3+.").
				WithTarget(nativeHeatmapQuery("A", `sum(rate(cros_ec_transfer_duration_seconds{`+selDevice+`}[$__rate_interval]))`))).
			WithPanel(delayPanel("Transfer duration quantiles (native)", "p50, p99 and p99.9 of the transfer duration from the native histogram.").
				WithTarget(query("A", nativeQuantile("0.5", "cros_ec_transfer_duration_seconds", selDevice, "instance, device"), "p50 {{instance}} {{device}}")).
				WithTarget(query("B", nativeQuantile("0.99", "cros_ec_transfer_duration_seconds", selDevice, "instance, device"), "p99 {{instance}} {{device}}")).
				WithTarget(query("C", nativeQuantile("0.999", "cros_ec_transfer_duration_seconds", selDevice, "instance, device"), "p99.9 {{instance}} {{device}}"))).
			WithPanel(heatmapPanel("Schedule delay (native)", "Schedule delay at native-histogram resolution.").
				WithTarget(nativeHeatmapQuery("A", `sum(rate(cros_ec_schedule_delay_seconds{`+selDevice+`}[$__rate_interval]))`))).
			WithPanel(delayPanel("Schedule delay quantiles (native)", "p50, p99 and p99.9 of the schedule delay from the native histogram, against the 8 ms budget.").
				WithTarget(query("A", nativeQuantile("0.5", "cros_ec_schedule_delay_seconds", selDevice, "instance, device"), "p50 {{instance}} {{device}}")).
				WithTarget(query("B", nativeQuantile("0.99", "cros_ec_schedule_delay_seconds", selDevice, "instance, device"), "p99 {{instance}} {{device}}")).
				WithTarget(query("C", nativeQuantile("0.999", "cros_ec_schedule_delay_seconds", selDevice, "instance, device"), "p99.9 {{instance}} {{device}}"))).
			WithPanel(delayPanel("Worker wake-up latency (native)", "p50, p99 and p99.9 of the worker's timer overshoot from the native histogram, and p50 and p99 of the Go runtime's share of its returns from sleep (cros_ec_worker_runtime_delay_seconds, native only).").
				Span(24).
				WithTarget(query("A", nativeQuantile("0.5", "cros_ec_worker_wakeup_latency_seconds", selInstance, "instance"), "p50 {{instance}}")).
				WithTarget(query("B", nativeQuantile("0.99", "cros_ec_worker_wakeup_latency_seconds", selInstance, "instance"), "p99 {{instance}}")).
				WithTarget(query("C", nativeQuantile("0.999", "cros_ec_worker_wakeup_latency_seconds", selInstance, "instance"), "p99.9 {{instance}}")).
				WithTarget(query("D", nativeQuantile("0.5", "cros_ec_worker_runtime_delay_seconds", selInstance, "instance"), "Go runtime share p50 {{instance}}")).
				WithTarget(query("E", nativeQuantile("0.99", "cros_ec_worker_runtime_delay_seconds", selInstance, "instance"), "Go runtime share p99 {{instance}}")))).
		Build())
}

// quantile is the q-quantile of a histogram's classic buckets, per by.
func quantile(q, metric, sel, by string) string {
	return `histogram_quantile(` + q + `, sum by (le, ` + by + `) (rate(` + metric + `_bucket{` + sel + `}[$__rate_interval])))`
}

// nativeQuantile is the q-quantile of a native histogram, per by.
func nativeQuantile(q, metric, sel, by string) string {
	return `histogram_quantile(` + q + `, sum by (` + by + `) (rate(` + metric + `{` + sel + `}[$__rate_interval])))`
}
