package ecsim

import (
	"encoding/binary"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ec-exporter/ec_exporter/ec"
)

// Errors of the kernel model, each wrapping the errno the kernel's /dev/cros_ec ioctl
// returns in the same situation.
var (
	ErrTimeout  = &ec.Error{Cause: ec.CauseTimeout, Op: "ecsim: EC failed to respond in time", Err: unix.ETIMEDOUT}
	ErrChecksum = &ec.Error{Cause: ec.CauseChecksum, Op: "ecsim: bad packet checksum", Err: unix.EBADMSG}
	ErrMsgSize  = &ec.Error{Cause: ec.CauseBadResponse, Op: "ecsim: response data_len larger than insize", Err: unix.EMSGSIZE}
	ErrTooBig   = &ec.Error{Cause: ec.CauseBadResponse, Op: "ecsim: request larger than the EC's max_request", Err: unix.EMSGSIZE}
	ErrAgain    = &ec.Error{Cause: ec.CauseNotReady, Op: "ecsim: EC not ready (0xFB/0xFC during the request)", Err: unix.EAGAIN}
	// ErrStillBusy is the kernel's -EAGAIN after EC_COMMAND_RETRIES polls that all said PROCESSING.
	ErrStillBusy = &ec.Error{Cause: ec.CauseNotReady, Op: "ecsim: EC still processing after the kernel's GET_COMMS_STATUS polls", Err: unix.EAGAIN}
	// ErrNoStatus is the kernel's -EPROTO for a GET_COMMS_STATUS answer without data.
	ErrNoStatus = &ec.Error{Cause: ec.CauseBadResponse, Op: "ecsim: GET_COMMS_STATUS answered no data", Err: unix.EPROTO}
)

// HostDeadline is the kernel's EC_MSG_DEADLINE_MS: a late answer beyond it is a
// timeout through the chardev transport.
const HostDeadline = 200 * time.Millisecond

// The kernel's IN_PROGRESS polling, as the model runs it (ec.KernelCommandRetries and
// ec.KernelPollDelay, cros_ec_wait_until_complete).
const (
	KernelCommandRetries = ec.KernelCommandRetries
	KernelPollDelay      = ec.KernelPollDelay
)

// Transport is the simulated EC behind the kernel's command path, as a program
// using /dev/cros_ec sees it; see NewTransport.
type Transport struct {
	e         *EC
	status    ec.Msg
	statusBuf [4]byte
}

// NewTransport returns the simulated EC behind a model of the kernel's
// cros_ec_cmd_xfer (drivers/platform/chrome/cros_ec_proto.c), as an ec.Transport:
// same handlers, state and faults as e's SPI side, faults surfacing as the kernel's
// errnos (ETIMEDOUT → CauseTimeout, EBADMSG → CauseChecksum, EMSGSIZE →
// CauseBadResponse, EAGAIN → CauseNotReady; errors.As finds the unix.Errno).
//
// Like the kernel (cros_ec_send_command → cros_ec_wait_until_complete), an
// EC_RES_IN_PROGRESS answer never comes up: the model sleeps KernelPollDelay and
// sends GET_COMMS_STATUS, up to KernelCommandRetries times, skipping polls that
// fail with EAGAIN. When PROCESSING clears it returns what the kernel returns: the
// status command's 4 bytes with result SUCCESS, none of the command's data (m.In
// is left as it was). After KernelCommandRetries polls it returns ErrStillBusy
// (EAGAIN). Wire time does not apply; processing time (and a late answer) is slept,
// and a "no answer", an answer later than HostDeadline, or (under
// TimingKernelCommit, as the kernel's SPI driver would see it) one later than the
// CS budget, returns ErrTimeout at once.
func NewTransport(e *EC) *Transport {
	t := &Transport{e: e}
	t.status = ec.Msg{Command: cmdGetCommsStatus, In: t.statusBuf[:]}
	return t
}

// Xfer runs one host command as cros_ec_cmd_xfer does.
func (tr *Transport) Xfer(m *ec.Msg) (int, error) {
	n, err := tr.xfer(m)
	if err != nil || m.Result != ec.ResInProgress {
		return n, err
	}
	// cros_ec_proto.c cros_ec_wait_until_complete.
	for i := 0; i < KernelCommandRetries; i++ {
		tr.e.clk.sleepFor(KernelPollDelay, WireSleep)
		tr.status.Result = 0xff
		sn, serr := tr.xfer(&tr.status)
		if serr == ErrAgain {
			continue
		}
		if serr != nil {
			return 0, serr
		}
		m.Result = tr.status.Result
		if tr.status.Result != ec.ResSuccess {
			return sn, nil
		}
		if sn == 0 {
			return 0, ErrNoStatus
		}
		if binary.LittleEndian.Uint32(tr.statusBuf[:])&commsStatusProcessing == 0 {
			return sn, nil
		}
	}
	return 0, ErrStillBusy
}

// xfer is one transfer (the transport driver's pkt_xfer): IN_PROGRESS comes back in m.Result.
func (tr *Transport) xfer(m *ec.Msg) (int, error) {
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

	switch {
	case cur&fNoAnswer != 0 || wait > HostDeadline:
		return 0, ErrTimeout
	case e.cfg.csBudget() > 0 && wait > e.cfg.csBudget():
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

var _ ec.Transport = (*Transport)(nil)
