package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// report prints a markdown table of histograms given as label=file, and the target ratios.
func report(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	cyc := fs.String("cyclictest", "", "label=file of cyclictest -h output")
	wake := fs.String("wakeup", "", "label=file of the Go worker's wake-up histogram")
	fifo := fs.String("fifo", "", "label=file of the SCHED_FIFO worker's schedule delay")
	other := fs.String("other", "", "label=file of the SCHED_OTHER worker's schedule delay")
	title := fs.String("title", "", "heading printed above the table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	type row struct {
		label string
		s     summary
	}
	var rows []row
	byRole := map[string]summary{}
	add := func(role, spec string) error {
		if spec == "" {
			return nil
		}
		i := strings.LastIndex(spec, "=")
		label, path, ok := spec[:max(i, 0)], spec[i+1:], i > 0
		if !ok {
			return fmt.Errorf("%q: want label=file", spec)
		}
		s, err := readHist(path)
		if err != nil {
			return err
		}
		rows = append(rows, row{label, s})
		if role != "" {
			byRole[role] = s
		}
		return nil
	}
	for _, r := range []struct{ role, spec string }{{"cyc", *cyc}, {"wake", *wake}, {"fifo", *fifo}, {"other", *other}} {
		if err := add(r.role, r.spec); err != nil {
			return err
		}
	}
	for _, spec := range fs.Args() {
		if err := add("", spec); err != nil {
			return err
		}
	}
	w := os.Stdout
	if *title != "" {
		fmt.Fprintf(w, "%s\n\n", *title)
	}
	fmt.Fprintln(w, "| measure | samples | p50 µs | p99 µs | p99.9 µs | max µs | >100 ms |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %.0f | %.0f | %d |\n", r.label, r.s.count, r.s.p50, r.s.p99, r.s.p999, r.s.max, r.s.overflows)
	}
	fmt.Fprintln(w)
	if c, ok := byRole["cyc"]; ok {
		if g, ok := byRole["wake"]; ok {
			fmt.Fprintf(w, "- Go wake-up p99 / cyclictest p99 = %.0f / %.0f = **%s** (target ≤ 1.2: %s)\n", g.p99, c.p99, ratio(g.p99, c.p99), verdict(g.p99 <= 1.2*c.p99))
		}
	}
	if f, ok := byRole["fifo"]; ok {
		fmt.Fprintf(w, "- SCHED_FIFO schedule delay p99 = **%.0f µs** (target ≤ 100 µs: %s)\n", f.p99, verdict(f.p99 <= 100))
		if o, ok := byRole["other"]; ok {
			fmt.Fprintf(w, "- SCHED_OTHER p99 / SCHED_FIFO p99 = %.0f / %.0f = **%s** (target ≥ 10: %s)\n", o.p99, f.p99, ratio(o.p99, f.p99), verdict(o.p99 >= 10*f.p99))
		}
	}
	return nil
}

// ratio formats a/b; bucket values are lower bounds, so a 0 µs denominator is shown as "<1 µs".
func ratio(a, b float64) string {
	if b == 0 {
		return fmt.Sprintf("%.0f / <1 µs", a)
	}
	return fmt.Sprintf("%.2f", a/b)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
