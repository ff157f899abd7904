package tracefs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Line is one event line of trace_pipe in the default output format
// (kernel/trace/trace_output.c trace_print_context): "%16s-%-7d", an optional
// "(%7d)" tgid, "[%03d]", the optional irq-info flags, "%5lu.%06lu: ", the event
// name and ": ", then the event's TP_printk text.
type Line struct {
	Comm  []byte        // task comm, "<...>" when the kernel no longer knew it
	PID   int           // the task (thread) id: common_pid
	CPU   int           // the CPU the event was recorded on
	Time  time.Duration // trace clock timestamp
	Event []byte        // event name, e.g. "cros_ec_request_start"
	Body  []byte        // the TP_printk text
}

// Lost is the count in a "CPU:%d [LOST %lu EVENTS]" line (0 for other lines).
func Lost(line []byte) uint64 {
	if !bytes.HasPrefix(line, []byte("CPU:")) { // event lines return here, before any search
		return 0
	}
	i := bytes.Index(line, []byte("[LOST "))
	if i < 0 {
		return 0
	}
	rest := line[i+len("[LOST "):]
	j := bytes.IndexByte(rest, ' ')
	if j < 0 {
		return 0
	}
	n, err := strconv.ParseUint(string(rest[:j]), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// ErrLine is returned by ParseLine for text that is not an event line.
var ErrLine = errors.New("tracefs: not an event line")

// ParseLine splits one trace_pipe line (without its newline). The slices alias line.
func ParseLine(line []byte) (Line, error) {
	var l Line
	// The CPU field "[ddd]" ends the context; the comm before it is at most 15
	// bytes but may hold anything, so try each '[' until the left side parses.
	for off := 0; off < len(line); {
		i := bytes.IndexByte(line[off:], '[')
		if i < 0 {
			return l, ErrLine
		}
		i += off
		off = i + 1
		j := bytes.IndexByte(line[i:], ']')
		if j < 2 {
			continue
		}
		cpu, ok := atoi(line[i+1 : i+j])
		if !ok {
			continue
		}
		comm, pid, ok := commPID(line[:i])
		if !ok {
			continue
		}
		l.Comm, l.PID, l.CPU = comm, pid, cpu
		return l, parseTail(&l, line[i+j+1:])
	}
	return l, ErrLine
}

// commPID parses "   comm-pid  " or "comm-pid (tgid) ".
func commPID(b []byte) ([]byte, int, bool) {
	b = bytes.TrimRight(b, " ")
	if n := len(b); n > 0 && b[n-1] == ')' {
		k := bytes.LastIndexByte(b, '(')
		if k < 0 {
			return nil, 0, false
		}
		b = bytes.TrimRight(b[:k], " ")
	}
	b = bytes.TrimLeft(b, " ")
	k := bytes.LastIndexByte(b, '-')
	if k < 0 {
		return nil, 0, false
	}
	pid, ok := atoi(b[k+1:])
	if !ok {
		return nil, 0, false
	}
	return b[:k], pid, true
}

// parseTail parses " d..1.  1234.567890: event: body" into l.
func parseTail(l *Line, b []byte) error {
	i := bytes.Index(b, []byte(": "))
	if i < 0 {
		return ErrLine
	}
	head := bytes.TrimRight(b[:i], " ")
	ts := head[bytes.LastIndexByte(head, ' ')+1:]
	t, ok := parseTime(ts)
	if !ok {
		return ErrLine
	}
	rest := b[i+2:]
	k := bytes.Index(rest, []byte(": "))
	if k <= 0 {
		// An event printing nothing ends in "event: " or "event:".
		if n := len(rest); n > 1 && rest[n-1] == ':' {
			l.Time, l.Event, l.Body = t, rest[:n-1], nil
			return nil
		}
		return ErrLine
	}
	l.Time, l.Event, l.Body = t, rest[:k], rest[k+2:]
	return nil
}

// parseTime parses "secs.fraction" (6 digits for the default clocks, 9 with ns).
func parseTime(b []byte) (time.Duration, bool) {
	dot := bytes.IndexByte(b, '.')
	if dot <= 0 || dot == len(b)-1 || len(b)-dot-1 > 9 {
		return 0, false
	}
	sec, ok := atoi64(b[:dot])
	if !ok || sec > 1<<33 {
		return 0, false
	}
	frac, ok := atoi64(b[dot+1:])
	if !ok {
		return 0, false
	}
	for n := len(b) - dot - 1; n < 9; n++ {
		frac *= 10
	}
	return time.Duration(sec)*time.Second + time.Duration(frac), true
}

// atoi parses a non-empty run of ASCII digits up to 2^31-1 (pids, CPUs).
func atoi(b []byte) (int, bool) {
	n, ok := atoi64(b)
	if !ok || n > 1<<31-1 {
		return 0, false
	}
	return int(n), true
}

// atoi64 parses a non-empty run of at most 18 ASCII digits.
func atoi64(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// MaxLine is the longest trace_pipe line Follow accepts; longer ones are skipped.
const MaxLine = 4096

// Follow reads lines from r (a trace_pipe) and calls fn with each, without its
// newline; the slice is valid only during the call. It returns nil at io.EOF and
// the read error otherwise (os.ErrClosed once the pipe is closed).
func Follow(r io.Reader, fn func(line []byte)) error {
	br := bufio.NewReaderSize(r, MaxLine)
	skipping := false
	for {
		line, err := br.ReadSlice('\n')
		switch {
		case err == nil:
			if !skipping {
				fn(line[:len(line)-1])
			}
			skipping = false
		case errors.Is(err, bufio.ErrBufferFull):
			skipping = true
		case errors.Is(err, io.EOF):
			if len(line) > 0 && !skipping {
				fn(line)
			}
			return nil
		default:
			return fmt.Errorf("tracefs: read trace_pipe: %w", err)
		}
	}
}
