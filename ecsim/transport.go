package ecsim

import (
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
)

// Errors of the chardev-style transport, named after the errno the kernel's
// /dev/cros_ec ioctl returns in the same situation.
var (
	ErrTimeout  = &ec.Error{Cause: ec.CauseTimeout, Op: "ecsim: ETIMEDOUT: EC failed to respond in time"}
	ErrChecksum = &ec.Error{Cause: ec.CauseChecksum, Op: "ecsim: EBADMSG: bad packet checksum"}
	ErrMsgSize  = &ec.Error{Cause: ec.CauseBadResponse, Op: "ecsim: EMSGSIZE: response data_len larger than insize"}
	ErrTooBig   = &ec.Error{Cause: ec.CauseBadResponse, Op: "ecsim: EMSGSIZE: request larger than the EC's max_request"}
	ErrAgain    = &ec.Error{Cause: ec.CauseNotReady, Op: "ecsim: EAGAIN: EC not ready (0xFB/0xFC during the request)"}
)

// HostDeadline is the kernel's EC_MSG_DEADLINE_MS: a late answer beyond it is a
// timeout through the chardev transport.
const HostDeadline = 200 * time.Millisecond

// Transport is the simulated EC behind a command-level, chardev-style transport.
type Transport struct{ e *EC }

// NewTransport returns a chardev-style ec.Transport over e: same handlers,
// state and faults as e's SPI side, with faults surfacing as the kernel
// chardev's errors (ETIMEDOUT → CauseTimeout, EBADMSG → CauseChecksum,
// EMSGSIZE → CauseBadResponse, EAGAIN → CauseNotReady). IN_PROGRESS is passed up
// in m.Result, as ecspi does, for ec.Device to poll. Wire time does not apply;
// processing time (and a late answer) is slept, and a "no answer", an answer
// later than HostDeadline, or (as the kernel's SPI driver would see it) one
// later than the CS budget, returns ErrTimeout at once.
func NewTransport(e *EC) ec.Transport { return &Transport{e: e} }

// Xfer runs one host command.
func (tr *Transport) Xfer(m *ec.Msg) (int, error) {
	e := tr.e
	e.mu.Lock()
	spiCur := e.cur // an SPI transaction in flight keeps its faults
	defer func() { e.mu.Lock(); e.cur = spiCur; e.mu.Unlock() }()
	t := e.clk.now()
	if e.roll(t) {
		e.mu.Unlock()
		e.clk.sleepFor(e.cfg.Faults.HangFor, WireSleep)
		e.mu.Lock()
		t = e.clk.now()
	}
	if t < e.silentUntil {
		e.mu.Unlock()
		return 0, ErrTimeout
	}
	if t < e.pendingUntil || e.cur&(fNotReady|fBadData) != 0 {
		e.mu.Unlock()
		return 0, ErrAgain
	}
	if len(m.Out) > e.cfg.MaxRequest-ec.HeaderSize {
		e.mu.Unlock()
		return 0, ErrTooBig
	}
	res, n := e.execute(m.Command, m.Version, m.Out, t)
	res, n = e.commandFaults(m.Command, res, n)
	cur := e.cur
	wait := e.cfg.Processing
	if cur&fLate != 0 {
		wait += e.cfg.Faults.LateBy
	}
	insize := min(len(m.In), e.cfg.MaxResponse-ec.HeaderSize)
	if cur&(fNoAnswer|fChecksum|fBadLen) == 0 && n <= insize {
		copy(m.In, e.scratch[:n])
	}
	e.mu.Unlock()

	csBudget := e.cfg.CSBudget
	switch {
	case cur&fNoAnswer != 0 || wait > HostDeadline:
		return 0, ErrTimeout
	case e.cfg.Timing == TimingKernelCommit && csBudget > 0 && wait > csBudget:
		// Over SPI the EC would have given up with CS held: the kernel times out.
		return 0, ErrTimeout
	case wait > 0:
		e.clk.sleepFor(wait, e.cfg.Wire)
	}
	switch {
	case cur&fBadLen != 0 || n > insize:
		return 0, ErrMsgSize
	case cur&fChecksum != 0:
		return 0, ErrChecksum
	}
	m.Result = res
	return n, nil
}

// Limits returns the EC's payload limits.
func (tr *Transport) Limits() (maxOut, maxIn int) {
	return tr.e.cfg.MaxRequest - ec.HeaderSize, tr.e.cfg.MaxResponse - ec.HeaderSize
}

// Close does nothing.
func (tr *Transport) Close() error { return nil }

// String names the transport.
func (tr *Transport) String() string { return "sim:chardev" }
