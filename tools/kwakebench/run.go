package main

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ec-exporter/ec_exporter/tools/internal/latency"
	"github.com/ec-exporter/ec_exporter/tracefs"
)

// run measures once and prints the comparison.
func run(args []string, out io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	d, err := time.ParseDuration(o.duration)
	if err != nil || d <= 0 {
		return fmt.Errorf("-d %q: want a positive duration such as 60s", o.duration)
	}
	probe, err := time.ParseDuration(o.probe)
	if err != nil || probe <= 0 {
		return fmt.Errorf("-wakeup-interval %q: want the exporter's --rt.wakeup-interval, e.g. 100ms", o.probe)
	}
	root, unmount, err := tracefs.MountPoint()
	if err != nil {
		return err
	}
	defer unmount()
	if o.cyc {
		return runCyclictest(root, d, probe, out)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	argv := append([]string{"serve", "--ec.transport=sim", "--web.listen-address=" + addr}, strings.Fields(o.extra)...)
	var logs lockedBuffer
	cmd := exec.Command(o.exporter, argv...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", o.exporter, err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var tid int
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var ok bool
		if tid, ok = workerTID(logs.String()); ok {
			if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
				resp.Body.Close()
				break
			}
		}
		if time.Now().After(end) {
			return fmt.Errorf("exporter not serving with a worker TID in its log within 20s:\n%s", logs.String())
		}
	}
	tr, err := startTrace(root, tid, probe)
	if err != nil {
		return err
	}
	const metric = "cros_ec_worker_wakeup_latency_seconds"
	url := "http://" + addr + "/metrics"
	before, err := latency.Scrape(url, metric)
	if err != nil {
		tr.stop()
		return err
	}
	time.Sleep(d)
	after, err := latency.Scrape(url, metric)
	if err2 := tr.stop(); err == nil {
		err = err2
	}
	if err != nil {
		return err
	}
	exp, err := latency.NativeDelta(before, after)
	if err != nil {
		return fmt.Errorf("%s: %w", metric, err)
	}
	tr.s.mu.Lock()
	defer tr.s.mu.Unlock()
	fmt.Fprintf(out, "ec_exporter %s, worker TID %d, %v, trace lines %d\n", strings.Join(argv, " "), tid, d, tr.s.lines)
	own := measure{"exporter cros_ec_worker_wakeup_latency", int(exp.Count()), us(exp.Quantile(0.5)), us(exp.Quantile(0.99))}
	deadline, final := measureOf("kernel: deadline -> switch-in (probe wakes)", tr.s.deadline), measureOf("kernel: deadline -> last switch-in before sleep", tr.s.final)
	toUser, probeWk := measureOf("kernel: deadline -> syscall exit to user", tr.s.toUser), measureOf("kernel: waking -> switch-in (probe wakes)", tr.s.probeWk)
	report(out, own, []measure{deadline, final, toUser, probeWk, measureOf("kernel: waking -> switch-in (all wakes)", tr.s.wake)}, []ratioLine{
		{"exporter / kernel deadline view:", deadline},
		{"exporter / kernel last switch-in:", final},
		{"exporter / kernel syscall exit: ", toUser},
		{"exporter / kernel waking view:  ", probeWk},
	})
	return nil
}

// measure is one row of the report: a distribution's sample count, p50 and p99.
type measure struct {
	name     string
	n        int
	p50, p99 time.Duration
}

// measureOf summarises one of the kernel's sample lists (sorted in place).
func measureOf(name string, d []time.Duration) measure {
	return measure{name, len(d), q(d, 0.5), q(d, 0.99)}
}

// ratioLine names the kernel measure the thread's own figure is divided by.
type ratioLine struct {
	label  string
	kernel measure
}

// report prints the thread's own measure and the kernel's, then own ÷ kernel at p50 and p99.
func report(out io.Writer, own measure, kernel []measure, ratios []ratioLine) {
	fmt.Fprintf(out, "%-48s %8s %10s %10s\n", "measure", "samples", "p50", "p99")
	for _, m := range append([]measure{own}, kernel...) {
		fmt.Fprintf(out, "%-48s %8d %10s %10s\n", m.name, m.n, fmtDur(m.p50), fmtDur(m.p99))
	}
	ratio := func(a, b time.Duration) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", float64(a)/float64(b))
	}
	for _, r := range ratios {
		fmt.Fprintf(out, "%s p50 %s, p99 %s\n", r.label, ratio(own.p50, r.kernel.p50), ratio(own.p99, r.kernel.p99))
	}
}

// q is the nearest-rank quantile of s (sorted in place).
func q(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return s[i]
}

// us converts a latency.Dist value (µs) to a duration; NaN (no samples) is 0.
func us(v float64) time.Duration {
	if math.IsNaN(v) {
		return 0
	}
	return time.Duration(v * float64(time.Microsecond))
}

func fmtDur(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/1e3) }

// lockedBuffer collects the exporter's output from its two pipes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
