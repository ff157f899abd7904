package kthread

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stat builds a /proc/PID/stat line: 52 fields with flags (9), rt_priority (40)
// and policy (41) set, the rest plausible.
func stat(pid int, comm string, kernel bool, policy, prio int) string {
	f := make([]string, 53)
	for i := range f {
		f[i] = "0"
	}
	f[1], f[2], f[3] = strconv.Itoa(pid), "("+comm+")", "S"
	flags := 0x40 // PF_FORKNOEXEC
	if kernel {
		flags |= pfKthread | 0x8000 // PF_NOFREEZE
	}
	f[9] = strconv.Itoa(flags)
	f[18] = strconv.Itoa(-1 - prio) // prio as the kernel shows it
	f[40], f[41] = strconv.Itoa(prio), strconv.Itoa(policy)
	return strings.Join(f[1:], " ") + "\n"
}

type fakeThread struct {
	pid    int
	comm   string
	kernel bool
	policy int
	prio   int
}

// fakeTree writes /proc stat files and a /sys with cros-ec-spi bound to devs
// (device name → controller, linked as /sys/devices does).
func fakeTree(t *testing.T, threads []fakeThread, devs map[string]string) (proc, sys string) {
	t.Helper()
	root := t.TempDir()
	proc, sys = filepath.Join(root, "proc"), filepath.Join(root, "sys")
	for _, th := range threads {
		d := filepath.Join(proc, strconv.Itoa(th.pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(stat(th.pid, th.comm, th.kernel, th.policy, th.prio)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(proc, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	drv := filepath.Join(sys, "bus", "spi", "drivers", Driver)
	if err := os.MkdirAll(drv, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"bind", "unbind", "uevent"} {
		if err := os.WriteFile(filepath.Join(drv, f), nil, 0o200); err != nil {
			t.Fatal(err)
		}
	}
	for dev, ctl := range devs {
		real := filepath.Join(sys, "devices", "platform", "soc", "spi@"+ctl, "spi_master", ctl, dev)
		if err := os.MkdirAll(real, 0o755); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(drv, real)
		if err := os.Symlink(rel, filepath.Join(drv, dev)); err != nil {
			t.Fatal(err)
		}
	}
	return proc, sys
}

const (
	other = 0
	fifo  = 1
)

func TestScanFakeTrees(t *testing.T) {
	common := []fakeThread{
		{1, "init", false, other, 0}, {2, "kthreadd", true, other, 0},
		{17, "migration/0", true, fifo, 99},
		// A user process named like the worker, at SCHED_FIFO: never counts.
		{4000, WorkerComm, false, fifo, 60},
	}
	type want struct {
		dev, ctl        string
		worker          bool
		wpolicy         string
		wprio           int
		pump            bool
		ppolicy         string
		pprio, workerID int
	}
	tests := []struct {
		name    string
		threads []fakeThread
		devs    map[string]string
		want    []want
	}{
		{"fix at 99 (original patch), pump real-time",
			[]fakeThread{{310, "spi2", true, fifo, 50}, {311, WorkerComm, true, fifo, 99}},
			map[string]string{"spi2.0": "spi2"},
			[]want{{"spi2.0", "spi2", true, "fifo", 99, true, "fifo", 50, 311}}},
		{"fix at 50 (sched_set_fifo)",
			[]fakeThread{{310, "spi2", true, fifo, 50}, {311, WorkerComm, true, fifo, 50}},
			map[string]string{"spi2.0": "spi2"},
			[]want{{"spi2.0", "spi2", true, "fifo", 50, true, "fifo", 50, 311}}},
		{"untruncated worker name",
			[]fakeThread{{311, WorkerName, true, fifo, 50}},
			map[string]string{"spi2.0": "spi2"},
			[]want{{"spi2.0", "spi2", true, "fifo", 50, false, "", 0, 311}}},
		{"kernel without the fix: no worker, pump SCHED_OTHER",
			[]fakeThread{{310, "spi2", true, other, 0}},
			map[string]string{"spi2.0": "spi2"},
			[]want{{"spi2.0", "spi2", false, "", 0, true, "other", 0, 0}}},
		{"worker real-time, SPI pump not (companion patch missing)",
			[]fakeThread{{310, "spi2", true, other, 0}, {311, WorkerComm, true, fifo, 50}},
			map[string]string{"spi2.0": "spi2"},
			[]want{{"spi2.0", "spi2", true, "fifo", 50, true, "other", 0, 311}}},
		{"two cros-ec-spi devices (EC and FPMCU)",
			[]fakeThread{{310, "spi2", true, fifo, 50}, {311, WorkerComm, true, fifo, 50}, {512, "spi5", true, other, 0}, {513, WorkerComm, true, fifo, 50}},
			map[string]string{"spi2.0": "spi2", "spi5.0": "spi5"},
			[]want{{"spi2.0", "spi2", true, "fifo", 50, true, "fifo", 50, 311}, {"spi5.0", "spi5", true, "fifo", 50, true, "other", 0, 513}}},
		{"ACPI-named device", []fakeThread{{311, WorkerComm, true, fifo, 50}, {90, "spi1", true, fifo, 50}},
			map[string]string{"spi-GOOG0004:00": "spi1"},
			[]want{{"spi-GOOG0004:00", "spi1", true, "fifo", 50, true, "fifo", 50, 311}}},
		{"no cros-ec-spi device bound", []fakeThread{{311, WorkerComm, true, fifo, 50}}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proc, sys := fakeTree(t, append(append([]fakeThread{}, common...), tt.threads...), tt.devs)
			devs, err := Scan(proc, sys)
			if err != nil {
				t.Fatal(err)
			}
			if len(devs) != len(tt.want) {
				t.Fatalf("%d devices, want %d: %+v", len(devs), len(tt.want), devs)
			}
			for i, w := range tt.want {
				d := devs[i]
				if d.Name != w.dev || d.Controller != w.ctl || d.WorkerFound != w.worker || d.PumpFound != w.pump ||
					d.Worker.Policy != w.wpolicy || d.Worker.Priority != w.wprio || d.Pump.Policy != w.ppolicy || d.Pump.Priority != w.pprio ||
					d.Worker.PID != w.workerID {
					t.Errorf("device %d = %+v, want %+v", i, d, w)
				}
				if d.WorkerFound && (!d.Worker.Kernel || d.Worker.PID == 4000) {
					t.Errorf("worker is the user process: %+v", d.Worker)
				}
			}
		})
	}
	t.Run("no driver directory", func(t *testing.T) {
		devs, err := Scan(t.TempDir(), t.TempDir())
		if err != nil || devs != nil {
			t.Fatalf("Scan = %v, %v", devs, err)
		}
	})
	t.Run("kernel threads hidden (hidepid)", func(t *testing.T) {
		proc, sys := fakeTree(t, []fakeThread{{4000, "bash", false, other, 0}}, map[string]string{"spi2.0": "spi2"})
		if _, err := Scan(proc, sys); !errors.Is(err, ErrHidden) {
			t.Fatalf("Scan = %v, want ErrHidden", err)
		}
	})
	t.Run("unreadable proc", func(t *testing.T) {
		_, sys := fakeTree(t, nil, map[string]string{"spi2.0": "spi2"})
		if _, err := Scan(filepath.Join(t.TempDir(), "missing"), sys); err == nil {
			t.Fatal("no error for a missing /proc")
		}
	})
}

func TestParseStat(t *testing.T) {
	th, err := ParseStat([]byte(stat(42, "a) (b", true, 6, 0)))
	if err != nil || th.PID != 42 || th.Comm != "a) (b" || !th.Kernel || th.Policy != "deadline" || !th.RealTime() {
		t.Fatalf("%+v %v", th, err)
	}
	th, err = ParseStat([]byte(stat(43, "x", false, 9, 0)))
	if err != nil || th.Policy != "9" || th.RealTime() {
		t.Fatalf("%+v %v", th, err)
	}
	for _, bad := range []string{"", "42 x S", "(x) S 1", "42 (x) S 1 2 3", "x (y) " + strings.Repeat("1 ", 50)} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q): no error", bad)
		}
	}
}

// TestRealUserThreadDoesNotCount runs, on this machine, a user process whose comm
// is cros_ec_spi_hig at SCHED_FIFO and a thread of this test with that name at
// SCHED_FIFO, and checks that the kernel shows both as such (so the test could
// fail) and that neither counts as the kernel's worker. It also checks that the
// real kthreadd is found as a kernel thread.
func TestRealUserThreadDoesNotCount(t *testing.T) {
	// A process: a copy of sleep named after the worker.
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), WorkerName)
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 10}
	if err := unix.SchedSetAttr(cmd.Process.Pid, attr, 0); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("SCHED_FIFO for the user process: %v (CI runs as root)", err)
		}
		t.Skipf("cannot set SCHED_FIFO (needs CAP_SYS_NICE): %v", err)
	}
	// A thread of this process, renamed, at SCHED_FIFO.
	tidc, release := make(chan int), make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafePointer(append([]byte(WorkerName), 0))), 0, 0, 0)
		_ = unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 10}, 0)
		tidc <- unix.Gettid()
		<-release
		// Leave the thread at SCHED_OTHER before the runtime reuses it.
		_ = unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0)
	}()
	tid := <-tidc
	defer close(release)

	check := func(path string, pid int) {
		t.Helper()
		var th Thread
		deadline := time.Now().Add(5 * time.Second)
		for {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if th, err = ParseStat(b); err != nil {
				t.Fatal(err)
			}
			if th.Comm == WorkerComm || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond) // exec not done yet
		}
		if th.PID != pid || th.Comm != WorkerComm || th.Kernel || th.Policy != "fifo" || th.Priority != 10 {
			t.Fatalf("%s: %+v, want a user thread %s at fifo 10", path, th, WorkerComm)
		}
	}
	check(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid), cmd.Process.Pid)
	check(fmt.Sprintf("/proc/%d/task/%d/stat", os.Getpid(), tid), tid)

	// The real /proc, plus a /proc-like directory that also lists the thread.
	procPlus := t.TempDir()
	if err := os.Symlink(fmt.Sprintf("/proc/%d/task/%d", os.Getpid(), tid), filepath.Join(procPlus, strconv.Itoa(tid))); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(fmt.Sprintf("/proc/%d", cmd.Process.Pid), filepath.Join(procPlus, strconv.Itoa(cmd.Process.Pid))); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{"/proc", procPlus} {
		got, err := KernelThreads(root, map[string]bool{WorkerComm: true, WorkerName: true, "kthreadd": true})
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range got[WorkerComm] {
			if th.PID == cmd.Process.Pid || th.PID == tid {
				t.Errorf("%s: user thread %+v counted as the kernel worker", root, th)
			}
		}
		if root == "/proc" && (len(got["kthreadd"]) != 1 || !got["kthreadd"][0].Kernel) {
			t.Errorf("real kthreadd not found as a kernel thread: %+v", got["kthreadd"])
		}
	}
	if err := os.Symlink("/proc/2", filepath.Join(procPlus, "2")); err != nil { // kthreadd
		t.Fatal(err)
	}
	// And through Scan with a cros-ec-spi device bound in a fake /sys.
	_, sys := fakeTree(t, nil, map[string]string{"spi2.0": "spi2"})
	devs, err := Scan(procPlus, sys)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].WorkerFound {
		t.Fatalf("Scan counted a user thread as the worker: %+v", devs)
	}
}
