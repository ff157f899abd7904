// Package ectrace parses the kernel's cros_ec trace events (cros_ec_request_start,
// cros_ec_request_done) in their exact TP_printk text and pairs them into commands.
//
// Source: drivers/platform/chrome/cros_ec_trace.h (TRACE_SYSTEM cros_ec):
//
//	start: "version: %u, offset: %d, command: %s, outsize: %u, insize: %u"
//	done:  "version: %u, offset: %d, command: %s, outsize: %u, insize: %u, ec result: %s, retval: %u"
//
// command and result print through __print_symbolic (EC_CMDS, EC_RESULT in
// cros_ec_trace.c) as EC_CMD_* / EC_RES_* names, or as "0x%lx" when the value is not
// in the kernel's list (kernel/trace/trace_output.c trace_print_symbols_seq). retval
// is an int printed with %u, so -110 (-ETIMEDOUT) appears as 4294967186.
// cros_ec_proto.c cros_ec_xfer_command wraps every transport call, each
// GET_COMMS_STATUS poll of cros_ec_wait_until_complete included, in one start/done
// pair in the caller's thread; there is no device field, so pairs match by common_pid.
package ectrace

import (
	"bytes"
	"errors"
	"fmt"
)

// System is the trace system of the events.
const System = "cros_ec"

// Event names.
const (
	EventStart = "cros_ec_request_start"
	EventDone  = "cros_ec_request_done"
)

// Kind says which of the two events a line is.
type Kind uint8

// Kinds of events.
const (
	Start Kind = iota + 1
	Done
)

// Event is one parsed cros_ec event. The byte slices alias the parsed text.
type Event struct {
	Kind    Kind
	Version uint32
	Offset  int32  // passthru offset: command / 0x4000 (0 for the EC itself)
	Command []byte // "EC_CMD_HELLO", or "0x3e" for a code the kernel has no name for
	Outsize uint32
	Insize  uint32
	Result  []byte // done only: "EC_RES_SUCCESS", or "0x..."
	Retval  int32  // done only: bytes received, or a negative errno from the transport
}

// ErrFormat is wrapped by Parse errors.
var ErrFormat = errors.New("ectrace: not a cros_ec request event")

// Parse parses the body of a cros_ec_request_start or cros_ec_request_done event.
func Parse(event, body []byte) (Event, error) {
	var e Event
	switch string(event) {
	case EventStart:
		e.Kind = Start
	case EventDone:
		e.Kind = Done
	default:
		return e, fmt.Errorf("%w: event %q", ErrFormat, event)
	}
	p := parser{b: body}
	e.Version = p.uint("version: ")
	e.Offset = p.int(", offset: ")
	e.Command = p.word(", command: ")
	e.Outsize = p.uint(", outsize: ")
	e.Insize = p.uint(", insize: ")
	if e.Kind == Done {
		e.Result = p.word(", ec result: ")
		e.Retval = int32(p.uint(", retval: "))
	}
	if p.err == nil && len(p.b) != 0 {
		p.err = fmt.Errorf("%w: trailing %q", ErrFormat, p.b)
	}
	if p.err != nil {
		return Event{}, p.err
	}
	return e, nil
}

type parser struct {
	b   []byte
	err error
}

func (p *parser) key(k string) bool {
	if p.err != nil {
		return false
	}
	if !bytes.HasPrefix(p.b, []byte(k)) {
		p.err = fmt.Errorf("%w: want %q at %q", ErrFormat, k, truncate(p.b))
		return false
	}
	p.b = p.b[len(k):]
	return true
}

