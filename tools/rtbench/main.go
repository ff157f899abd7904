// Command rtbench measures the rt worker beside cyclictest: wake-up latency (cyclictest's measure),
// the schedule delay of periodic jobs (Every) and of submitted jobs (Submit), and, for the design
// decision in rt/doc.go, two alternatives: a bare clock_nanosleep loop and a channel-woken worker.
//
//	rtbench run -mode worker -policy fifo -wakeup 1ms -every 1ms -d 60s -out /tmp/x/fifo
//	rtbench report -cyclictest cyc=cyc.txt -wakeup wake=fifo-wakeup.hist -fifo fifo=fifo-every.hist -other other=other-every.hist
//
// Histograms are written in cyclictest's -h format (1 µs buckets), so report reads both alike.
// scripts/rtbench.sh runs the whole comparison under load.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rtbench run|report [flags] (rtbench run -h for flags)")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "report":
		err = report(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: use run or report", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtbench:", err)
		os.Exit(1)
	}
}
