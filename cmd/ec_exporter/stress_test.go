package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ec/ectest"
	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"github.com/ec-exporter/ec_exporter/rt"
)

// stressMainEnv makes the test binary run main() (the real CLI) instead of the
// tests, so a test can run `ec_exporter stress` as a process and signal it.
const stressMainEnv = "EC_EXPORTER_STRESS_TEST_MAIN"

func init() {
	if os.Getenv(stressMainEnv) == "1" {
		main()
		os.Exit(0)
	}
}

// parseStress parses a stress command line with the real CLI (defaults included).
func parseStress(t *testing.T, args ...string) *StressCmd {
	t.Helper()
	return &mustParse(t, append([]string{"stress"}, args...)...).Stress
}

func stressQuietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestStressPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--duration=0s"}, "--duration must be positive"},
		{[]string{"--policies=fifo,deadline"}, "unknown scheduling policy"},
		{[]string{"--load=cpu,disk"}, "unknown load"},
		{[]string{"--rate=fast"}, "--rate"},
		{[]string{"--rate=0/s"}, "--rate"},
		{[]string{"--max-failure-ratio=2"}, "between 0 and 1"},
		{[]string{"--version-every=-1"}, "--version-every"},
		{[]string{"--load.io-size=1000"}, "at least 1 MiB"},
	} {
		c := parseStress(t, tc.args...)
		_, err := c.plan()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
	c := parseStress(t, "--rate=250/s", "--load=none", "--policies=other,FIFO,rr,highpri")
	p, err := c.plan()
	if err != nil {
		t.Fatal(err)
	}
	if p.interval != 4*time.Millisecond || p.rate != "250/s" || p.cpu || p.io || len(p.policies) != 4 || p.policies[1].policy != rt.FIFO ||
		p.policies[3] != (stressPolicy{policy: rt.Other, highpri: true}) || p.policies[3].String() != "highpri" {
		t.Errorf("plan = %+v", p)
	}
	if p, _ := parseStress(t).plan(); p.interval != 0 || p.rate != "max" || !p.cpu || !p.io || len(p.policies) != 2 || p.policies[1].policy != rt.FIFO {
		t.Errorf("default plan = %+v, want max rate, cpu+io, other then fifo", p)
	}
}

// errCause is an error with a fixed cause.
type errCause ec.Cause

func (e errCause) Error() string   { return ec.Cause(e).String() }
func (e errCause) Cause() ec.Cause { return ec.Cause(e) }

func TestPolicyReportMatchesCounters(t *testing.T) {
	st := &policyStats{}
	causes := []error{nil, nil, errCause(ec.CauseTimeout), nil, errCause(ec.CauseChecksum), errCause(ec.CauseTimeout), errors.New("plain"), nil}
	for i, err := range causes {
		cmd := stressHello
		if i%4 == 3 {
			cmd = stressVersion
		}
		st.record(cmd, time.Duration(i+1)*time.Microsecond, time.Duration(i+1)*time.Millisecond, i%2, err)
	}
	p := newPolicyReport(rt.FIFO, rt.Obtained{Policy: rt.FIFO, Priority: 50, RealTime: true, CPUs: []int{0, 1}}, 7, time.Second, st, nil)
	if p.Transfers != 8 || p.Successes != 4 || p.Failures != 4 || p.Retries != 4 || p.Dropped != 7 {
		t.Errorf("report %+v", p)
	}
	want := map[string]uint64{"timeout": 2, "checksum": 1, "io": 1, "bad_response": 0, "ec_result": 0, "not_ready": 0, "busy": 0}
	for k, v := range want {
		if p.FailuresByCause[k] != v {
			t.Errorf("cause %s = %d, want %d", k, p.FailuresByCause[k], v)
		}
	}
	if len(p.FailuresByCause) != len(ec.Causes) {
		t.Errorf("%d causes reported, want all %d", len(p.FailuresByCause), len(ec.Causes))
	}
	if p.Commands["hello"] != (commandReport{6, 4}) || p.Commands["get_version"] != (commandReport{2, 0}) {
		t.Errorf("commands %+v", p.Commands)
	}
	if p.FailureRatio != 0.5 || p.Worker.CPUs != "0-1" || p.ScheduleDelay.Max != 8e-6 || p.TransferLatency.Count != 8 {
		t.Errorf("report %+v", p)
	}
}

