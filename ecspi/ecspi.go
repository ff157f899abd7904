// Package ecspi speaks the ChromeOS EC SPI protocol v3 over any periph.io
// spi.Conn, step by step as Linux's cros_ec_spi do_cros_ec_pkt_xfer_spi does:
// CS recovery gap, request sent full duplex with CS held, EAGAIN on
// 0xED/0xFB/0xFC during the request, 32-byte polls for the 0xEC frame start up
// to a deadline, exactly insize+8 bytes after 0xEC, data_len and checksum
// checks, IN_PROGRESS passed up in Msg.Result.
//
// Two differences from the kernel follow from periph.io's spi.Packet, which has
// no delay field and (on spidev) cannot be empty: CS is released by the last
// read of the response (no extra clock) when PostDelay is 0, otherwise, and on
// every error path, by one extra byte read after PostDelay with CS held (the EC
// clocks PAST_END or its error byte; harmless); PreDelay is spent just before
// the request transfer, i.e. before CS is asserted, not between assertion and
// the first clock.
package ecspi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"periph.io/x/conn/v3/spi"
)

// Kernel constants (drivers/platform/chrome/cros_ec_spi.c).
const (
	PreambleCount   = 32                     // EC_MSG_PREAMBLE_COUNT: bytes per poll for 0xEC
	DefaultDeadline = 200 * time.Millisecond // EC_MSG_DEADLINE_MS
	DefaultRecovery = 200 * time.Microsecond // EC_SPI_RECOVERY_TIME_NS
	MaxChunk        = 256                    // largest read after the frame start
	FrameStart      = 0xEC                   // EC_SPI_FRAME_START
	PastEnd         = 0xED                   // EC_SPI_PAST_END
	RxBadData       = 0xFB                   // EC_SPI_RX_BAD_DATA
	NotReady        = 0xFC                   // EC_SPI_NOT_READY
)

// Config holds the transfer timing; zero values mean the kernel defaults and a
// negative Recovery means no recovery gap.
type Config struct {
	PreDelay  time.Duration // before the request (google,cros-ec-spi-pre-delay)
	PostDelay time.Duration // before releasing CS (google,cros-ec-spi-msg-delay)
	Recovery  time.Duration // min CS-high gap between transactions (200 µs)
	Deadline  time.Duration // how long to poll for 0xEC (200 ms)
}

func (c Config) withDefaults() Config {
	if c.Recovery == 0 {
		c.Recovery = DefaultRecovery
	}
	if c.Deadline <= 0 {
		c.Deadline = DefaultDeadline
	}
	return c
}

// Errors returned by Xfer; each carries the ec.Cause the kernel's errno maps to.
var (
	ErrNotReady = &ec.Error{Cause: ec.CauseNotReady, Op: "ecspi: EAGAIN: EC not ready (0xED/0xFB/0xFC clocked during the request)"}
	ErrTimeout  = &ec.Error{Cause: ec.CauseTimeout, Op: "ecspi: EC failed to respond in time"}
	ErrDataLen  = &ec.Error{Cause: ec.CauseBadResponse, Op: "ecspi: EMSGSIZE: response data_len larger than the receive buffer"}
)

var _ ec.Transport = (*Transport)(nil)

// Transport is an ec.Transport over one EC on an SPI chip select.
type Transport struct {
	c      spi.Conn
	cfg    Config
	name   string
	maxOut int
	maxIn  int
	tx     []byte // request packet
	echo   []byte // MISO while the request is clocked
	din    []byte // frame-start polls and response
	pk     [1]spi.Packet
	lastUp time.Time // when CS was last released
	held   bool      // CS asserted after the last call
	closer func() error
	// sleep waits d; tests may replace it.
	sleep func(d time.Duration)
}

