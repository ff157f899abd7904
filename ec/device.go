package ec

import (
	"errors"
	"fmt"
	"time"
)

// RetryPolicy bounds the retries Device.Run may spend inside one command.
type RetryPolicy struct {
	// InProgressPolls is how many GET_COMMS_STATUS polls follow an EC_RES_IN_PROGRESS
	// answer before the command fails as not_ready (kernel EC_COMMAND_RETRIES = 50).
	InProgressPolls int
	// InProgressDelay is the sleep before each poll (kernel: 10 ms).
	InProgressDelay time.Duration
	// NotReadyRetries is how many times a command is re-sent after the transport
	// reported the EC not ready (CauseNotReady, e.g. 0xFB/0xFC/0xED or EAGAIN).
	// The kernel never re-sends after such an -EAGAIN (cros_ec_spi.c
	// do_cros_ec_pkt_xfer_spi returns it to the caller); this re-send is ours, as
	// flashrom's 3 attempts are: a 0xFB/0xFC is the EC re-arming or a request it
	// dropped, and the same command a millisecond later usually goes through. It
	// is counted in Msg.Retries. It is not done after ErrInProgressTimeout: the
	// kernel has already polled for half a second.
	NotReadyRetries int
	// NotReadyDelay is the pause before such a re-send.
	NotReadyDelay time.Duration
}

// The kernel's IN_PROGRESS polling (drivers/platform/chrome/cros_ec_proto.c,
// cros_ec_wait_until_complete): EC_COMMAND_RETRIES polls of GET_COMMS_STATUS,
// usleep_range(10000, 11000) before each. Every transport that models it uses these.
const (
	KernelCommandRetries = 50
	KernelPollDelay      = 10 * time.Millisecond
)

// DefaultRetryPolicy returns the kernel's IN_PROGRESS numbers (KernelCommandRetries polls,
// KernelPollDelay apart) and 3 not-ready retries 1 ms apart.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{InProgressPolls: KernelCommandRetries, InProgressDelay: KernelPollDelay, NotReadyRetries: 3, NotReadyDelay: time.Millisecond}
}

// ErrInProgressTimeout is returned when the EC still reports PROCESSING after every allowed
// poll, by Device or (wrapped) by a transport whose kernel polled itself (chardev: EAGAIN
// after cros_ec_wait_until_complete's 50 polls). Device does not re-send after it.
var ErrInProgressTimeout = &Error{Cause: CauseNotReady, Op: "ec: command still in progress after all GET_COMMS_STATUS polls"}

// resultUnset is put in Msg.Result before a transfer, as ectool initialises result to 0xff.
const resultUnset Result = 0xff

// scratchSize is the response buffer of the typed commands: the largest packet any
// known EC advertises (0x220) is more than every fixed response here needs.
const scratchSize = 0x220

// Device is one EC reached through a Transport: it runs host commands with the
// kernel's IN_PROGRESS polling (where the transport does not leave it to the kernel)
// plus our bounded not-ready re-sends, and decodes the typed answers.
//
// A Device is not safe for concurrent use: one worker thread owns it and calls it
// for every command (the EC itself handles one command at a time).
type Device struct {
	name   string
	t      Transport
	policy RetryPolicy
	sleep  func(time.Duration)

	lastRetries int

	helloSeq  uint32
	helloOut  [HelloSize]byte
	helloIn   [HelloSize]byte
	helloMsg  Msg
	statusIn  [CommsStatusSize]byte
	statusMsg Msg
	cmdOut    [4]byte
	cmdMsg    Msg
	buf       []byte

	getVersionVer int8 // GET_VERSION command version to use: -1 unknown, else 0 or 1
}

// NewDevice returns a Device named name (the metrics' device label) that talks through t,
// with DefaultRetryPolicy.
func NewDevice(name string, t Transport) *Device {
	return &Device{
		name:          name,
		t:             t,
		policy:        DefaultRetryPolicy(),
		sleep:         time.Sleep,
		buf:           make([]byte, scratchSize),
		getVersionVer: -1,
	}
}

