package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ec-exporter/ec_exporter/tools/internal/latency"
)

// runCyclictest is the control: cyclictest at the exporter's priority and probe interval,
// its measuring thread traced like the exporter's worker, its own histogram beside the
// kernel's view. Every timer wake-up of that thread is one of its measurements.
func runCyclictest(root string, d, interval time.Duration, out io.Writer) error {
	argv := []string{"-m", "-p50", "-t1", "-q", "-h20000",
		"-i" + strconv.FormatInt(interval.Microseconds(), 10), "-D" + strconv.Itoa(int(d.Seconds())+2)}
	cmd := exec.Command("cyclictest", argv...)
	var res bytes.Buffer
	cmd.Stdout = &res
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start cyclictest (rt-tests): %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var tid int
	for end := time.Now().Add(5 * time.Second); tid == 0; time.Sleep(20 * time.Millisecond) {
		tid = fifoThread(cmd.Process.Pid)
		if tid == 0 && time.Now().After(end) {
			return fmt.Errorf("cyclictest has no SCHED_FIFO thread after 5s (not root?)")
		}
	}
	tr, err := startTrace(root, tid, 0)
	if err != nil {
		return err
	}
	werr := cmd.Wait()
	if err := tr.stop(); err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("cyclictest %s: %w", strings.Join(argv, " "), werr)
	}
	c, err := latency.ParseCyclictest(&res)
	if err != nil {
		return err
	}
	tr.s.mu.Lock()
	defer tr.s.mu.Unlock()
	us := func(v float64) time.Duration { return time.Duration(v * float64(time.Microsecond)) }
	fmt.Fprintf(out, "cyclictest %s, measuring thread %d, trace lines %d\n", strings.Join(argv, " "), tid, tr.s.lines)
	fmt.Fprintf(out, "%-48s %8s %10s %10s\n", "measure", "samples", "p50", "p99")
	row := func(name string, n int, p50, p99 time.Duration) {
		fmt.Fprintf(out, "%-48s %8d %10s %10s\n", name, n, fmtDur(p50), fmtDur(p99))
	}
	p50, p99 := us(c.Quantile(0.5)), us(c.Quantile(0.99))
	row("cyclictest's own histogram", int(c.Count()), p50, p99)
	row("kernel: deadline -> switch-in", len(tr.s.deadline), q(tr.s.deadline, 0.5), q(tr.s.deadline, 0.99))
	row("kernel: deadline -> syscall exit to user", len(tr.s.toUser), q(tr.s.toUser, 0.5), q(tr.s.toUser, 0.99))
	row("kernel: waking -> switch-in", len(tr.s.probeWk), q(tr.s.probeWk, 0.5), q(tr.s.probeWk, 0.99))
	ratio := func(a, b time.Duration) string {
		if b == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", float64(a)/float64(b))
	}
	fmt.Fprintf(out, "cyclictest / kernel deadline view: p50 %s, p99 %s\n", ratio(p50, q(tr.s.deadline, 0.5)), ratio(p99, q(tr.s.deadline, 0.99)))
	fmt.Fprintf(out, "cyclictest / kernel syscall exit:  p50 %s, p99 %s\n", ratio(p50, q(tr.s.toUser, 0.5)), ratio(p99, q(tr.s.toUser, 0.99)))
	return nil
}

// fifoThread returns the TID of pid's SCHED_FIFO thread (cyclictest's measuring thread), or 0.
func fifoThread(pid int) int {
	ents, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 38 && f[38] == "1" { // field 41, policy: SCHED_FIFO
			tid, _ := strconv.Atoi(e.Name())
			return tid
		}
	}
	return 0
}