func TestStressJobAllocatesNothing(t *testing.T) {
	st := &policyStats{}
	var stop atomic.Bool
	dev, _ := ectest.Device("nop")
	j := &stressJob{dev: dev, cmds: stressTable(), st: st, versionEvery: 0, stop: &stop}
	s := rt.Stamps{Intended: time.Now(), Started: time.Now()}
	if n := testing.AllocsPerRun(1000, func() { j.Run(s) }); n != 0 {
		t.Fatalf("stress job allocates %v times per HELLO", n)
	}
}

// checkBookkeeping checks the invariants of a report.
func checkBookkeeping(t *testing.T, r *stressReport) {
	t.Helper()
	for _, p := range r.Policies {
		var byCause, cmds, cmdFails uint64
		for _, v := range p.FailuresByCause {
			byCause += v
		}
		for _, c := range p.Commands {
			cmds += c.Transfers
			cmdFails += c.Failures
		}
		switch {
		case p.Transfers == 0:
			t.Errorf("%s: no transfers", p.Policy)
		case p.Transfers != p.Successes+p.Failures:
			t.Errorf("%s: transfers %d != successes %d + failures %d", p.Policy, p.Transfers, p.Successes, p.Failures)
		case byCause != p.Failures:
			t.Errorf("%s: failures by cause sum to %d, failures %d", p.Policy, byCause, p.Failures)
		case cmds != p.Transfers || cmdFails != p.Failures:
			t.Errorf("%s: commands %d/%d failures, want %d/%d", p.Policy, cmds, cmdFails, p.Transfers, p.Failures)
		case p.ScheduleDelay.Count != p.Transfers || p.TransferLatency.Count != p.Transfers:
			t.Errorf("%s: latency counts %d/%d, want %d", p.Policy, p.ScheduleDelay.Count, p.TransferLatency.Count, p.Transfers)
		case len(p.FailuresByCause) != len(ec.Causes):
			t.Errorf("%s: %d causes, want %d", p.Policy, len(p.FailuresByCause), len(ec.Causes))
		}
		if p.Transfers > 0 && p.FailureRatio != float64(p.Failures)/float64(p.Transfers) {
			t.Errorf("%s: ratio %v", p.Policy, p.FailureRatio)
		}
		if !(p.ScheduleDelay.P50 <= p.ScheduleDelay.P99 && p.ScheduleDelay.P99 <= p.ScheduleDelay.P999 && p.ScheduleDelay.P999 <= p.ScheduleDelay.Max) ||
			!(p.TransferLatency.P50 <= p.TransferLatency.P99 && p.TransferLatency.P99 <= p.TransferLatency.Max) {
			t.Errorf("%s: percentiles out of order: %+v %+v", p.Policy, p.ScheduleDelay, p.TransferLatency)
		}
	}
}

// tableCells parses the table into row name → cells.
func tableCells(t *testing.T, table string) map[string][]string {
	t.Helper()
	rows := map[string][]string{}
	for _, l := range strings.Split(table, "\n") {
		for _, name := range []string{"policy", "transfers", "successes", "failures", "failure ratio", "retries"} {
			if rest, ok := strings.CutPrefix(l, name+" "); ok {
				rows[name] = strings.Fields(rest)
			}
		}
		for _, c := range ec.Causes {
			if rest, ok := strings.CutPrefix(l, "  "+c.String()+" "); ok {
				rows[c.String()] = strings.Fields(rest)
			}
		}
	}
	return rows
}

