package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ec-exporter/ec_exporter/rt"
)

// wakeup is one timed-out futex wait of the worker, from the tracefs events (seconds, CLOCK_MONOTONIC).
type wakeup struct {
	deadline, waking, onCPU, sysExit, goResumed float64
	lostP, noP                                  bool
}

var traceLine = regexp.MustCompile(`^\s*(.+)-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+): (\w+): (.*)$`)

// parseTrace reads a tracefs trace (trace_clock mono) of one worker thread: sched_waking,
// sched_switch, raw_syscalls sys_enter/sys_exit, and the uprobes scripts/bench-wakeup.sh sets on
// the Go runtime (exitent/exitret on runtime.exitsyscall, trygetp on exitsyscallTryGetP, nop on
// exitsyscallNoP). Each futex wait that timed out (-110) is one wake-up; its deadline is the
// last whole millisecond plus rt.WakeupPhase before the timer fired (the probe's deadlines), so
// run the exporter with --rt.wakeup-interval=1ms: the rare HELLO deadline is off the grid.
func parseTrace(r io.Reader) ([]wakeup, error) {
	var out []wakeup
	var lastWaking, lastSwitch float64
	var cur *wakeup
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m := traceLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ts, err := strconv.ParseFloat(m[4], 64)
		if err != nil {
			continue
		}
		name, rest := m[5], m[6]
		switch {
		case name == "sched_waking":
			lastWaking = ts
		case name == "sched_switch":
			if _, next, ok := strings.Cut(rest, "==> "); ok && strings.Contains(next, "next_pid="+m[2]) || strings.Contains(rest, "next_prio=49") && strings.Contains(rest, "==> next_comm=ec-worker") {
				lastSwitch = ts
			}
		case (name == "sys_exit" || name == "sys_enter") && (strings.HasPrefix(rest, "NR 335 ") || strings.HasPrefix(rest, "NR -1 ")):
			// the kernel's uretprobe trampoline syscall: not the worker's
		case name == "sys_exit" && strings.HasPrefix(rest, "NR 202 = -110"):
			cur = nil
			if lastWaking == 0 {
				continue
			}
			w := wakeup{waking: lastWaking, onCPU: lastSwitch, sysExit: ts}
			if lastSwitch < lastWaking {
				w.onCPU = ts // woken on an idle CPU: no switch event for it here
			}
			phase := rt.WakeupPhase.Seconds()
			w.deadline = math.Floor((lastWaking-phase)*1000)/1000 + phase
			cur = &w
		case cur == nil:
		case name == "trygetp":
			cur.lostP = true
		case name == "nop":
			cur.noP = true
		case name == "exitret":
			cur.goResumed = ts
			out = append(out, *cur)
			cur = nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no timed-out futex wait followed by an exitsyscall return: record sched_waking, sched_switch, raw_syscalls and the exitsyscall uprobes (TRACE=1 scripts/bench-wakeup.sh)")
	}
	return out, nil
}

// stages names the parts of one wake-up, in order, and how to get each in µs.
var stages = []struct {
	name string
	of   func(w wakeup) float64
}{
	{"deadline → sched_waking (timer)", func(w wakeup) float64 { return w.waking - w.deadline }},
	{"sched_waking → on CPU (kernel scheduling)", func(w wakeup) float64 { return w.onCPU - w.waking }},
	{"on CPU → sys_exit (kernel return)", func(w wakeup) float64 { return w.sysExit - w.onCPU }},
	{"sys_exit → exitsyscall returned (Go)", func(w wakeup) float64 { return w.goResumed - w.sysExit }},
	{"deadline → Go code runs (total)", func(w wakeup) float64 { return w.goResumed - w.deadline }},
}

// traceReport prints each stage's distribution, for all wake-ups and split by whether the
// worker's P was taken while it slept, and what each stage contributes to the late ones.
func traceReport(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("trace", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: wakeupbench trace <tracefs trace file>")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	ws, err := parseTrace(f)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	var kept, lost []wakeup
	for _, w := range ws {
		if w.lostP {
			lost = append(lost, w)
		} else {
			kept = append(kept, w)
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, g := range []struct {
		name string
		ws   []wakeup
	}{{"all", ws}, {"P kept", kept}, {"P taken by sysmon while asleep", lost}} {
		if len(g.ws) == 0 {
			continue
		}
		noP := 0
		for _, w := range g.ws {
			if w.noP {
				noP++
			}
		}
		fmt.Fprintf(tw, "%s: %d wake-ups (%.1f %%), %d found no idle P\tp50 µs\tp99 µs\tp99.9 µs\tmax µs\tmean µs\tmean of >50 µs\t\n",
			g.name, len(g.ws), 100*float64(len(g.ws))/float64(len(ws)), noP)
		total := stages[len(stages)-1].of
		for _, s := range stages {
			v := make([]float64, len(g.ws))
			var sum, lateSum float64
			late := 0
			for i, w := range g.ws {
				v[i] = s.of(w) * 1e6
				sum += v[i]
				if total(w)*1e6 > 50 {
					lateSum += v[i]
					late++
				}
			}
			slices.Sort(v)
			q := func(p float64) float64 { return v[min(len(v)-1, int(p*float64(len(v))))] }
			lateMean := "-"
			if late > 0 {
				lateMean = fmt.Sprintf("%.1f", lateSum/float64(late))
			}
			fmt.Fprintf(tw, "  %s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t\n", s.name, q(0.5), q(0.99), q(0.999), v[len(v)-1], sum/float64(len(v)), lateMean)
		}
	}
	return tw.Flush()
}
