package tracefs

import (
	"bytes"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		line  string
		comm  string
		pid   int
		cpu   int
		ts    time.Duration
		event string
		body  string
		err   bool
	}{
		{line: "          <idle>-0       [001] d..2.  6021.123456: sched_switch: prev_comm=swapper/1 prev_pid=0 ==> next_comm=ec-worker next_pid=4242 next_prio=49",
			comm: "<idle>", pid: 0, cpu: 1, ts: 6021123456 * time.Microsecond, event: "sched_switch", body: "prev_comm=swapper/1 prev_pid=0 ==> next_comm=ec-worker next_pid=4242 next_prio=49"},
		{line: " irq/135-chromeo-1456    [001] d..1.  5123.000100: cros_ec_request_start: version: 0",
			comm: "irq/135-chromeo", pid: 1456, cpu: 1, ts: 5123000100 * time.Microsecond, event: "cros_ec_request_start", body: "version: 0"},
		{line: " irq/135-chromeo-1456    (   1456) [001] d..1.  5123.000100: cros_ec_request_start: version: 0",
			comm: "irq/135-chromeo", pid: 1456, cpu: 1, ts: 5123000100 * time.Microsecond, event: "cros_ec_request_start", body: "version: 0"},
		{line: "       ec-worker-4242  [000]  6021.123400: sched_waking: comm=ec-worker pid=4242",
			comm: "ec-worker", pid: 4242, cpu: 0, ts: 6021123400 * time.Microsecond, event: "sched_waking", body: "comm=ec-worker pid=4242"},
		{line: "   a [1]-b-77     [003] .....  1.000001: ev: x", comm: "a [1]-b", pid: 77, cpu: 3, ts: 1000001 * time.Microsecond, event: "ev", body: "x"},
		{line: "  x-1 [000] ..... 12.123456789: ev: body", comm: "x", pid: 1, ts: 12123456789, event: "ev", body: "body"},
		{line: "  x-1 [000] ..... 12.5: empty:", comm: "x", pid: 1, ts: 12500 * time.Millisecond, event: "empty"},
		{line: "CPU:1 [LOST 3 EVENTS]", err: true},
		{line: "# tracer: nop", err: true},
		{line: "  x-y [000] ..... 12.5: ev: b", err: true},
		{line: "  x-1 [000] ..... 12: ev: b", err: true},
		{line: "  x-1 [0a0] ..... 12.5: ev: b", err: true},
		{line: "", err: true},
	}
	for _, tt := range tests {
		l, err := ParseLine([]byte(tt.line))
		if tt.err {
			if err == nil {
				t.Errorf("ParseLine(%q) = %+v, want an error", tt.line, l)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseLine(%q): %v", tt.line, err)
			continue
		}
		if string(l.Comm) != tt.comm || l.PID != tt.pid || l.CPU != tt.cpu || l.Time != tt.ts || string(l.Event) != tt.event || string(l.Body) != tt.body {
			t.Errorf("ParseLine(%q) = comm %q pid %d cpu %d t %v event %q body %q", tt.line, l.Comm, l.PID, l.CPU, l.Time, l.Event, l.Body)
		}
	}
	if Lost([]byte("CPU:1 [LOST 3 EVENTS]")) != 3 || Lost([]byte("x [LOST 3 EVENTS]")) != 0 || Lost([]byte("CPU:1 [LOST x EVENTS]")) != 0 {
		t.Error("Lost")
	}
}

func TestFollowSkipsOverlongLines(t *testing.T) {
	in := "a\n" + string(bytes.Repeat([]byte("x"), 3*MaxLine)) + "\nb\nc"
	var got []string
	if err := Follow(bytes.NewReader([]byte(in)), func(l []byte) { got = append(got, string(l)) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("Follow gave %q", got)
	}
}

// FuzzParseLine: no input panics, and parsed fields are in range.
func FuzzParseLine(f *testing.F) {
	f.Add([]byte("          <idle>-0       [001] d..2.  6021.123456: sched_switch: prev_comm=swapper/1"))
	f.Fuzz(func(t *testing.T, line []byte) {
		_ = Lost(line)
		l, err := ParseLine(line)
		if err != nil {
			return
		}
		if l.PID < 0 || l.CPU < 0 || l.Time < 0 || len(l.Event) == 0 {
			t.Fatalf("bad fields %+v from %q", l, line)
		}
	})
}
