package ecspi_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecspi"
)

func FuzzFindFrame(f *testing.F) {
	f.Add([]byte{0xFA, 0xFA, 0xFA, 0xEC, 0x03})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		i := ecspi.FindFrame(b)
		if i < -1 || i >= len(b) {
			t.Fatalf("FindFrame = %d for %d bytes", i, len(b))
		}
		if i >= 0 && (b[i] != ecspi.FrameStart || bytes.IndexByte(b[:i], ecspi.FrameStart) >= 0) {
			t.Fatalf("FindFrame = %d is not the first 0xEC in % x", i, b)
		}
		if i == -1 && bytes.IndexByte(b, ecspi.FrameStart) >= 0 {
			t.Fatalf("FindFrame missed 0xEC in % x", b)
		}
	})
}

// FuzzXferStream feeds arbitrary MISO bytes to the transport: after the GET_PROTOCOL_INFO
// of New, one HELLO transaction clocks stream, then fill. It must never panic or hang,
// must always release CS, and a success must have come from a well-formed packet.
func FuzzXferStream(f *testing.F) {
	f.Add(cat(echo(12), []byte{0xEC}, helloResp), byte(0xED), uint8(4))
	f.Add(cat(echo(12), rep(0xFA, 40), []byte{0xEC}, helloResp), byte(0xED), uint8(64))
	f.Add(cat(echo(12), []byte{0xEC, 0x03, 0x00, 0x00, 0x00, 0xff, 0xff}), byte(0xEC), uint8(4))
	f.Add([]byte{0xFB}, byte(0xFC), uint8(0))
	f.Fuzz(func(t *testing.T, stream []byte, fill byte, insize uint8) {
		s := newScript(protoInfo(0x220, 0x220), stream)
		tr, err := ecspi.New(s, ecspi.Config{Deadline: time.Millisecond, Recovery: -1})
		if err != nil {
			t.Fatal(err)
		}
		s.fill = fill
		m := helloMsg(int(insize))
		n, err := tr.Xfer(m)
		if s.cs {
			t.Fatal("CS left asserted")
		}
		if err != nil {
			if ec.CauseOf(err) == ec.CauseIO || ec.CauseOf(err) == ec.CauseNone {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if n < 0 || n > int(insize) {
			t.Fatalf("n = %d for insize %d", n, insize)
		}
	})
}