// TestStressShortRun runs the whole experiment briefly on the simulated EC with
// both loads and checks structure and bookkeeping, never timing.
func TestStressShortRun(t *testing.T) {
	dir := t.TempDir()
	goroutines := runtime.NumGoroutine()
	c := parseStress(t, "--ec.transport=sim", "--duration=1500ms", "--settle=100ms", "--policies=other,fifo",
		"--load=cpu,io", "--load.io-path="+dir, "--load.io-size=4194304", "--version-every=3", "--json", "--no-rt.mlock")
	var out bytes.Buffer
	if err := c.run(context.Background(), stressQuietLogger(), &out, nil); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	var r stressReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	if len(r.Policies) != 2 || r.Policies[0].Policy != "other" || r.Policies[1].Policy != "fifo" {
		t.Fatalf("policies %+v", r.Policies)
	}
	if r.Interrupted || r.Sim == nil || r.Sim.Clock != 3000000 || r.Rate != "max" || strings.Join(r.Load, ",") != "cpu,io" {
		t.Errorf("header %+v", r)
	}
	checkBookkeeping(t, &r)
	for _, p := range r.Policies {
		if p.Started.IsZero() || p.Elapsed <= 0 {
			t.Errorf("%s: start %v, elapsed %v", p.Policy, p.Started, p.Elapsed)
		}
		if p.Worker.Policy == "" || p.Worker.TID == 0 {
			t.Errorf("%s: worker not reported: %+v", p.Policy, p.Worker)
		}
		if p.Commands["get_version"].Transfers == 0 {
			t.Errorf("%s: no GET_VERSION sent", p.Policy)
		}
		kinds := map[string]int{}
		for _, l := range p.Load {
			kinds[l.Kind]++
		}
		if kinds["cpu"] != runtime.NumCPU() || kinds["io"] != 1 {
			t.Errorf("%s: load %+v, want %d cpu hogs and 1 io flood", p.Policy, p.Load, runtime.NumCPU())
		}
	}
	if r.Policies[1].Worker.Policy == "fifo" && r.Policies[1].Worker.Priority != 50 {
		t.Errorf("fifo worker priority %d", r.Policies[1].Worker.Priority)
	}

	// The table says exactly what the JSON says.
	var table bytes.Buffer
	if err := r.writeTable(&table); err != nil {
		t.Fatal(err)
	}
	cells := tableCells(t, table.String())
	for i, p := range r.Policies {
		check := func(row, want string) {
			if got := cells[row]; len(got) != 2 || got[i] != want {
				t.Errorf("table row %q = %q, want %q in column %d\n%s", row, got, want, i, table.String())
			}
		}
		check("policy", p.Policy)
		check("transfers", strconv.FormatUint(p.Transfers, 10))
		check("successes", strconv.FormatUint(p.Successes, 10))
		check("failures", strconv.FormatUint(p.Failures, 10))
		check("retries", strconv.FormatUint(p.Retries, 10))
		for _, c := range ec.Causes {
			check(c.String(), strconv.FormatUint(p.FailuresByCause[c.String()], 10))
		}
	}

	// Nothing left behind.
	if kids := stressChildrenOf(os.Getpid()); len(kids) > 0 {
		t.Errorf("child processes left: %v", kids)
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("files left in %s: %v", dir, ents)
	}
	testkit.Eventually(t, "goroutines back", 20*time.Second, func() bool { return runtime.NumGoroutine() <= goroutines })
	// The worker threads have exited (the rt worker names its thread).
	comms, _ := filepath.Glob("/proc/self/task/*/comm")
	for _, f := range comms {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) == "ec-worker" {
			t.Errorf("worker thread left: %s", f)
		}
	}
}

