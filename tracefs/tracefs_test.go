package tracefs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// realRoot returns the mount point of the real tracefs, mounting it on a
// temporary directory when nothing has. It skips where the kernel has no tracefs
// or the test may not mount it, except under CI=true, where it fails.
func realRoot(t *testing.T) string {
	t.Helper()
	skip := func(msg string) {
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: the real tracefs is required)")
		}
		t.Skip(msg)
	}
	root, cleanup, err := MountPoint()
	if err != nil {
		skip(fmt.Sprintf("no tracefs to use: %v", err))
	}
	t.Cleanup(cleanup)
	return root
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestInstanceOnRealTracefs creates an instance on this machine's tracefs,
// enables sched:sched_switch in it, reads parsed lines off its trace_pipe, and
// removes it, leaving the global buffer's event switched off as it was.
func TestInstanceOnRealTracefs(t *testing.T) {
	root := realRoot(t)
	globalBefore := readFile(t, filepath.Join(root, "events/sched/sched_switch/enable"))
	name := fmt.Sprintf("ec_exporter_test_%d", os.Getpid())
	in, err := Open(root, name, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Remove()
	if in.Reused {
		t.Fatalf("fresh instance %s reported as reused", name)
	}
	if err := in.Enable("sched", "sched_switch"); err != nil {
		t.Fatal(err)
	}
	if err := in.Enable("cros_ec_test", "no_such_event"); !errors.Is(err, ErrNoEvent) {
		t.Fatalf("Enable of a missing event: %v, want ErrNoEvent", err)
	}
	if got := readFile(t, filepath.Join(root, "events/sched/sched_switch/enable")); got != globalBefore {
		t.Fatalf("global sched_switch enable changed from %s to %s", globalBefore, got)
	}
	pipe, err := in.OpenPipe()
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan Line, 16)
	done := make(chan error, 1)
	go func() {
		done <- Follow(pipe, func(b []byte) {
			l, err := ParseLine(b)
			if err != nil {
				t.Errorf("unparsed trace_pipe line %q: %v", b, err)
				return
			}
			select {
			case lines <- Line{PID: l.PID, CPU: l.CPU, Time: l.Time, Event: append([]byte(nil), l.Event...), Comm: append([]byte(nil), l.Comm...), Body: append([]byte(nil), l.Body...)}:
			default:
			}
		})
	}()
	// Context switches happen all the time; make some anyway.
	go func() {
		for i := 0; i < 50; i++ {
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case l := <-lines:
		if string(l.Event) != "sched_switch" || !strings.Contains(string(l.Body), "==> next_comm=") || l.Time <= 0 {
			t.Fatalf("unexpected line: %+v (body %q)", l, l.Body)
		}
		t.Logf("read: comm %q pid %d cpu %d t %v: %s", l.Comm, l.PID, l.CPU, l.Time, l.Body)
	case <-time.After(10 * time.Second):
		t.Fatal("no sched_switch line within 10s")
	}
	// Closing the pipe ends a blocked read.
	if err := pipe.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Follow: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Follow still blocked 5s after the pipe was closed")
	}
	if err := in.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(in.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("instance still there after Remove: %v", err)
	}
}

// TestFewEventsArriveAtOnce filters sched_switch to one thread that sleeps five
// times: the five events must reach a trace_pipe reader within seconds, as the
// kernel-trace collector on a quiet device needs (a handful of events a second), not
// only once the ring buffer fills.
func TestFewEventsArriveAtOnce(t *testing.T) {
	root := realRoot(t)
	in, err := Open(root, fmt.Sprintf("ec_exporter_test_few_%d", os.Getpid()), 1024)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Remove()
	tids := make(chan int)
	sleep := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		<-sleep
		for range 5 {
			time.Sleep(10 * time.Millisecond)
		}
	}()
	tid := <-tids
	if err := in.SetFilter("sched", "sched_switch", fmt.Sprintf("prev_pid == %d", tid)); err != nil {
		t.Fatal(err)
	}
	if err := in.Enable("sched", "sched_switch"); err != nil {
		t.Fatal(err)
	}
	pipe, err := in.OpenPipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 64)
	done := make(chan error, 1)
	go func() {
		done <- Follow(pipe, func(b []byte) {
			if l, err := ParseLine(b); err == nil && l.PID == tid {
				got <- struct{}{}
			}
		})
	}()
	close(sleep)
	deadline := time.After(5 * time.Second)
	for n := 0; n < 5; n++ {
		select {
		case <-got:
		case <-deadline:
			pipe.Close()
			<-done
			t.Fatalf("%d of the thread's 5 switches read off trace_pipe within 5 s", n)
		}
	}
	pipe.Close()
	<-done
}

