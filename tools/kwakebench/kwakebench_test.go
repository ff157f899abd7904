package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"github.com/ec-exporter/ec_exporter/tracefs"
)

// TestTraceMatching feeds the tracer kernel-format lines of one probe wake-up
// (deadline 5.100500 s, on the probe's phase), a second switch-in (the thread blocked and ran again)
// and a futex wake that is not a probe, and checks each measure.
func TestTraceMatching(t *testing.T) {
	tr := &tracer{tid: 42, probe: int64(100 * time.Millisecond)}
	for _, l := range []string{
		"       ec-worker-42      [000] .....     5.000020: hrtimer_start: hrtimer=00000000a1b2c3d4 function=hrtimer_wakeup expires=5100500000 softexpires=5100500000 mode=ABS",
		"          <idle>-0       [000] d.h1.     5.100512: sched_waking: comm=ec-worker pid=42 prio=49 target_cpu=000",
		"          <idle>-0       [000] d..2.     5.100530: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=ec-worker next_pid=42 next_prio=49",
		"       ec-worker-42      [000] d..2.     5.100531: sched_switch: prev_comm=ec-worker prev_pid=42 prev_prio=49 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120",
		"            sysmon-7     [001] d..2.     5.100540: sched_waking: comm=ec-worker pid=42 prio=49 target_cpu=000",
		"          <idle>-0       [000] d..2.     5.100550: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=ec-worker next_pid=42 next_prio=49",
		"       ec-worker-42      [000] .....     5.100560: sys_exit: NR 202 = 0",
		"       ec-worker-42      [000] .....     5.100570: sys_exit: NR 1 = 0",
		"       ec-worker-42      [000] .....     5.100600: hrtimer_start: hrtimer=00000000a1b2c3d4 function=hrtimer_wakeup expires=5123456789 softexpires=5123456789 mode=ABS",
		"            other-9      [001] d..2.     5.110500: sched_waking: comm=ec-worker pid=42 prio=49 target_cpu=000",
		"          <idle>-0       [000] d..2.     5.110505: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=ec-worker next_pid=42 next_prio=49",
		"          <idle>-0       [000] d..2.     5.110506: sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=other next_pid=9 next_prio=120",
	} {
		tr.handle([]byte(l))
	}
	us := func(n int) time.Duration { return time.Duration(n) * time.Microsecond }
	check := func(name string, got, want []time.Duration) {
		if len(got) != len(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
	}
	check("deadline", tr.s.deadline, []time.Duration{us(30)})
	check("final", tr.s.final, []time.Duration{us(50)})
	check("to user", tr.s.toUser, []time.Duration{us(60)})
	check("probe waking", tr.s.probeWk, []time.Duration{us(18)})
	check("all waking", tr.s.wake, []time.Duration{us(18), us(10), us(5)})
}

func TestWorkerTID(t *testing.T) {
	log := `time=2026-12-01T05:50:16.770Z level=INFO source=serve.go:151 msg="EC worker thread" policy=fifo priority=50 nice=0 cpus=1 memory_locked=true tid=11914`
	if tid, ok := workerTID(log); !ok || tid != 11914 {
		t.Fatalf("workerTID = %d %v", tid, ok)
	}
	if _, ok := workerTID("level=INFO msg=other tid=1"); ok {
		t.Fatal("TID from another line")
	}
	if _, err := parse(nil); err == nil {
		t.Fatal("no error without -exporter")
	}
}

// TestShortRun measures the real exporter for two seconds on this machine's
// tracefs and checks that every measure has samples (it asserts no timing).
func TestShortRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the exporter")
	}
	needTracefsRoot(t)
	bin := filepath.Join(t.TempDir(), "ec_exporter")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ec_exporter")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var out bytes.Buffer
	// Shipped defaults: the confined worker goes to the CPU with the fewest device interrupts. (On
	// this VM the kernel records no sched_switch out of an idle CPU 1, the busy one, where an
	// unconfined worker also wakes at times: docs/benchmarks.md §6.)
	if err := run([]string{"-exporter", bin, "-d", "2s"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	re := regexp.MustCompile(`(?m)^(exporter|kernel)[^\n]*?\s(\d+)\s+\S+µs\s+\S+µs$`)
	rows := re.FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 6 {
		t.Fatalf("%d measure rows, want 6:\n%s", len(rows), out.String())
	}
	// The exporter reports ~10 probe wake-ups a second; the kernel side must have matched
	// at least one of each kind (a smoke test: a shared machine can make the trace sparse).
	for _, r := range rows {
		min := 1
		if r[1] == "exporter" {
			min = 5
		}
		if n, _ := strconv.Atoi(r[2]); n < min {
			t.Errorf("too few samples (%d, want %d) in %q", n, min, strings.TrimSpace(r[0]))
		}
	}
}

// TestCyclictestControl runs the control for two seconds: cyclictest at a 10 ms interval, its
// thread traced; its own histogram and the kernel's views must all have samples.
func TestCyclictestControl(t *testing.T) {
	testkit.NeedTool(t, "cyclictest", "rt-tests")
	needTracefsRoot(t)
	var out bytes.Buffer
	if err := run([]string{"-cyclictest", "-d", "2s", "-wakeup-interval", "10ms"}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	re := regexp.MustCompile(`(?m)^(cyclictest|kernel)[^\n]*?\s(\d+)\s+\S+µs\s+\S+µs$`)
	rows := re.FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 4 {
		t.Fatalf("%d measure rows, want 4:\n%s", len(rows), out.String())
	}
	for _, r := range rows {
		if n, _ := strconv.Atoi(r[2]); n < 20 {
			t.Errorf("too few samples (%d, want ≥ 20 of ~400) in %q", n, strings.TrimSpace(r[0]))
		}
	}
	if !strings.Contains(out.String(), "cyclictest / kernel syscall exit:") {
		t.Errorf("no ratio line:\n%s", out.String())
	}
}

// needTracefsRoot skips without root and tracefs, except under CI=true where it fails.
func needTracefsRoot(t *testing.T) {
	t.Helper()
	if _, cleanup, err := tracefs.MountPoint(); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tracefs and root are required under CI=true: %v (euid %d)", err, os.Geteuid())
		}
		t.Skipf("needs root and tracefs: %v", err)
	} else {
		cleanup()
	}
}