// Name returns the device label, e.g. "cros_ec" or "sim".
func (d *Device) Name() string { return d.name }

// Transport returns the transport the device talks through.
func (d *Device) Transport() Transport { return d.t }

// Close closes the transport.
func (d *Device) Close() error { return d.t.Close() }

// RetryPolicy returns the retry bounds in use.
func (d *Device) RetryPolicy() RetryPolicy { return d.policy }

// SetRetryPolicy sets the retry bounds; negative counts are treated as 0.
func (d *Device) SetRetryPolicy(p RetryPolicy) {
	p.InProgressPolls = max(p.InProgressPolls, 0)
	p.NotReadyRetries = max(p.NotReadyRetries, 0)
	d.policy = p
}

// LastRetries returns the retries spent by the latest Run (not-ready re-sends plus
// GET_COMMS_STATUS polls).
func (d *Device) LastRetries() int { return d.lastRetries }

// IsUnsupported reports whether err is the EC's EC_RES_INVALID_COMMAND answer: the EC
// does not implement the command (an older firmware), a normal "not supported".
func IsUnsupported(err error) bool { return errors.Is(err, ResInvalidCommand) }

// Run sends m and returns the number of response bytes in m.In.
//
// Like the kernel's cros_ec_send_command, an EC_RES_IN_PROGRESS answer is followed by
// up to RetryPolicy.InProgressPolls GET_COMMS_STATUS polls, InProgressDelay apart, until
// the EC clears PROCESSING; then, unlike the kernel (which returns the status command's
// byte count and no data), a command that expects data is sent once more to fetch it.
// Over /dev/cros_ec the kernel has done that polling already and IN_PROGRESS never comes
// up; chardev reports the kernel's answer-less result as CauseInProgress.
// A transport error with CauseNotReady is re-sent up to NotReadyRetries times (ours, not
// the kernel's; see RetryPolicy), except ErrInProgressTimeout.
// Every re-send and poll is counted in m.Retries and LastRetries. A non-success EC
// result is returned as the error (a Result, CauseECResult).
func (d *Device) Run(m *Msg) (int, error) {
	m.Retries = 0
	n, err := d.xfer(m)
	polls := 0
	for m.Result == ResInProgress && (err == nil || CauseOf(err) == CauseNotReady) {
		done := false
		for polls < d.policy.InProgressPolls {
			polls++
			m.Retries++
			d.sleep(d.policy.InProgressDelay)
			flags, serr := d.pollStatus()
			if serr != nil {
				if CauseOf(serr) == CauseNotReady {
					continue // kernel: -EAGAIN from the status command means try again
				}
				d.lastRetries = m.Retries
				return 0, serr
			}
			if d.statusMsg.Result != ResSuccess {
				m.Result = d.statusMsg.Result
				d.lastRetries = m.Retries
				return 0, m.Result
			}
			if flags&CommsStatusProcessing == 0 {
				done = true
				break
			}
		}
		if !done {
			d.lastRetries = m.Retries
			return 0, ErrInProgressTimeout
		}
		if len(m.In) == 0 {
			m.Result = ResSuccess
			d.lastRetries = m.Retries
			return 0, nil
		}
		m.Retries++
		n, err = d.xfer(m)
	}
	d.lastRetries = m.Retries
	if err != nil {
		return n, err
	}
	if n < 0 || n > len(m.In) {
		return 0, &Error{Cause: CauseBadResponse, Op: "ec: transport returned more bytes than asked for"}
	}
	if m.Result != ResSuccess {
		return n, m.Result
	}
	return n, nil
}

