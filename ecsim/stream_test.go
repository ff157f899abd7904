package ecsim_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
	"periph.io/x/conn/v3/spi"
)

// instant is a firmware-like EC with no wire time and no processing time.
func instant() ecsim.Config {
	c := ecsim.DefaultConfig()
	c.Clock, c.Processing = 0, 0
	return c
}

func req(cmd uint16, ver uint8, params ...byte) []byte {
	b := make([]byte, ec.HeaderSize+len(params))
	n, err := ec.EncodeRequest(b, cmd, ver, params)
	if err != nil {
		panic(err)
	}
	return b[:n]
}

func resp(res ec.Result, data ...byte) []byte {
	b := make([]byte, ec.HeaderSize+len(data))
	n, _ := ec.EncodeResponse(b, res, data)
	return b[:n]
}

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// receiving is what MISO carries while an n-byte good request is clocked.
func receiving(n int) []byte { return cat([]byte{ecsim.RxReady}, rep(ecsim.Receiving, n-1)) }

// step is one TxPackets call; W is zero-padded to N bytes.
type step struct {
	gap  time.Duration // slept before the call
	w    []byte
	n    int
	keep bool // leave CS asserted after the call
	want []byte
}

func run(t *testing.T, e *ecsim.EC, steps []step) {
	t.Helper()
	for i, s := range steps {
		if s.gap > 0 {
			time.Sleep(s.gap)
		}
		w := make([]byte, s.n)
		copy(w, s.w)
		r := make([]byte, s.n)
		if err := e.TxPackets([]spi.Packet{{W: w, R: r, KeepCS: s.keep}}); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !bytes.Equal(r, s.want) {
			t.Fatalf("step %d MISO\n got % x\nwant % x", i, r, s.want)
		}
	}
}