// New queries the EC's protocol limits over c (GET_PROTOCOL_INFO with small
// buffers, like the kernel's probe) and returns a Transport whose buffers are
// sized once from them.
func New(c spi.Conn, cfg Config) (*Transport, error) {
	t := &Transport{
		c:     c,
		cfg:   cfg.withDefaults(),
		name:  "spi:" + c.String(),
		sleep: time.Sleep,
	}
	// Probe buffers as in the kernel: dout 8, din 32+8+12.
	t.maxOut, t.maxIn = 0, ec.ProtocolInfoSize
	t.tx, t.echo, t.din = make([]byte, ec.HeaderSize), make([]byte, ec.HeaderSize), make([]byte, PreambleCount+ec.HeaderSize+ec.ProtocolInfoSize)
	var in [ec.ProtocolInfoSize]byte
	m := ec.Msg{Command: ec.CmdGetProtocolInfo, In: in[:]}
	n, err := t.probe(&m)
	if err != nil {
		return nil, &ec.Error{Cause: ec.CauseOf(err), Op: "ecspi: GET_PROTOCOL_INFO over " + c.String() + " (is an EC on this chip select, powered, at a speed it supports?)", Err: err}
	}
	if m.Result != ec.ResSuccess {
		return nil, &ec.Error{Cause: ec.CauseECResult, Op: "ecspi: GET_PROTOCOL_INFO", Err: m.Result}
	}
	p, err := ec.DecodeProtocolInfo(in[:n])
	if err != nil {
		return nil, fmt.Errorf("ecspi: %w", err)
	}
	if p.Versions&(1<<3) == 0 {
		return nil, &ec.Error{Cause: ec.CauseBadResponse, Op: fmt.Sprintf("ecspi: EC does not support host-command protocol v3 (versions mask %#x); v2-only ECs are not supported", p.Versions)}
	}
	t.maxOut, t.maxIn = p.MaxRequest(), p.MaxResponse()
	t.tx = make([]byte, p.MaxRequestPacket)
	t.echo = make([]byte, p.MaxRequestPacket)
	t.din = make([]byte, int(p.MaxResponsePacket)+PreambleCount)
	return t, nil
}

// probe sends GET_PROTOCOL_INFO as the kernel's cros_ec_get_proto_info does, through
// cros_ec_send_command: an EC_RES_IN_PROGRESS answer (the EC still busy with a command
// from before we opened it) is followed by GET_COMMS_STATUS polls, 10 ms apart, up to 50,
// until PROCESSING clears (cros_ec_wait_until_complete). There the kernel stops, with the
// status poll's 4 bytes and none of the answer; we send GET_PROTOCOL_INFO again to get it.
// A framing failure is tried again too, up to 3 attempts in all (the kernel retries once,
// on ETIMEDOUT, for slow-booting FPMCUs; one bad transfer should not fail the open).
func (t *Transport) probe(m *ec.Msg) (int, error) {
	var n int
	var err error
	for try := 0; try < 3; try++ {
		n, err = t.Xfer(m)
		if err == nil && m.Result == ec.ResInProgress {
			if err = t.waitUntilComplete(); err != nil {
				return 0, err
			}
			continue
		}
		if c := ec.CauseOf(err); c == ec.CauseNone || c == ec.CauseIO {
			break
		}
	}
	return n, err
}

// waitUntilComplete polls GET_COMMS_STATUS like cros_ec_proto.c cros_ec_wait_until_complete:
// sleep 10 ms, poll; EAGAIN (0xFB/0xFC/0xED) means poll again; any other failure, an error
// result or an empty answer ends it; PROCESSING clear means done; after 50 polls, give up.
func (t *Transport) waitUntilComplete() error {
	var st [ec.CommsStatusSize]byte
	sm := ec.Msg{Command: ec.CmdGetCommsStatus, In: st[:]}
	for i := 0; i < ec.KernelCommandRetries; i++ {
		t.sleep(ec.KernelPollDelay)
		n, err := t.Xfer(&sm)
		switch {
		case ec.CauseOf(err) == ec.CauseNotReady:
			continue
		case err != nil:
			return err
		case sm.Result != ec.ResSuccess:
			return &ec.Error{Cause: ec.CauseECResult, Op: "ecspi: GET_COMMS_STATUS after IN_PROGRESS", Err: sm.Result}
		case n < ec.CommsStatusSize:
			return &ec.Error{Cause: ec.CauseBadResponse, Op: fmt.Sprintf("ecspi: GET_COMMS_STATUS answered %d bytes, want 4", n)}
		case binary.LittleEndian.Uint32(st[:])&ec.CommsStatusProcessing == 0:
			return nil
		}
	}
	return fmt.Errorf("ecspi: %d GET_COMMS_STATUS polls: %w", ec.KernelCommandRetries, ec.ErrInProgressTimeout)
}

// Limits returns the largest request and response payloads.
func (t *Transport) Limits() (maxOut, maxIn int) { return t.maxOut, t.maxIn }

// String names the transport, e.g. "spi:/dev/spidev0.0".
func (t *Transport) String() string { return t.name }

// Close releases the SPI port if Open opened it.
func (t *Transport) Close() error {
	if t.closer != nil {
		return t.closer()
	}
	return nil
}

// FindFrame returns the index of the first FRAME_START byte in b, or -1.
func FindFrame(b []byte) int { return bytes.IndexByte(b, FrameStart) }