// TestStressMaxFailureRatio: a sim EC that corrupts half the checksums fails the gate.
func TestStressMaxFailureRatio(t *testing.T) {
	for _, tc := range []struct {
		ratio string
		fail  bool
		rate  string
	}{{"0.1", true, "max"}, {"1", false, "500/s"}} {
		var out bytes.Buffer
		var err error
		jsonFile := filepath.Join(t.TempDir(), "result.json")
		// The faults also hit the transport's opening GET_PROTOCOL_INFO; the
		// seeded sim is deterministic, so try seeds until one opens.
		for seed := 1; seed <= 20; seed++ {
			c := parseStress(t, "--ec.transport=sim", "--duration=500ms", "--settle=0s", "--policies=fifo", "--load=none",
				"--sim.fault.checksum=0.5", "--sim.seed="+strconv.Itoa(seed), "--rate="+tc.rate, "--max-failure-ratio="+tc.ratio, "--no-rt.mlock", "--json-file="+jsonFile)
			out.Reset()
			err = c.run(context.Background(), stressQuietLogger(), &out, nil)
			if err == nil || !strings.Contains(err.Error(), "GET_PROTOCOL_INFO") {
				break
			}
		}
		if tc.fail {
			if err == nil || exitCode(err) != stressExitFailures || !strings.Contains(err.Error(), "above --max-failure-ratio 0.1") {
				t.Fatalf("ratio %s: err %v (exit %d), want exit %d", tc.ratio, err, exitCode(err), stressExitFailures)
			}
		} else if err != nil {
			t.Fatalf("ratio %s: %v", tc.ratio, err)
		}
		// --json-file holds the same result as the table.
		var r stressReport
		if b, err := os.ReadFile(jsonFile); err != nil {
			t.Errorf("ratio %s: --json-file: %v", tc.ratio, err)
		} else if err := json.Unmarshal(b, &r); err != nil || len(r.Policies) != 1 {
			t.Errorf("ratio %s: --json-file: %v %+v", tc.ratio, err, r)
		} else if got := tableCells(t, out.String())["checksum"]; len(got) != 1 || got[0] != strconv.FormatUint(r.Policies[0].FailuresByCause["checksum"], 10) {
			t.Errorf("ratio %s: table checksum %q, JSON %d", tc.ratio, got, r.Policies[0].FailuresByCause["checksum"])
		}
		rows := tableCells(t, out.String())
		if got := rows["checksum"]; len(got) != 1 || got[0] == "0" {
			t.Errorf("ratio %s: checksum failures %q, want > 0\n%s", tc.ratio, got, out.String())
		}
	}
}

// TestStressInterruptedProcess runs the real CLI as a process, interrupts it with
// SIGINT and checks the exit status, the partial table and that its load is gone.
func TestStressInterruptedProcess(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "stress", "--ec.transport=sim", "--duration=1m", "--settle=0s", "--policies=fifo",
		"--load=cpu,io", "--load.io-path="+dir, "--load.io-size=4194304", "--no-rt.mlock")
	cmd.Env = append(os.Environ(), stressMainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until its load runs (children of the stress process), then interrupt.
	var hogs []int
	for end := time.Now().Add(20 * time.Second); len(hogs) != runtime.NumCPU()+1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("stress process did not start %d load processes (saw %v)\nstdout: %s\nstderr: %s", runtime.NumCPU()+1, hogs, stdout.String(), stderr.String())
		}
		hogs = stressChildrenOf(cmd.Process.Pid)
	}
	time.Sleep(300 * time.Millisecond) // let a few commands run (not a timing assertion)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != stressExitInterrupted {
		t.Fatalf("exit: %v, want status %d\nstderr: %s", err, stressExitInterrupted, stderr.String())
	}
	if !strings.Contains(stdout.String(), "INTERRUPTED") || !strings.Contains(stdout.String(), "transfers") {
		t.Errorf("no partial table:\n%s", stdout.String())
	}
	for _, p := range hogs {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil && !strings.Contains(string(b), ") Z ") {
			t.Errorf("load process %d still alive: %s", p, b)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("files left in %s", dir)
	}
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "ec_exporter-ioflood-*")); len(m) > 0 {
		t.Logf("note: flood files in %s from elsewhere: %v", os.TempDir(), m)
	}
}

// stressChildrenOf lists live children of pid.
func stressChildrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if f[1] == strconv.Itoa(pid) && f[0] != "Z" {
			out = append(out, p)
		}
	}
	return out
}

func TestStressProgressLine(t *testing.T) {
	st := &policyStats{}
	st.record(stressHello, 0, time.Millisecond, 0, nil)
	st.record(stressHello, 0, time.Millisecond, 0, errCause(ec.CauseTimeout))
	var b bytes.Buffer
	printProgress(&b, "[2/2 fifo]", 3*time.Second, 10*time.Second, st)
	want := "\r[2/2 fifo]   3.0s/10s  transfers 2  failures 1 (50.000 %)\x1b[K"
	if b.String() != want {
		t.Errorf("progress %q, want %q", b.String(), want)
	}
}
