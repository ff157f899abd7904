package ectrace

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/ec-exporter/ec_exporter/tracefs"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, event, body string
		want              Event
		err               bool
	}{
		{name: "start", event: EventStart,
			body: "version: 0, offset: 0, command: EC_CMD_HELLO, outsize: 4, insize: 4",
			want: Event{Kind: Start, Command: []byte("EC_CMD_HELLO"), Outsize: 4, Insize: 4}},
		{name: "done success", event: EventDone,
			body: "version: 1, offset: 0, command: EC_CMD_GET_VERSION, outsize: 0, insize: 128, ec result: EC_RES_SUCCESS, retval: 116",
			want: Event{Kind: Done, Version: 1, Command: []byte("EC_CMD_GET_VERSION"), Insize: 128, Result: []byte("EC_RES_SUCCESS"), Retval: 116}},
		{name: "negative retval printed unsigned", event: EventDone,
			body: "version: 0, offset: 0, command: EC_CMD_HELLO, outsize: 4, insize: 4, ec result: EC_RES_SUCCESS, retval: 4294967186",
			want: Event{Kind: Done, Command: []byte("EC_CMD_HELLO"), Outsize: 4, Insize: 4, Result: []byte("EC_RES_SUCCESS"), Retval: -110}},
		{name: "-EBADMSG", event: EventDone,
			body: "version: 0, offset: 0, command: EC_CMD_HELLO, outsize: 4, insize: 4, ec result: EC_RES_SUCCESS, retval: 4294967222",
			want: Event{Kind: Done, Command: []byte("EC_CMD_HELLO"), Outsize: 4, Insize: 4, Result: []byte("EC_RES_SUCCESS"), Retval: -74}},
		{name: "unknown command and result in hex, passthru offset", event: EventDone,
			body: "version: 0, offset: 1, command: 0x3e, outsize: 8, insize: 16, ec result: 0xfe, retval: 0",
			want: Event{Kind: Done, Offset: 1, Command: []byte("0x3e"), Outsize: 8, Insize: 16, Result: []byte("0xfe")}},
		{name: "other event", event: "cros_ec_sensorhub_data", body: "ec_num: 1", err: true},
		{name: "start with done fields", event: EventStart,
			body: "version: 0, offset: 0, command: EC_CMD_HELLO, outsize: 4, insize: 4, ec result: EC_RES_SUCCESS, retval: 4", err: true},
		{name: "done without result", event: EventDone,
			body: "version: 0, offset: 0, command: EC_CMD_HELLO, outsize: 4, insize: 4", err: true},
		{name: "retval above u32", event: EventDone,
			body: "version: 0, offset: 0, command: EC_CMD_HELLO, outsize: 4, insize: 4, ec result: EC_RES_SUCCESS, retval: 4294967296", err: true},
		{name: "empty command", event: EventStart,
			body: "version: 0, offset: 0, command: , outsize: 4, insize: 4", err: true},
		{name: "empty", event: EventStart, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.event), []byte(tt.body))
			if tt.err {
				if !errors.Is(err, ErrFormat) {
					t.Fatalf("Parse = %+v, %v; want ErrFormat", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tt.want.Kind || got.Version != tt.want.Version || got.Offset != tt.want.Offset ||
				!bytes.Equal(got.Command, tt.want.Command) || got.Outsize != tt.want.Outsize || got.Insize != tt.want.Insize ||
				!bytes.Equal(got.Result, tt.want.Result) || got.Retval != tt.want.Retval {
				t.Fatalf("Parse =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		result string
		retval int32
		class  Class
		label  string
	}{
		{"EC_RES_SUCCESS", 4, ClassOK, "success"},
		{"EC_RES_IN_PROGRESS", 0, ClassOK, "in_progress"},
		{"EC_RES_INVALID_COMMAND", 0, ClassECResult, "invalid_command"},
		{"EC_RES_DUP_UNAVAILABLE", 0, ClassECResult, "dup_unavailable"},
		{"0xfe", 0, ClassECResult, "ec_result_other"},
		{"EC_RES_SUCCESS", -110, ClassTransport, "etimedout"},
		{"EC_RES_SUCCESS", -74, ClassTransport, "ebadmsg"},
		{"EC_RES_SUCCESS", -11, ClassTransport, "eagain"},
		{"EC_RES_SUCCESS", -1, ClassTransport, "errno_other"},
	}
	for _, tt := range tests {
		c, i := Outcome([]byte(tt.result), tt.retval)
		if c != tt.class || Results[i] != tt.label {
			t.Errorf("Outcome(%s, %d) = %v %s, want %v %s", tt.result, tt.retval, c, Results[i], tt.class, tt.label)
		}
	}
	if Results[resultECOther] != "ec_result_other" || Results[firstErrno] != "etimedout" || Results[resultErrnoOther] != "errno_other" ||
		len(errnos) != resultErrnoOther-firstErrno || Results[resultInProgress] != "in_progress" {
		t.Fatal("Results and its index constants disagree")
	}
}

func TestCommandLabel(t *testing.T) {
	for sym, want := range map[string]string{
		"EC_CMD_HELLO": "hello", "EC_CMD_GET_NEXT_EVENT": "get_next_event", "EC_CMD_GET_COMMS_STATUS": "get_comms_status",
		"EC_CMD_FLASH_WRITE": "other", "0x3e": "other", "": "other", "EC_CMD_OTHER": "other",
	} {
		if got := Commands[CommandLabel([]byte(sym))]; got != want {
			t.Errorf("CommandLabel(%q) = %s, want %s", sym, got, want)
		}
	}
}

// replay parses a recorded trace file line by line as the collector does.
func replay(t *testing.T, path string) (done []Completed, lost uint64, p *Pairer) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p = NewPairer()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		b := sc.Bytes()
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		if n := tracefs.Lost(b); n > 0 {
			lost += n
			continue
		}
		l, err := tracefs.ParseLine(b)
		if err != nil {
			t.Fatalf("line %q: %v", b, err)
		}
		e, err := Parse(l.Event, l.Body)
		if err != nil {
			t.Fatalf("line %q: %v", b, err)
		}
		if c, ok := p.Add(l.PID, int64(l.Time), e); ok {
			c.Command = append([]byte(nil), c.Command...)
			c.Result = append([]byte(nil), c.Result...)
			done = append(done, c)
		}
	}
	return done, lost, p
}

// TestPairRecordedTrace pairs a recorded trace: interleaved threads, an
// IN_PROGRESS command followed by GET_COMMS_STATUS polls, a timeout printed as an
// unsigned retval, a hex command, and a done whose start was lost.
func TestPairRecordedTrace(t *testing.T) {
	done, lost, p := replay(t, "testdata/chromebook.trace")
	want := []struct {
		pid      int
		cmd      string
		result   string
		retval   int32
		duration int64
	}{
		{1456, "EC_CMD_GET_NEXT_EVENT", "EC_RES_SUCCESS", 5, 612_000},
		{2345, "EC_CMD_HELLO", "EC_RES_SUCCESS", 4, 900_000},
		{2345, "EC_CMD_GET_VERSION", "EC_RES_SUCCESS", -110, 9_500_000},
		{3001, "EC_CMD_FLASH_WRITE", "EC_RES_IN_PROGRESS", 0, 900_000},
		{3001, "EC_CMD_GET_COMMS_STATUS", "EC_RES_SUCCESS", 4, 600_000},
		{3001, "EC_CMD_GET_COMMS_STATUS", "EC_RES_SUCCESS", 4, 500_000},
		{900, "0x3e", "EC_RES_INVALID_COMMAND", 0, 1_000_000},
	}
	if len(done) != len(want) {
		t.Fatalf("%d completed calls, want %d: %+v", len(done), len(want), done)
	}
	for i, w := range want {
		d := done[i]
		if d.PID != w.pid || string(d.Command) != w.cmd || string(d.Result) != w.result || d.Retval != w.retval || d.Duration != w.duration {
			t.Errorf("call %d = pid %d %s %s %d %dns, want %+v", i, d.PID, d.Command, d.Result, d.Retval, d.Duration, w)
		}
	}
	if lost != 3 {
		t.Errorf("lost %d events, want 3", lost)
	}
	if p.Unpaired() != 1 {
		t.Errorf("unpaired %d, want 1 (the MOTION_SENSE done after the lost events)", p.Unpaired())
	}
}

func TestPairerEdges(t *testing.T) {
	start := func(cmd string) Event { return Event{Kind: Start, Command: []byte(cmd)} }
	done := func(cmd string) Event {
		return Event{Kind: Done, Command: []byte(cmd), Result: []byte("EC_RES_SUCCESS")}
	}
	t.Run("nested poll inside a start", func(t *testing.T) {
		// A kernel that polled between the command's start and done would nest.
		p := NewPairer()
		p.Add(1, 0, start("EC_CMD_FLASH_ERASE"))
		p.Add(1, 10, start("EC_CMD_GET_COMMS_STATUS"))
		if c, ok := p.Add(1, 15, done("EC_CMD_GET_COMMS_STATUS")); !ok || c.Duration != 5 {
			t.Fatalf("poll: %+v %v", c, ok)
		}
		if c, ok := p.Add(1, 30, done("EC_CMD_FLASH_ERASE")); !ok || c.Duration != 30 {
			t.Fatalf("outer: %+v %v", c, ok)
		}
		if p.Unpaired() != 0 || len(p.open[1]) != 0 {
			t.Fatalf("unpaired %d, open %v", p.Unpaired(), p.open)
		}
	})
	t.Run("done of an older start drops the newer one", func(t *testing.T) {
		p := NewPairer()
		p.Add(1, 0, start("EC_CMD_HELLO"))
		p.Add(1, 5, start("EC_CMD_GET_VERSION")) // its done was lost
		if c, ok := p.Add(1, 9, done("EC_CMD_HELLO")); !ok || c.Duration != 9 {
			t.Fatalf("%+v %v", c, ok)
		}
		if p.Unpaired() != 1 {
			t.Fatalf("unpaired %d", p.Unpaired())
		}
	})
	t.Run("same command on two threads", func(t *testing.T) {
		p := NewPairer()
		p.Add(1, 0, start("EC_CMD_HELLO"))
		p.Add(2, 3, start("EC_CMD_HELLO"))
		c2, _ := p.Add(2, 4, done("EC_CMD_HELLO"))
		c1, _ := p.Add(1, 10, done("EC_CMD_HELLO"))
		if c1.Duration != 10 || c2.Duration != 1 {
			t.Fatalf("durations %d %d", c1.Duration, c2.Duration)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		p := NewPairer()
		for pid := 0; pid < 3*maxThreads; pid++ {
			for i := 0; i < 2*maxDepth; i++ {
				p.Add(pid, int64(i), start("EC_CMD_HELLO"))
			}
		}
		if len(p.open) > maxThreads {
			t.Fatalf("%d threads remembered", len(p.open))
		}
		for _, s := range p.open {
			if len(s) > maxDepth {
				t.Fatalf("depth %d", len(s))
			}
		}
		if p.Unpaired() == 0 {
			t.Fatal("dropped starts not counted")
		}
	})
}

// TestPairAllocatesNothing: the per-event path (parse, pair, classify) of a
// steady thread allocates nothing.
func TestPairAllocatesNothing(t *testing.T) {
	p := NewPairer()
	sl := []byte(" irq/135-chromeo-1456    [001] d..1.  5123.000100: cros_ec_request_start: version: 0, offset: 0, command: EC_CMD_GET_NEXT_EVENT, outsize: 0, insize: 17")
	dl := []byte(" irq/135-chromeo-1456    [001] .....  5123.000712: cros_ec_request_done: version: 0, offset: 0, command: EC_CMD_GET_NEXT_EVENT, outsize: 0, insize: 17, ec result: EC_RES_SUCCESS, retval: 5")
	run := func() {
		for _, b := range [][]byte{sl, dl} {
			l, _ := tracefs.ParseLine(b)
			e, _ := Parse(l.Event, l.Body)
			if c, ok := p.Add(l.PID, int64(l.Time), e); ok {
				_ = CommandLabel(c.Command)
				_, _ = Outcome(c.Result, c.Retval)
			}
		}
	}
	run()
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Fatalf("%v allocations per start/done pair", a)
	}
}

func BenchmarkEventPair(b *testing.B) {
	p := NewPairer()
	sl := []byte(" irq/135-chromeo-1456    [001] d..1.  5123.000100: cros_ec_request_start: version: 0, offset: 0, command: EC_CMD_GET_NEXT_EVENT, outsize: 0, insize: 17")
	dl := []byte(" irq/135-chromeo-1456    [001] .....  5123.000712: cros_ec_request_done: version: 0, offset: 0, command: EC_CMD_GET_NEXT_EVENT, outsize: 0, insize: 17, ec result: EC_RES_SUCCESS, retval: 5")
	b.ReportAllocs()
	for b.Loop() {
		for _, line := range [][]byte{sl, dl} {
			l, _ := tracefs.ParseLine(line)
			e, _ := Parse(l.Event, l.Body)
			if c, ok := p.Add(l.PID, int64(l.Time), e); ok {
				_ = CommandLabel(c.Command)
				_, _ = Outcome(c.Result, c.Retval)
			}
		}
	}
}

// FuzzParse: any trace_pipe line parses or fails cleanly, and what parses
// re-parses from its own fields.
func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("testdata/chromebook.trace")
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		_ = tracefs.Lost(line)
		l, err := tracefs.ParseLine(line)
		if err != nil {
			return
		}
		if l.PID < 0 || l.CPU < 0 || l.Time < 0 {
			t.Fatalf("negative field in %+v", l)
		}
		e, err := Parse(l.Event, l.Body)
		if err != nil {
			return
		}
		if len(e.Command) == 0 || (e.Kind == Done) != (e.Result != nil) {
			t.Fatalf("inconsistent event %+v from %q", e, line)
		}
		_ = CommandLabel(e.Command)
		c, i := Outcome(e.Result, e.Retval)
		if c >= NumClasses || i < 0 || i >= len(Results) {
			t.Fatalf("Outcome out of range: %v %d", c, i)
		}
		p := NewPairer()
		p.Add(l.PID, int64(l.Time), e)
	})
}
