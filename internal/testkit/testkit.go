// Package testkit holds the helpers that several packages' tests share: finding outside
// programs the CI way, free loopback ports, output buffers for child processes, a stepping clock.
package testkit

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// NeedTool returns the path of an outside program (PATH, then /usr/bin where Debian puts it).
// Missing, it skips the test on a bare machine and fails it in CI (CI=true).
func NeedTool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	p := filepath.Join("/usr/bin", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not installed (apt-get install %s)", name, debianPackage)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; .ci/run installs it")
	}
	t.Skip(msg)
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// LockedBuffer collects a child process's output from several goroutines.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Clock is a test clock: pinned at T, advanced by Advance, and by Step on every reading
// (Step 0 keeps it pinned), so measured durations are deterministic.
type Clock struct {
	mu   sync.Mutex
	T    time.Time
	Step time.Duration
}

// Now advances the clock by Step and returns the new reading.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.T = c.T.Add(c.Step)
	return c.T
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.T = c.T.Add(d)
	c.mu.Unlock()
}

// Eventually polls cond until it holds, failing the test after timeout: a liveness bound,
// not a timing check.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}