// notReadyByte reports a byte that, clocked during the request, means the EC
// did not take it (kernel: -EAGAIN).
func notReadyByte(b []byte) bool {
	for _, c := range b {
		if c == PastEnd || c == RxBadData || c == NotReady {
			return true
		}
	}
	return false
}

// txn clocks one packet; keep leaves CS asserted afterwards.
func (t *Transport) txn(w, r []byte, keep bool) error {
	t.pk[0] = spi.Packet{W: w, R: r, KeepCS: keep}
	err := t.c.TxPackets(t.pk[:])
	t.pk[0] = spi.Packet{}
	if err != nil {
		t.held = false // unknown; the next transfer re-asserts anyway
		return &ec.Error{Cause: ec.CauseIO, Op: "ecspi: SPI transfer on " + t.c.String(), Err: err}
	}
	t.held = keep
	if !keep {
		t.lastUp = time.Now()
	}
	return nil
}

// release deasserts CS after PostDelay with one extra clocked byte.
func (t *Transport) release() error {
	if !t.held {
		return nil
	}
	if t.cfg.PostDelay > 0 {
		t.sleep(t.cfg.PostDelay)
	}
	return t.txn(nil, t.din[len(t.din)-1:], false)
}

// fail releases CS and returns err.
func (t *Transport) fail(err error) (int, error) {
	if rerr := t.release(); rerr != nil && err == nil {
		err = rerr
	}
	return 0, err
}

// Xfer sends m and fills m.In and m.Result; see the package doc for the steps.
func (t *Transport) Xfer(m *ec.Msg) (int, error) {
	if len(m.Out) > t.maxOut {
		return 0, ec.ErrRequestTooBig
	}
	insize := min(len(m.In), t.maxIn) // the kernel clamps insize silently
	n, err := ec.EncodeRequest(t.tx, m.Command, m.Version, m.Out)
	if err != nil {
		return 0, err
	}
	// 2. CS recovery gap: busy-wait the remainder, like ndelay().
	if t.cfg.Recovery > 0 && !t.lastUp.IsZero() {
		for time.Since(t.lastUp) < t.cfg.Recovery {
		}
	}
	if t.cfg.PreDelay > 0 {
		t.sleep(t.cfg.PreDelay)
	}
	// 4. Request, full duplex, CS held.
	if err := t.txn(t.tx[:n], t.echo[:n], true); err != nil {
		return t.fail(err)
	}
	// 5. Any 0xED/0xFB/0xFC clocked during the request: EAGAIN.
	if notReadyByte(t.echo[:n]) {
		return t.fail(ErrNotReady)
	}
	// 6. Poll 32 bytes at a time for 0xEC until the deadline.
	need := insize + ec.HeaderSize
	din := t.din
	deadline := time.Now().Add(t.cfg.Deadline)
	got := 0
	for {
		start := time.Now()
		if err := t.txn(nil, din[:PreambleCount], true); err != nil {
			return t.fail(err)
		}
		if i := FindFrame(din[:PreambleCount]); i >= 0 {
			got = copy(din, din[i+1:PreambleCount])
			break
		}
		if start.After(deadline) {
			return t.fail(ErrTimeout)
		}
	}
	got = min(got, need) // surplus bytes are PAST_END filler
	last := t.cfg.PostDelay <= 0
	// 7. Rest of the header, then data_len against the buffer, then the rest.
	if got < ec.HeaderSize {
		keep := !(last && need == ec.HeaderSize)
		if err := t.txn(nil, din[got:ec.HeaderSize], keep); err != nil {
			return t.fail(err)
		}
		got = ec.HeaderSize
	}
	dataLen := int(binary.LittleEndian.Uint16(din[4:]))
	if dataLen > t.maxIn {
		return t.fail(ErrDataLen)
	}
	for got < need {
		k := min(need-got, MaxChunk)
		keep := !(last && got+k == need)
		if err := t.txn(nil, din[got:got+k], keep); err != nil {
			return t.fail(err)
		}
		got += k
	}
	// 8. Release CS.
	if err := t.release(); err != nil {
		return 0, err
	}
	// 9-10. IN_PROGRESS goes up in m.Result; then data_len and checksum.
	m.Result = ec.Result(binary.LittleEndian.Uint16(din[2:]))
	if m.Result == ec.ResInProgress {
		return 0, nil
	}
	_, data, err := ec.DecodeResponse(din[:need], insize)
	if err != nil {
		return 0, err
	}
	return copy(m.In, data), nil
}
