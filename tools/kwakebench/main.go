// Command kwakebench measures the exporter's worker wake-up latency as the kernel sees
// it, beside the exporter's own cros_ec_worker_wakeup_latency_seconds over the same run.
//
// It starts `ec_exporter serve --ec.transport=sim` with its defaults, finds the worker
// thread's TID in its log, and traces that thread in a private tracefs instance
// (trace_clock mono, so event times are CLOCK_MONOTONIC like the exporter's deadlines):
// timer:hrtimer_start armed by the worker (expires = its absolute deadline),
// sched:sched_waking of the worker and sched:sched_switch to it. For every wake-up it
// records waking → switch-in (the scheduler's latency) and, for timer wake-ups at the
// wake-up probe's deadlines, expires → switch-in (the kernel's view of the overshoot
// the exporter reports as now − deadline). The exporter's histogram is scraped as
// protobuf at the start and the end of the run and its native buckets diffed.
//
// With -cyclictest it measures cyclictest the same way instead (its -h histogram against
// the kernel's view of its measuring thread): the control that says how far any user-space
// reading of the clock after the sleep lies from the kernel's events.
//
//	sudo go run ./tools/kwakebench -exporter ./ec_exporter -d 60s
//	sudo go run ./tools/kwakebench -cyclictest -d 60s
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kwakebench:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	exporter string
	duration string
	probe    string
	extra    string
	cyc      bool
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("kwakebench", flag.ContinueOnError)
	fs.StringVar(&o.exporter, "exporter", "", "path of the ec_exporter binary to measure (go build ./cmd/ec_exporter)")
	fs.StringVar(&o.duration, "d", "60s", "how long to measure")
	fs.StringVar(&o.probe, "wakeup-interval", "100ms", "the exporter's --rt.wakeup-interval (its default): deadlines rt.WakeupPhase past multiples of it are probe wake-ups")
	fs.StringVar(&o.extra, "args", "", "extra serve flags, space separated (default: none, the shipped defaults)")
	fs.BoolVar(&o.cyc, "cyclictest", false, "measure cyclictest -m -p50 at the same interval instead of the exporter (the control)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.exporter == "" && !o.cyc {
		return o, fmt.Errorf("-exporter: give the path of an ec_exporter binary (go build -o /tmp/ec_exporter ./cmd/ec_exporter)")
	}
	return o, nil
}
