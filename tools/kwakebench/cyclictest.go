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

	"github.com/ec-exporter/ec_exporter/kthread"
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
	fmt.Fprintf(out, "cyclictest %s, measuring thread %d, trace lines %d\n", strings.Join(argv, " "), tid, tr.s.lines)
	own := measure{"cyclictest's own histogram", int(c.Count()), us(c.Quantile(0.5)), us(c.Quantile(0.99))}
	deadline, toUser := measureOf("kernel: deadline -> switch-in", tr.s.deadline), measureOf("kernel: deadline -> syscall exit to user", tr.s.toUser)
	report(out, own, []measure{deadline, toUser, measureOf("kernel: waking -> switch-in", tr.s.probeWk)}, []ratioLine{
		{"cyclictest / kernel deadline view:", deadline},
		{"cyclictest / kernel syscall exit: ", toUser},
	})
	return nil
}

// fifoThread returns the TID of pid's SCHED_FIFO thread (cyclictest's measuring thread), or 0.
func fifoThread(pid int) int {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if t, err := kthread.ParseStat(b); err == nil && t.Policy == "fifo" {
			return t.PID
		}
	}
	return 0
}