// TestStaleInstanceAfterSIGKILL starts a child that opens an instance, enables
// an event and reads its pipe, kills it with SIGKILL (no cleanup runs), and checks
// that the next Open reuses the leftover instance with its events switched off,
// and that Remove then removes it.
func TestStaleInstanceAfterSIGKILL(t *testing.T) {
	root := realRoot(t)
	name := fmt.Sprintf("ec_exporter_stale_%d", os.Getpid())
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldInstance$")
	cmd.Env = append(os.Environ(), "TRACEFS_HELPER_ROOT="+root, "TRACEFS_HELPER_NAME="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready") {
				ready <- sc.Text()
			}
		}
		close(ready)
	}()
	select {
	case s, ok := <-ready:
		if !ok {
			t.Fatal("helper exited before it was ready")
		}
		t.Log("helper:", s)
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("helper not ready within 20s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	dir := filepath.Join(root, "instances", name)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("a SIGKILLed run should leave its instance behind: %v", err)
	}
	if got := readFile(t, filepath.Join(dir, "events/sched/sched_switch/enable")); got != "1" {
		t.Fatalf("leftover instance has sched_switch enable=%s, want 1", got)
	}
	in, err := Open(root, name, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Reused {
		t.Fatal("leftover instance not reported as reused")
	}
	if got := readFile(t, filepath.Join(dir, "events/sched/sched_switch/enable")); got != "0" {
		t.Fatalf("reused instance kept sched_switch enable=%s, want 0", got)
	}
	if err := in.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("instance still there after Remove: %v", err)
	}
}

// TestHelperHoldInstance is the child of TestStaleInstanceAfterSIGKILL.
func TestHelperHoldInstance(t *testing.T) {
	root, name := os.Getenv("TRACEFS_HELPER_ROOT"), os.Getenv("TRACEFS_HELPER_NAME")
	if root == "" {
		t.Skip("helper process only")
	}
	in, err := Open(root, name, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Enable("sched", "sched_switch"); err != nil {
		t.Fatal(err)
	}
	pipe, err := in.OpenPipe()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready", in.Dir)
	_ = Follow(pipe, func([]byte) {})
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	dbg := filepath.Join(dir, "dbg")
	if err := os.MkdirAll(filepath.Join(dbg, "tracing"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dbg, "tracing", "trace_pipe"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, mounts, want string
		err                error
	}{
		{"tracefs", "sysfs /sys sysfs rw 0 0\nnodev /sys/kernel/tracing tracefs rw,relatime 0 0\n", "/sys/kernel/tracing", nil},
		{"escaped space", `nodev /mnt/my\040trace tracefs rw 0 0` + "\n", "/mnt/my trace", nil},
		{"debugfs only", "debugfs " + dbg + " debugfs rw 0 0\n", filepath.Join(dbg, "tracing"), nil},
		{"tracefs wins over debugfs", "debugfs " + dbg + " debugfs rw 0 0\nnodev /t tracefs rw 0 0\n", "/t", nil},
		{"none", "proc /proc proc rw 0 0\nshort line\n", "", ErrNotMounted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "mounts")
			if err := os.WriteFile(p, []byte(tt.mounts), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Find(p)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("Find = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
	if _, err := Find(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("Find of a missing mounts file: no error")
	}
}

func TestOpenRejectsBadNames(t *testing.T) {
	for _, n := range []string{"", ".", "..", "a/b"} {
		if _, err := Open(t.TempDir(), n, 0); err == nil {
			t.Errorf("Open(%q): no error", n)
		}
	}
}

// TestRemoveStale leaves instances named after a dead and a live pid, and checks
// that only the dead one is removed.
func TestRemoveStale(t *testing.T) {
	root := realRoot(t)
	prefix := fmt.Sprintf("ec_exporter_rs%d.", os.Getpid())
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := prefix + strconv.Itoa(cmd.Process.Pid) // exited and reaped
	live := PIDName(prefix)
	for _, n := range []string{dead, live} {
		in, err := Open(root, n, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Remove()
	}
	removed, err := RemoveStale(root, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != dead {
		t.Fatalf("removed %v, want [%s]", removed, dead)
	}
	if _, err := os.Stat(filepath.Join(root, "instances", live)); err != nil {
		t.Fatalf("live instance removed: %v", err)
	}
}