// xfer is one transfer with the bounded not-ready retries.
func (d *Device) xfer(m *Msg) (int, error) {
	for attempt := 0; ; attempt++ {
		m.Result = resultUnset
		n, err := d.t.Xfer(m)
		if err == nil || m.Result == ResInProgress {
			return n, err
		}
		if attempt >= d.policy.NotReadyRetries || CauseOf(err) != CauseNotReady || errors.Is(err, ErrInProgressTimeout) {
			return n, err
		}
		m.Retries++
		d.sleep(d.policy.NotReadyDelay)
	}
}

// pollStatus sends one GET_COMMS_STATUS and returns its flags.
func (d *Device) pollStatus() (uint32, error) {
	d.statusMsg = Msg{Command: CmdGetCommsStatus, In: d.statusIn[:]}
	d.statusMsg.Result = resultUnset
	n, err := d.t.Xfer(&d.statusMsg)
	if err != nil {
		return 0, err
	}
	if d.statusMsg.Result != ResSuccess {
		return 0, nil
	}
	return DecodeUint32("GET_COMMS_STATUS", d.statusIn[:n])
}

// Hello sends HELLO and checks out_data = in_data + 0x01020304. It allocates nothing
// when it succeeds. Each call uses a new in_data so a stale answer is caught.
func (d *Device) Hello() error {
	d.helloSeq++
	in := 0xa0b0c0d0 + d.helloSeq
	EncodeHello(d.helloOut[:], in)
	d.helloMsg = Msg{Command: CmdHello, Out: d.helloOut[:], In: d.helloIn[:]}
	n, err := d.Run(&d.helloMsg)
	if err != nil {
		return d.wrap(CmdHello, 0, err)
	}
	if err := DecodeHello(d.helloIn[:n], in); err != nil {
		return d.wrap(CmdHello, 0, err)
	}
	return nil
}

func (d *Device) wrap(cmd uint16, ver uint8, err error) error {
	return fmt.Errorf("%s: %s v%d: %w", d.name, CommandName(cmd), ver, err)
}

// call runs a typed command with the shared scratch buffer and returns the response
// bytes (valid until the next call).
func (d *Device) call(cmd uint16, ver uint8, out []byte, insize int) ([]byte, error) {
	insize = min(insize, len(d.buf))
	d.cmdMsg = Msg{Command: cmd, Version: ver, Out: out, In: d.buf[:insize]}
	n, err := d.Run(&d.cmdMsg)
	if err != nil {
		return nil, d.wrap(cmd, ver, err)
	}
	return d.buf[:n], nil
}

func (d *Device) decodeErr(cmd uint16, ver uint8, err error) error { return d.wrap(cmd, ver, err) }

// maxIn is the response payload to ask for when the answer's size is not fixed.
func (d *Device) maxIn() int {
	_, in := d.t.Limits()
	if in <= 0 {
		in = DefaultMaxIn
	}
	return min(in, len(d.buf))
}

// CmdVersions returns the bitmask of versions the EC supports for cmd (GET_CMD_VERSIONS:
// v0 with a u8 command for codes up to 0xff, v1 with a u16 command above).
// EC_RES_INVALID_PARAM means the EC does not know cmd.
func (d *Device) CmdVersions(cmd uint16) (uint32, error) {
	var ver uint8
	var out []byte
	if cmd <= 0xff {
		d.cmdOut[0] = byte(cmd)
		out = d.cmdOut[:1]
	} else {
		ver = 1
		d.cmdOut[0], d.cmdOut[1] = byte(cmd), byte(cmd>>8)
		out = d.cmdOut[:2]
	}
	b, err := d.call(CmdGetCmdVersions, ver, out, CmdVersionsSize)
	if err != nil {
		return 0, err
	}
	m, err := DecodeUint32("GET_CMD_VERSIONS", b)
	if err != nil {
		return 0, d.decodeErr(CmdGetCmdVersions, ver, err)
	}
	return m, nil
}

