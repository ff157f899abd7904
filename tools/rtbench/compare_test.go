package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ec-exporter/ec_exporter/internal/testkit"
)

// TestCompareWithCyclictest runs the benchmark's comparison for a moment: real cyclictest
// beside the Go worker at the same priority and interval, then the report. It checks that
// both sides produce samples and that the report computes every ratio; it asserts no timing.
func TestCompareWithCyclictest(t *testing.T) {
	cyclictest := testkit.NeedTool(t, "cyclictest", "rt-tests")
	if os.Geteuid() != 0 {
		t.Skip("needs root for SCHED_FIFO")
	}
	dir := t.TempDir()
	cyc := filepath.Join(dir, "cyclictest.txt")
	var wg sync.WaitGroup
	var cycErr error
	var cycOut []byte
	wg.Add(1)
	go func() {
		defer wg.Done()
		cycOut, cycErr = exec.Command(cyclictest, "-m", "-p50", "-i1000", "-h2000", "-q", "-D2s").Output()
	}()
	if err := run([]string{"-policy", "fifo", "-wakeup", "1ms", "-every", "1ms", "-d", "2s", "-out", filepath.Join(dir, "fifo")}); err != nil {
		t.Fatalf("rtbench run fifo: %v", err)
	}
	if err := run([]string{"-policy", "other", "-every", "1ms", "-d", "1s", "-out", filepath.Join(dir, "other")}); err != nil {
		t.Fatalf("rtbench run other: %v", err)
	}
	wg.Wait()
	if cycErr != nil {
		t.Fatalf("cyclictest: %v", cycErr)
	}
	if err := os.WriteFile(cyc, cycOut, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{cyc, filepath.Join(dir, "fifo-wakeup.hist"), filepath.Join(dir, "fifo-every.hist"), filepath.Join(dir, "other-every.hist")} {
		s, err := readHist(f)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if s.count < 500 {
			t.Errorf("%s: %d samples, want hundreds from a 1 ms interval", filepath.Base(f), s.count)
		}
	}

	// report writes to stdout: capture it.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	rerr := report([]string{
		"-cyclictest", "cyclictest=" + cyc,
		"-wakeup", "wake=" + filepath.Join(dir, "fifo-wakeup.hist"),
		"-fifo", "fifo=" + filepath.Join(dir, "fifo-every.hist"),
		"-other", "other=" + filepath.Join(dir, "other-every.hist"),
	})
	os.Stdout = stdout
	w.Close()
	out := make([]byte, 1<<16)
	n, _ := r.Read(out)
	if rerr != nil {
		t.Fatalf("report: %v", rerr)
	}
	for _, want := range []string{"Go wake-up p99 / cyclictest p99", "SCHED_FIFO schedule delay p99", "SCHED_OTHER p99 / SCHED_FIFO p99"} {
		if !strings.Contains(string(out[:n]), want) {
			t.Errorf("report lacks %q:\n%s", want, out[:n])
		}
	}
}
