// Command wakeupbench measures the exporter as shipped beside cyclictest: it scrapes the
// running ec_exporter's wake-up histogram (native buckets, protobuf), runs cyclictest for the
// same time, scrapes again (and every -scrape-every meanwhile, like a Prometheus would), and
// prints both distributions side by side. scripts/bench-wakeup.sh starts the exporter and the
// load around it.
//
//	wakeupbench -url http://127.0.0.1:10236/metrics -case cpu/confined -- cyclictest -m -p50 -i1000 -h20000 -q -D60s
//	wakeupbench trace <tracefs trace of the worker thread>   # where each wake-up's time goes
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ec-exporter/ec_exporter/tools/internal/latency"
	dto "github.com/prometheus/client_model/go"
)

func main() {
	do := run
	if len(os.Args) > 1 && os.Args[1] == "trace" {
		do = traceReport
		os.Args = os.Args[1:]
	}
	if err := do(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wakeupbench:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("wakeupbench", flag.ContinueOnError)
	url := fs.String("url", "http://127.0.0.1:10236/metrics", "the exporter's /metrics")
	metric := fs.String("metric", "cros_ec_worker_wakeup_latency_seconds", "native histogram to read")
	rtMetric := fs.String("runtime-metric", "cros_ec_worker_runtime_delay_seconds", "native histogram of the Go runtime's share, reported below (\"\" = none; builds before it have none)")
	every := fs.Duration("scrape-every", 5*time.Second, "scrape this often during the run, as a Prometheus would (0 = only before and after)")
	name := fs.String("case", "", "label of this run in the report")
	save := fs.String("save", "", "write cyclictest's output to this file too")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cmd := fs.Args()
	if len(cmd) == 0 {
		return fmt.Errorf("no cyclictest command after the flags: add -- cyclictest -m -p50 -i1000 -h20000 -q -D60s")
	}
	if !strings.Contains(strings.Join(cmd, " "), "-h") {
		return fmt.Errorf("the cyclictest command lacks -h<N>: its histogram is what is compared")
	}
	before, err := latency.Scrape(*url, *metric)
	if err != nil {
		return err
	}
	var rtBefore *dto.Histogram
	if *rtMetric != "" {
		if rtBefore, err = latency.Scrape(*url, *rtMetric); err != nil {
			fmt.Fprintf(out, "# %v: the runtime's share is not reported\n", err)
			*rtMetric = ""
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	scrapes := make(chan error, 1)
	go func() { scrapes <- scrapeEvery(ctx, *url, *metric, *every) }()
	cyc, err := exec.Command(cmd[0], cmd[1:]...).Output()
	cancel()
	if err != nil {
		return fmt.Errorf("run %s: %w", strings.Join(cmd, " "), err)
	}
	if err := <-scrapes; err != nil {
		return err
	}
	after, err := latency.Scrape(*url, *metric)
	if err != nil {
		return err
	}
	var rt *latency.Dist
	if *rtMetric != "" {
		rtAfter, err := latency.Scrape(*url, *rtMetric)
		if err != nil {
			return err
		}
		d, err := latency.NativeDelta(rtBefore, rtAfter)
		if err != nil {
			return fmt.Errorf("%s: %w", *rtMetric, err)
		}
		rt = &d
	}
	if *save != "" {
		if err := os.WriteFile(*save, cyc, 0o644); err != nil {
			return err
		}
	}
	c, err := latency.ParseCyclictest(strings.NewReader(string(cyc)))
	if err != nil {
		return err
	}
	e, err := latency.NativeDelta(before, after)
	if err != nil {
		return fmt.Errorf("%s: %w", *metric, err)
	}
	if e.Count() == 0 {
		return fmt.Errorf("%s did not grow during the run: start the exporter with --rt.wakeup-interval=1ms", *metric)
	}
	return report(out, *name, strings.Join(cmd, " "), c, e, rt)
}

func scrapeEvery(ctx context.Context, url, metric string, every time.Duration) error {
	if every <= 0 {
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := latency.Scrape(url, metric); err != nil {
				return err
			}
		}
	}
}