// Version runs GET_VERSION, v1 when GET_CMD_VERSIONS says the EC supports it (the answer
// is cached for the life of the Device), else v0.
func (d *Device) Version() (VersionInfo, error) {
	if d.getVersionVer < 0 {
		mask, err := d.CmdVersions(CmdGetVersion)
		switch {
		case err == nil && mask&(1<<1) != 0:
			d.getVersionVer = 1
		case err == nil, IsUnsupported(err), errors.Is(err, ResInvalidParam):
			d.getVersionVer = 0
		}
		// Any other error (transport): use v0 this time and ask again next time.
	}
	return d.VersionV(uint8(max(d.getVersionVer, 0)))
}

// VersionV runs GET_VERSION with command version ver (0, or 1 for the CrOS FWIDs),
// without asking GET_CMD_VERSIONS first.
func (d *Device) VersionV(ver uint8) (VersionInfo, error) {
	size := VersionV0Size
	if ver >= 1 {
		size = VersionV1Size
	}
	b, err := d.call(CmdGetVersion, ver, nil, size)
	if err != nil {
		return VersionInfo{}, err
	}
	vi, err := DecodeVersion(b, ver)
	if err != nil {
		return VersionInfo{}, d.decodeErr(CmdGetVersion, ver, err)
	}
	return vi, nil
}

// BuildInfo runs GET_BUILD_INFO and returns the build string.
func (d *Device) BuildInfo() (string, error) {
	b, err := d.call(CmdGetBuildInfo, 0, nil, d.maxIn())
	if err != nil {
		return "", err
	}
	s, err := DecodeBuildInfo(b)
	if err != nil {
		return "", d.decodeErr(CmdGetBuildInfo, 0, err)
	}
	return s, nil
}

// ChipInfo runs GET_CHIP_INFO.
func (d *Device) ChipInfo() (ChipInfo, error) {
	b, err := d.call(CmdGetChipInfo, 0, nil, ChipInfoSize)
	if err != nil {
		return ChipInfo{}, err
	}
	c, err := DecodeChipInfo(b)
	if err != nil {
		return ChipInfo{}, d.decodeErr(CmdGetChipInfo, 0, err)
	}
	return c, nil
}

// ProtocolInfo runs GET_PROTOCOL_INFO.
func (d *Device) ProtocolInfo() (ProtocolInfo, error) {
	b, err := d.call(CmdGetProtocolInfo, 0, nil, ProtocolInfoSize)
	if err != nil {
		return ProtocolInfo{}, err
	}
	p, err := DecodeProtocolInfo(b)
	if err != nil {
		return ProtocolInfo{}, d.decodeErr(CmdGetProtocolInfo, 0, err)
	}
	return p, nil
}

// CommsStatus runs GET_COMMS_STATUS and returns its flags (bit 0 = PROCESSING).
func (d *Device) CommsStatus() (uint32, error) {
	b, err := d.call(CmdGetCommsStatus, 0, nil, CommsStatusSize)
	if err != nil {
		return 0, err
	}
	f, err := DecodeUint32("GET_COMMS_STATUS", b)
	if err != nil {
		return 0, d.decodeErr(CmdGetCommsStatus, 0, err)
	}
	return f, nil
}

// Features runs GET_FEATURES.
func (d *Device) Features() (Features, error) {
	b, err := d.call(CmdGetFeatures, 0, nil, FeaturesSize)
	if err != nil {
		return Features{}, err
	}
	f, err := DecodeFeatures(b)
	if err != nil {
		return Features{}, d.decodeErr(CmdGetFeatures, 0, err)
	}
	return f, nil
}

// UptimeInfo runs GET_UPTIME_INFO. Older ECs answer INVALID_COMMAND (see IsUnsupported).
func (d *Device) UptimeInfo() (UptimeInfo, error) {
	b, err := d.call(CmdGetUptimeInfo, 0, nil, UptimeInfoSize)
	if err != nil {
		return UptimeInfo{}, err
	}
	u, err := DecodeUptimeInfo(b)
	if err != nil {
		return UptimeInfo{}, d.decodeErr(CmdGetUptimeInfo, 0, err)
	}
	return u, nil
}