func truncate(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// digits returns the leading run of decimal digits.
func (p *parser) digits() []byte {
	i := 0
	for i < len(p.b) && p.b[i] >= '0' && p.b[i] <= '9' {
		i++
	}
	d := p.b[:i]
	p.b = p.b[i:]
	return d
}

func (p *parser) uint(k string) uint32 {
	if !p.key(k) {
		return 0
	}
	d := p.digits()
	v, ok := parseUint32(d)
	if !ok {
		p.err = fmt.Errorf("%w: %s%q is not a u32", ErrFormat, k, d)
	}
	return v
}

func (p *parser) int(k string) int32 {
	if !p.key(k) {
		return 0
	}
	neg := len(p.b) > 0 && p.b[0] == '-'
	if neg {
		p.b = p.b[1:]
	}
	d := p.digits()
	v, ok := parseUint32(d)
	if !ok || v > 1<<31 || (!neg && v == 1<<31) {
		p.err = fmt.Errorf("%w: %s%q is not an int", ErrFormat, k, d)
		return 0
	}
	if neg {
		return int32(-int64(v))
	}
	return int32(v)
}

// word returns the text up to the next ", " (symbol names hold no comma).
func (p *parser) word(k string) []byte {
	if !p.key(k) {
		return nil
	}
	i := bytes.Index(p.b, []byte(", "))
	if i < 0 {
		i = len(p.b)
	}
	w := p.b[:i]
	p.b = p.b[i:]
	if len(w) == 0 || bytes.ContainsAny(w, " \t") {
		p.err = fmt.Errorf("%w: %sbad symbol %q", ErrFormat, k, w)
		return nil
	}
	return w
}

func parseUint32(d []byte) (uint32, bool) {
	if len(d) == 0 || len(d) > 10 {
		return 0, false
	}
	var v uint64
	for _, c := range d {
		v = v*10 + uint64(c-'0')
	}
	if v > 1<<32-1 {
		return 0, false
	}
	return uint32(v), true
}

// Completed is one transport call: a start paired with its done.
type Completed struct {
	PID      int
	Command  []byte // aliases the done event's text
	Result   []byte
	Retval   int32
	Duration int64 // nanoseconds between the two events (trace clock)
}

// maxDepth bounds the starts remembered per thread; maxThreads the threads.
const (
	maxDepth   = 4
	maxThreads = 1024
)

type pending struct {
	cmd uint64 // hash of the command name
	t   int64
}

// Pairer matches done events to the start of the same thread (common_pid) and
// command. A start left without its done (events lost, thread gone) counts as unpaired.
type Pairer struct {
	open     map[int][]pending
	unpaired uint64
}

// NewPairer returns an empty Pairer.
func NewPairer() *Pairer { return &Pairer{open: make(map[int][]pending)} }

// Unpaired returns how many starts and dones found no partner so far.
func (p *Pairer) Unpaired() uint64 { return p.unpaired }

// Add feeds one event of thread pid recorded at t (nanoseconds, trace clock). For a
// done that matches an earlier start it returns the completed call and true.
func (p *Pairer) Add(pid int, t int64, e Event) (Completed, bool) {
	h := hash(e.Command)
	stack, known := p.open[pid]
	switch e.Kind {
	case Start:
		if len(stack) == maxDepth {
			copy(stack, stack[1:])
			stack = stack[:maxDepth-1]
			p.unpaired++
		}
		if !known && len(p.open) >= maxThreads {
			p.evict()
		}
		p.open[pid] = append(stack, pending{cmd: h, t: t})
		return Completed{}, false
	case Done:
		// The innermost start of the same command; any newer starts above it lost their done.
		for i := len(stack) - 1; i >= 0; i-- {
			if stack[i].cmd != h {
				continue
			}
			p.unpaired += uint64(len(stack) - 1 - i)
			start := stack[i].t
			p.open[pid] = stack[:i] // kept when empty: the next start reuses it
			d := t - start
			if d < 0 {
				d = 0
			}
			return Completed{PID: pid, Command: e.Command, Result: e.Result, Retval: e.Retval, Duration: d}, true
		}
		p.unpaired++
	}
	return Completed{}, false
}

// evict forgets the threads with nothing open, or, when every thread has a start
// open, an arbitrary one (its starts count as unpaired).
func (p *Pairer) evict() {
	for k, s := range p.open {
		if len(s) == 0 {
			delete(p.open, k)
		}
	}
	if len(p.open) < maxThreads {
		return
	}
	for k, s := range p.open {
		p.unpaired += uint64(len(s))
		delete(p.open, k)
		return
	}
}

// hash is 64-bit FNV-1a, inline so that pairing allocates nothing.
func hash(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
