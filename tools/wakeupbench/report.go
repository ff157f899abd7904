package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/ec-exporter/ec_exporter/tools/internal/latency"
)

// thresholds are the tail shares reported, in µs.
var thresholds = []float64{20, 50, 100}

// report prints cyclictest and the exporter side by side, then the exporter/cyclictest ratios,
// then (rt non-nil) the Go runtime's share of the worker's returns from sleep: the time from the
// thread back in user space, where the wake-up is read, to the worker's Go code running.
func report(out io.Writer, name, cmd string, cyc, exp latency.Dist, rt *latency.Dist) error {
	fmt.Fprintf(out, "## %s\n# %s; exporter: native histogram delta (schema 3, buckets 9%% wide, interpolated; max = top of the highest bucket)\n", name, cmd)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\twake-ups\tp50 µs\tp99 µs\tp99.9 µs\tmax µs\t")
	for _, x := range thresholds {
		fmt.Fprintf(tw, ">%g µs\t", x)
	}
	fmt.Fprintln(tw)
	row := func(label string, d latency.Dist) {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.0f\t", label, d.Count(), d.Quantile(0.5), d.Quantile(0.99), d.Quantile(0.999), d.Max)
		for _, x := range thresholds {
			fmt.Fprintf(tw, "%.3f %%\t", 100*d.ShareAbove(x))
		}
		fmt.Fprintln(tw)
	}
	row("cyclictest", cyc)
	row("exporter", exp)
	fmt.Fprintf(tw, "exporter/cyclictest\t\t%s\t%s\t%s\t%s\t", ratio(exp.Quantile(0.5), cyc.Quantile(0.5)),
		ratio(exp.Quantile(0.99), cyc.Quantile(0.99)), ratio(exp.Quantile(0.999), cyc.Quantile(0.999)), ratio(exp.Max, cyc.Max))
	for _, x := range thresholds {
		fmt.Fprintf(tw, "%s\t", ratio(exp.ShareAbove(x), cyc.ShareAbove(x)))
	}
	fmt.Fprintln(tw)
	if rt != nil {
		row("exporter, runtime share (every return)", *rt)
	}
	return tw.Flush()
}

func ratio(a, b float64) string {
	switch {
	case math.IsNaN(a) || math.IsNaN(b):
		return "-"
	case b == 0 && a == 0:
		return "0/0"
	case b == 0:
		return "inf"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
