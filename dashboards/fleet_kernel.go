package dashboards

//lint:file-ignore SA1019 The classic dashboard schema (v1) is deliberate: it imports and provisions on Grafana 10 and 11 too, while dashboardv2 needs Grafana 12.

import (
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/units"
)

// Selectors of the kernel-view panels: hosts whose cros_ec_spi worker kthread is
// real-time ("with the fix"), and hosts with a cros-ec-spi device but no such worker.
const (
	withFix    = `cros_ec_kernel_worker_info{` + selJob + `, thread="cros_ec_spi_high_pri", found="true", policy=~"fifo|rr|deadline"}`
	withoutFix = `cros_ec_kernel_worker_info{` + selJob + `, thread="cros_ec_spi_high_pri", policy!~"fifo|rr|deadline"}`
)

// kernelFailureRatio is the transport-failure share of the kernel's own EC
// commands on the hosts that info selects.
func kernelFailureRatio(info string) string {
	return `sum(rate(cros_ec_kernel_commands_total{` + selJob + `, class="transport"}[$__rate_interval]) and on (job, instance) ` + info + `)
/ sum(rate(cros_ec_kernel_commands_total{` + selJob + `}[$__rate_interval]) and on (job, instance) ` + info + `)`
}

// withKernelView adds the fleet's "Kernel view" row: which devices run a kernel
// with the real-time fix, and whether those without it fail more.
func withKernelView(b *dashboard.DashboardBuilder) *dashboard.DashboardBuilder {
	return b.
		WithRow(dashboard.NewRowBuilder("Kernel view")).
		WithPanel(timeSeries("cros-ec-spi devices by real-time fix", "Hosts with a cros-ec-spi EC whose kernel runs the cros_ec_spi_high_pri worker kthread at a real-time policy (the fix), and hosts whose kernel does not (CrosEcKernelWorkerNotRealTime).", units.Short).
			Min(0).
			WithTarget(query("A", `count(max by (job, instance) (`+withFix+`)) or vector(0)`, "with the fix")).
			WithTarget(query("B", `count(max by (job, instance) (`+withoutFix+`)) or vector(0)`, "without the fix"))).
		WithPanel(timeSeries("Kernel EC failure ratio, with vs without the fix", "Transport failures (negative retval: timeouts, bad checksums, bus errors) among all EC commands the kernels sent, from the cros_ec trace events, for hosts with and without the real-time worker.", units.PercentUnit).
			Min(0).Decimals(3).
			WithTarget(query("A", kernelFailureRatio(withFix), "with the fix")).
			WithTarget(query("B", kernelFailureRatio(withoutFix), "without the fix"))).
		WithPanel(delayPanel("Kernel EC command duration p99", "p99 of the kernel's EC transport calls (cros_ec_request_start to done) per command group, across the job, against the EC's 8 ms budget.").
			WithTarget(query("A", `histogram_quantile(0.99, sum by (job, command, le) (rate(cros_ec_kernel_command_duration_seconds_bucket{`+selInstance+`}[$__rate_interval])))`, "p99 {{job}} {{command}}"))).
		WithPanel(timeSeries("Kernel EC commands by result", "The kernels' EC commands per second that did not succeed, by command and result (EC_RES_* or errno).", units.Short).
			Min(0).
			WithTarget(query("A", `sum by (command, result) (rate(cros_ec_kernel_commands_total{`+selInstance+`, class!="ok"}[$__rate_interval]))`, "{{command}} {{result}}")))
}
