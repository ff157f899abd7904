package ecspi_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecspi"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/spi"
)

// script is a fake spi.Conn: each CS-asserted transaction clocks out the next
// byte string of txns, then fill.
type script struct {
	txns  [][]byte
	fill  byte
	i     int // current transaction (index into txns), -1 before the first
	pos   int
	cs    bool
	mosi  [][]byte // per transaction
	n     []int    // bytes clocked per transaction
	calls []int    // TxPackets calls per transaction
	keep  bool     // KeepCS of the last packet seen
	up    []time.Time
	down  []time.Time
	err   error // returned by the next TxPackets
}

func newScript(txns ...[]byte) *script { return &script{txns: txns, fill: 0xED, i: -1} }

func (s *script) String() string       { return "script" }
func (s *script) Duplex() conn.Duplex  { return conn.Full }
func (s *script) Tx(w, r []byte) error { return s.TxPackets([]spi.Packet{{W: w, R: r}}) }

func (s *script) TxPackets(p []spi.Packet) error {
	if s.err != nil {
		return s.err
	}
	for _, pk := range p {
		if !s.cs {
			s.cs = true
			s.i++
			s.pos = 0
			s.mosi = append(s.mosi, nil)
			s.n = append(s.n, 0)
			s.calls = append(s.calls, 0)
			s.down = append(s.down, time.Now())
		}
		n := max(len(pk.W), len(pk.R))
		if n == 0 {
			return errors.New("script: empty packet (spidev via periph rejects those)")
		}
		var cur []byte
		if s.i < len(s.txns) {
			cur = s.txns[s.i]
		}
		for j := 0; j < n; j++ {
			b := s.fill
			if s.pos < len(cur) {
				b = cur[s.pos]
			}
			s.pos++
			if j < len(pk.R) {
				pk.R[j] = b
			}
			var w byte
			if j < len(pk.W) {
				w = pk.W[j]
			}
			s.mosi[s.i] = append(s.mosi[s.i], w)
		}
		s.n[s.i] += n
		s.keep = pk.KeepCS
		if !pk.KeepCS {
			s.cs = false
			s.up = append(s.up, time.Now())
		}
	}
	s.calls[s.i]++
	return nil
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func echo(n int) []byte { return cat([]byte{0x78}, rep(0xF9, n-1)) }

func respPkt(res ec.Result, data ...byte) []byte {
	b := make([]byte, 8+len(data))
	n, _ := ec.EncodeResponse(b, res, data)
	return b[:n]
}

// protoInfo is the transaction answering New's GET_PROTOCOL_INFO.
func protoInfo(maxReq, maxResp uint16) []byte {
	d := make([]byte, 12)
	binary.LittleEndian.PutUint32(d, 1<<3)
	binary.LittleEndian.PutUint16(d[4:], maxReq)
	binary.LittleEndian.PutUint16(d[6:], maxResp)
	binary.LittleEndian.PutUint32(d[8:], 1)
	return cat(echo(8), []byte{0xFA, 0xEC}, respPkt(ec.ResSuccess, d...))
}

func newScripted(t *testing.T, cfg ecspi.Config, txns ...[]byte) (*ecspi.Transport, *script) {
	t.Helper()
	s := newScript(append([][]byte{protoInfo(0x220, 0x220)}, txns...)...)
	tr, err := ecspi.New(s, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr, s
}

// helloMsg is HELLO with an insize of in bytes.
func helloMsg(in int) *ec.Msg {
	return &ec.Msg{Command: 1, Out: []byte{0xd0, 0xc0, 0xb0, 0xa0}, In: make([]byte, in)}
}

var helloResp = respPkt(ec.ResSuccess, 0xd4, 0xc3, 0xb2, 0xa1)

// clocked is how many bytes the kernel's algorithm clocks for a request of
// reqLen, 0xEC after pre preamble bytes, and insize.
func clocked(reqLen, pre, insize int) int {
	chunks := pre/32 + 1
	after := 32*chunks - pre - 1
	need := insize + 8
	if after >= need {
		return reqLen + 32*chunks + 1 // the response is all in the poll: one release byte
	}
	return reqLen + 32*chunks + need - after
}

func TestNewSizesFromProtocolInfo(t *testing.T) {
	s := newScript(protoInfo(0x100, 0xf8))
	tr, err := ecspi.New(s, ecspi.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if out, in := tr.Limits(); out != 0x100-8 || in != 0xf8-8 {
		t.Fatalf("Limits = %d, %d", out, in)
	}
	if !bytes.Equal(s.mosi[0][:8], []byte{0x03, 0xf2, 0x0b, 0, 0, 0, 0, 0}) {
		t.Fatalf("GET_PROTOCOL_INFO request % x", s.mosi[0][:8])
	}
	if s.cs {
		t.Fatal("CS left asserted after New")
	}
}

func TestNewErrors(t *testing.T) {
	d := make([]byte, 12)
	binary.LittleEndian.PutUint32(d, 1<<2) // v2 only
	binary.LittleEndian.PutUint16(d[4:], 0x220)
	binary.LittleEndian.PutUint16(d[6:], 0x220)
	v2 := cat(echo(8), []byte{0xEC}, respPkt(ec.ResSuccess, d...))
	tiny := cat(echo(8), []byte{0xEC}, respPkt(ec.ResSuccess, 8, 0, 0, 0, 4, 0, 4, 0, 0, 0, 0, 0))
	for name, txns := range map[string][][]byte{
		"silent EC":  {rep(0xFF, 8)},
		"not v3":     {v2},
		"tiny sizes": {tiny},
		"EC error":   {cat(echo(8), []byte{0xEC}, respPkt(ec.ResInvalidCommand))},
	} {
		t.Run(name, func(t *testing.T) {
			s := newScript(txns...)
			s.fill = 0xFF
			_, err := ecspi.New(s, ecspi.Config{Deadline: 5 * time.Millisecond})
			if err == nil {
				t.Fatal("New succeeded")
			}
			t.Log(err)
		})
	}
}

func TestFrameStartAtEveryOffset(t *testing.T) {
	for _, insize := range []int{4, 40, 300} {
		for pre := 0; pre < 100; pre++ {
			tx := cat(echo(12), rep(0xFA, pre), []byte{0xEC}, helloResp)
			tr, s := newScripted(t, ecspi.Config{}, tx)
			m := helloMsg(insize)
			n, err := tr.Xfer(m)
			if err != nil || n != 4 || m.Result != 0 || binary.LittleEndian.Uint32(m.In) != 0xa1b2c3d4 {
				t.Fatalf("insize %d, 0xEC after %d: n=%d err=%v result=%v in=% x", insize, pre, n, err, m.Result, m.In[:4])
			}
			if got, want := s.n[1], clocked(12, pre, insize); got != want {
				t.Fatalf("insize %d, 0xEC after %d: clocked %d bytes, want %d", insize, pre, got, want)
			}
			if s.cs || s.keep {
				t.Fatalf("insize %d, 0xEC after %d: CS not released", insize, pre)
			}
		}
	}
}

func TestNotReadyDuringRequest(t *testing.T) {
	for _, b := range []byte{0xED, 0xFB, 0xFC} {
		for pos := 0; pos < 12; pos++ {
			e := echo(12)
			e[pos] = b
			tr, s := newScripted(t, ecspi.Config{}, cat(e, []byte{0xEC}, helloResp))
			_, err := tr.Xfer(helloMsg(4))
			if !errors.Is(err, ecspi.ErrNotReady) || ec.CauseOf(err) != ec.CauseNotReady {
				t.Fatalf("%#x at %d: err %v", b, pos, err)
			}
			if s.n[1] != 12+1 || s.cs {
				t.Fatalf("%#x at %d: clocked %d, cs %v; want request + 1 release byte, CS released", b, pos, s.n[1], s.cs)
			}
		}
	}
	// Other bytes during the request are ignored, as in the kernel.
	e := echo(12)
	e[3], e[5], e[7] = 0xFD, 0x00, 0xEC
	tr, _ := newScripted(t, ecspi.Config{}, cat(e, []byte{0xEC}, helloResp))
	if _, err := tr.Xfer(helloMsg(4)); err != nil {
		t.Fatalf("0xFD/0x00/0xEC in the request echo: %v", err)
	}
}

func TestDeadline(t *testing.T) {
	for _, b := range []byte{0xFA, 0xFB, 0xFC, 0xED, 0xFF} {
		tr, s := newScripted(t, ecspi.Config{Deadline: 20 * time.Millisecond}, echo(12))
		s.fill = b
		start := time.Now()
		_, err := tr.Xfer(helloMsg(4))
		if !errors.Is(err, ecspi.ErrTimeout) || ec.CauseOf(err) != ec.CauseTimeout {
			t.Fatalf("polls of %#x: err %v", b, err)
		}
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Fatalf("polls of %#x: gave up after %v, before the deadline", b, d)
		}
		if s.cs || (s.n[1]-12)%32 != 1 {
			t.Fatalf("polls of %#x: clocked %d; want whole 32-byte polls + 1 release byte", b, s.n[1])
		}
	}
}

func TestResponseChecks(t *testing.T) {
	badSum := append([]byte(nil), helloResp...)
	badSum[1]++
	long := respPkt(ec.ResSuccess, make([]byte, 8)...)
	huge := append([]byte(nil), helloResp...)
	binary.LittleEndian.PutUint16(huge[4:], 0x220)
	cases := []struct {
		name   string
		frame  []byte
		insize int
		want   error
		cause  ec.Cause
		result ec.Result
		n      int
	}{
		{"checksum", badSum, 4, ec.ErrChecksum, ec.CauseChecksum, 0, 0},
		{"data_len > insize", long, 4, ec.ErrResponseTooLong, ec.CauseBadResponse, 0, 0},
		{"data_len > receive buffer", huge, 4, ecspi.ErrDataLen, ec.CauseBadResponse, 0, 0},
		{"surplus 0xED after a short answer", helloResp, 64, nil, ec.CauseNone, 0, 4},
		{"EC error result", respPkt(ec.ResInvalidParam), 4, nil, ec.CauseNone, ec.ResInvalidParam, 0},
		{"IN_PROGRESS passed up", respPkt(ec.ResInProgress), 4, nil, ec.CauseNone, ec.ResInProgress, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, s := newScripted(t, ecspi.Config{}, cat(echo(12), rep(0xFA, 40), []byte{0xEC}, tc.frame))
			m := helloMsg(tc.insize)
			m.Result = 0xff
			n, err := tr.Xfer(m)
			if !errors.Is(err, tc.want) || ec.CauseOf(err) != tc.cause || n != tc.n {
				t.Fatalf("n=%d err=%v; want n=%d err %v (cause %v)", n, err, tc.n, tc.want, tc.cause)
			}
			if err == nil && m.Result != tc.result {
				t.Fatalf("result %v, want %v", m.Result, tc.result)
			}
			if s.cs {
				t.Fatal("CS left asserted")
			}
		})
	}
}

func TestRequestTooBig(t *testing.T) {
	tr, _ := newScripted(t, ecspi.Config{})
	m := &ec.Msg{Command: 1, Out: make([]byte, 0x220-8+1)}
	if _, err := tr.Xfer(m); !errors.Is(err, ec.ErrRequestTooBig) {
		t.Fatalf("err %v", err)
	}
}

func TestIOError(t *testing.T) {
	tr, s := newScripted(t, ecspi.Config{})
	s.err = errors.New("ioctl: broken bus")
	if _, err := tr.Xfer(helloMsg(4)); ec.CauseOf(err) != ec.CauseIO {
		t.Fatalf("err %v (cause %v), want io", err, ec.CauseOf(err))
	}
}

func TestRecoveryAndPostDelay(t *testing.T) {
	good := cat(echo(12), []byte{0xEC}, helloResp)
	cfg := ecspi.Config{Recovery: 3 * time.Millisecond, PostDelay: 2 * time.Millisecond}
	tr, s := newScripted(t, cfg, good, good, good)
	for i := 0; i < 3; i++ {
		if _, err := tr.Xfer(helloMsg(4)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < len(s.down); i++ {
		if gap := s.down[i].Sub(s.up[i-1]); gap < cfg.Recovery {
			t.Errorf("transaction %d: CS re-asserted %v after release, want >= %v", i, gap, cfg.Recovery)
		}
	}
	// With a post-delay the release is a separate 1-byte call after the delay.
	if s.calls[1] != 3 || s.n[1] != clocked(12, 0, 4) {
		t.Errorf("calls %d, clocked %d", s.calls[1], s.n[1])
	}
}

// TestNewPollsAfterInProgress: an EC still busy with an earlier command may answer
// GET_PROTOCOL_INFO with IN_PROGRESS. Like the kernel's probe (cros_ec_get_proto_info →
// cros_ec_send_command → cros_ec_wait_until_complete) New polls GET_COMMS_STATUS, 10 ms
// apart, until PROCESSING clears, skipping polls answered 0xFC (EAGAIN); then it asks
// GET_PROTOCOL_INFO again for the answer the kernel would not have.
func TestNewPollsAfterInProgress(t *testing.T) {
	status := func(flags byte) []byte { return cat(echo(8), []byte{0xEC}, respPkt(ec.ResSuccess, flags, 0, 0, 0)) }
	s := newScript(cat(echo(8), []byte{0xEC}, respPkt(ec.ResInProgress)),
		status(1), rep(0xFC, 8), status(1), status(0), protoInfo(0x220, 0x220))
	start := time.Now()
	tr, err := ecspi.New(s, ecspi.Config{Deadline: 5 * time.Millisecond})
	if err != nil {
		t.Fatalf("New after one IN_PROGRESS answer: %v", err)
	}
	if took := time.Since(start); took < 4*10*time.Millisecond {
		t.Errorf("New took %v, want 4 polls 10 ms apart", took)
	}
	if out, in := tr.Limits(); out != 0x220-8 || in != 0x220-8 {
		t.Fatalf("Limits = %d, %d", out, in)
	}
	var cmds []byte
	for _, w := range s.mosi {
		if len(w) >= 8 && w[0] == 3 {
			cmds = append(cmds, w[2])
		}
	}
	if want := []byte{0x0B, 0x09, 0x09, 0x09, 0x09, 0x0B}; !bytes.Equal(cmds, want) {
		t.Errorf("commands % x, want % x (GET_PROTOCOL_INFO, 4 x GET_COMMS_STATUS, GET_PROTOCOL_INFO)", cmds, want)
	}
}

// After 50 polls that all say PROCESSING, New gives up as the kernel does.
func TestNewInProgressForever(t *testing.T) {
	busy := cat(echo(8), []byte{0xEC}, respPkt(ec.ResSuccess, 1, 0, 0, 0))
	txns := [][]byte{cat(echo(8), []byte{0xEC}, respPkt(ec.ResInProgress))}
	for i := 0; i < 50; i++ {
		txns = append(txns, busy)
	}
	_, err := ecspi.New(newScript(txns...), ecspi.Config{Deadline: 5 * time.Millisecond})
	if !errors.Is(err, ec.ErrInProgressTimeout) {
		t.Fatalf("err %v, want ec.ErrInProgressTimeout", err)
	}
}