func TestByteStream(t *testing.T) {
	hello := req(0x0001, 0, 0xd0, 0xc0, 0xb0, 0xa0)
	helloResp := resp(ec.ResSuccess, 0xd4, 0xc3, 0xb2, 0xa1)
	badSum := append([]byte(nil), hello...)
	badSum[1]++
	reserved := append([]byte(nil), hello...)
	reserved[5] = 1
	tooLong := req(0x0001, 0)
	binary.LittleEndian.PutUint16(tooLong[6:], 0x220-8+1)
	memmap := func(off, size byte) []byte { return req(0x0007, 0, off, size) }
	testProto := func(res uint32, n uint32, buf ...byte) []byte {
		p := make([]byte, 40)
		binary.LittleEndian.PutUint32(p, res)
		binary.LittleEndian.PutUint32(p[4:], n)
		copy(p[8:], buf)
		return req(0x000A, 0, p...)
	}
	slow := func(c ecsim.Config) ecsim.Config { c.Clock = 1_000_000; return c } // 8 µs per byte

	cases := []struct {
		name  string
		cfg   func(ecsim.Config) ecsim.Config
		steps []step
	}{
		{"hello: RX_READY, RECEIVING, 0xEC, packet (§2.3), PAST_END", nil, []step{
			{w: hello, n: 12 + 16, want: cat(receiving(12), []byte{0xEC}, helloResp, rep(0xED, 3))}}},
		{"get protocol info worked example", nil, []step{
			{w: req(0x000B, 0), n: 8 + 1 + 20 + 2, want: cat(receiving(8), []byte{0xEC},
				[]byte{0x03, 0xa4, 0, 0, 0x0c, 0, 0, 0, 0x08, 0, 0, 0, 0x20, 0x02, 0x20, 0x02, 0x01, 0, 0, 0}, rep(0xED, 2))}}},
		{"processing: 0xFA until the processing time has passed on the wire", func(c ecsim.Config) ecsim.Config {
			c = slow(c)
			c.Processing = 40 * time.Microsecond // 5 bytes at 8 µs; ready at the 5th byte after the request
			return c
		}, []step{{w: hello, n: 12 + 4 + 1 + 12 + 1, want: cat(receiving(12), rep(0xFA, 4), []byte{0xEC}, helloResp, []byte{0xED})}}},
		{"processing spans calls with CS held", func(c ecsim.Config) ecsim.Config {
			c.Processing = 30 * time.Millisecond
			c.CSBudget, c.RxBudget = 0, 0
			return c
		}, []step{
			{w: hello, n: 12, keep: true, want: receiving(12)},
			{n: 8, keep: true, want: rep(0xFA, 8)},
			{gap: 40 * time.Millisecond, n: 16, want: cat([]byte{0xEC}, helloResp, rep(0xED, 3))}}},
		{"byte0 not 3: RX_BAD_DATA until CS deasserts", nil, []step{
			{w: []byte{2, 0, 1, 0, 0, 0, 0, 0}, n: 16, want: cat([]byte{0x78}, rep(0xFB, 15))},
			{gap: time.Millisecond, w: hello, n: 13, want: cat(receiving(12), []byte{0xEC})}}},
		{"v2 request byte 0xDC: RX_BAD_DATA", nil, []step{
			{w: []byte{0xdc, 0x01, 0x04, 0xd0, 0xc0, 0xb0, 0xa0, 0xc1}, n: 12, want: cat([]byte{0x78}, rep(0xFB, 11))}}},
		{"reserved not 0: RX_BAD_DATA after the header", nil, []step{
			{w: reserved, n: 20, want: cat(receiving(8), rep(0xFB, 12))}}},
		{"8+data_len > 0x220: RX_BAD_DATA after the header", nil, []step{
			{w: tooLong, n: 20, want: cat(receiving(8), rep(0xFB, 12))}}},
		{"bad request checksum: result 7, no data", nil, []step{
			{w: badSum, n: 12 + 1 + 8 + 1, want: cat(receiving(12), []byte{0xEC}, resp(ec.ResInvalidChecksum), []byte{0xED})}}},
		{"unknown command: result 1", nil, []step{
			{w: req(0x0fff, 0), n: 8 + 1 + 8, want: cat(receiving(8), []byte{0xEC}, []byte{0x03, 0xfc, 0x01, 0, 0, 0, 0, 0})}}},
		{"unsupported command version: result 6", nil, []step{
			{w: req(0x0001, 1, 1, 2, 3, 4), n: 12 + 1 + 8, want: cat(receiving(12), []byte{0xEC}, resp(ec.ResInvalidVersion))}}},
		{"response too big: result 14", func(c ecsim.Config) ecsim.Config { c.MaxResponse = 64; return c }, []step{
			{w: req(0x0002, 0), n: 8 + 1 + 8, want: cat(receiving(8), []byte{0xEC}, resp(ec.ResResponseTooBig))}}},
		{"read memmap 'EC' at 0x20", nil, []step{
			{w: memmap(0x20, 2), n: 10 + 1 + 10, want: cat(receiving(10), []byte{0xEC}, resp(ec.ResSuccess, 'E', 'C'))}}},
		{"read memmap past 255: INVALID_PARAM", nil, []step{
			{w: memmap(0xf0, 0x10), n: 10 + 1 + 8, want: cat(receiving(10), []byte{0xEC}, resp(ec.ResInvalidParam))}}},
		{"test protocol echoes buf", nil, []step{
			{w: testProto(0, 3, 7, 8, 9), n: 48 + 1 + 11, want: cat(receiving(48), []byte{0xEC}, resp(ec.ResSuccess, 7, 8, 9))}}},
		{"test protocol error result carries no data", nil, []step{
			{w: testProto(5, 3, 7, 8, 9), n: 48 + 1 + 8, want: cat(receiving(48), []byte{0xEC}, resp(ec.ResInvalidResponse))}}},
		{"CS re-asserted before the re-arm gap: NOT_READY for the whole transaction", func(c ecsim.Config) ecsim.Config {
			c.RearmGap = 50 * time.Millisecond
			return c
		}, []step{
			{w: hello, n: 13, want: cat(receiving(12), []byte{0xEC})},
			{w: hello, n: 20, want: rep(0xFC, 20)},
			{gap: 70 * time.Millisecond, w: hello, n: 13, want: cat(receiving(12), []byte{0xEC})}}},
		{"CS deasserted while processing: NOT_READY until the dropped response is done", func(c ecsim.Config) ecsim.Config {
			c.Processing = 60 * time.Millisecond
			return c
		}, []step{
			{w: hello, n: 14, want: cat(receiving(12), rep(0xFA, 2))},
			{gap: time.Millisecond, w: hello, n: 14, want: rep(0xFC, 14)},
			{gap: 80 * time.Millisecond, w: hello, n: 14, want: cat(receiving(12), rep(0xFA, 2))}}},
		{"CS blip between packets inside one call hits the re-arm gap", nil, nil}, // see TestCSBlip
		{"receive stage budget expired: RX_BAD_DATA", func(c ecsim.Config) ecsim.Config {
			c.RxBudget = time.Millisecond
			c.CSBudget = 0
			return c
		}, []step{
			{w: hello[:4], n: 4, keep: true, want: receiving(4)},
			{gap: 5 * time.Millisecond, w: hello[4:], n: 8 + 4, want: rep(0xFB, 12)}}},
		{"CS held past the 8 ms budget: the EC gives up (RX_BAD_DATA)", func(c ecsim.Config) ecsim.Config {
			c.CSBudget = 8 * time.Millisecond
			return c
		}, []step{
			{w: hello, n: 12, keep: true, want: receiving(12)},
			{gap: 12 * time.Millisecond, n: 16, want: rep(0xFB, 16)}}},
	}
	for _, tc := range cases {
		if tc.steps == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			cfg := instant()
			if tc.cfg != nil {
				cfg = tc.cfg(cfg)
			}
			run(t, ecsim.New(cfg), tc.steps)
		})
	}
}

func TestCSBlip(t *testing.T) {
	e := ecsim.New(instant())
	hello := req(0x0001, 0, 1, 2, 3, 4)
	r1, r2 := make([]byte, 12), make([]byte, 12)
	err := e.TxPackets([]spi.Packet{{W: hello, R: r1}, {W: hello, R: r2}})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r1, receiving(12)) || !bytes.Equal(r2, rep(0xFC, 12)) {
		t.Fatalf("blip: got % x / % x", r1, r2)
	}
}

func TestTxErrors(t *testing.T) {
	e := ecsim.New(instant())
	if err := e.TxPackets([]spi.Packet{{}}); err == nil {
		t.Error("empty packets accepted")
	}
	if err := e.Tx(make([]byte, 3), make([]byte, 4)); err == nil {
		t.Error("w and r of different sizes accepted")
	}
	if err := e.Tx(make([]byte, 5000), nil); err == nil {
		t.Error("transfer larger than MaxTxSize accepted")
	}
}
