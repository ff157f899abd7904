package ec

import (
	"bytes"
	"errors"
	"testing"
)

// Seeds live in testdata/fuzz/<FuzzName>/; the checks below are the properties every
// decoder of EC bytes must keep: never panic, reject with a classified error, and
// return only what the input really holds.

func checkPrintable(t *testing.T, field, s string, max int) {
	t.Helper()
	if len(s) > max {
		t.Fatalf("%s: %d bytes, field is %d", field, len(s), max)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 || c > 0x7e) && c != '\t' && c != '\n' {
			t.Fatalf("%s: non-printable byte %#x accepted", field, c)
		}
	}
}

func FuzzParseResponseHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseResponseHeader(b)
		if len(b) < HeaderSize {
			if !errors.Is(err, ErrShortHeader) {
				t.Fatalf("short input: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, HeaderSize)
		buf[0], buf[1] = h.Version, h.Checksum
		buf[2], buf[3] = byte(h.Result), byte(h.Result>>8)
		buf[4], buf[5] = byte(h.DataLen), byte(h.DataLen>>8)
		buf[6], buf[7] = byte(h.Reserved), byte(h.Reserved>>8)
		if !bytes.Equal(buf, b[:HeaderSize]) {
			t.Fatalf("header does not round-trip: % x -> %+v", b[:HeaderSize], h)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	sentinels := []error{ErrShortHeader, ErrResponseVersion, ErrResponseReserved, ErrResponseTooLong, ErrResponseTruncated, ErrChecksum}
	f.Fuzz(func(t *testing.T, pkt []byte, insize uint16) {
		h, data, err := DecodeResponse(pkt, int(insize))
		if err != nil {
			known := false
			for _, s := range sentinels {
				known = known || errors.Is(err, s)
			}
			if !known || data != nil {
				t.Fatalf("unexpected rejection %v (data %v)", err, data != nil)
			}
			if c := CauseOf(err); c != CauseBadResponse && c != CauseChecksum {
				t.Fatalf("cause %v", c)
			}
			return
		}
		if h.Version != 3 || h.Reserved != 0 || int(h.DataLen) != len(data) || len(data) > int(insize) {
			t.Fatalf("accepted bad packet: %+v, %d data bytes, insize %d", h, len(data), insize)
		}
		if Sum(pkt[:HeaderSize+len(data)]) != 0 {
			t.Fatal("accepted bad checksum")
		}
		// Re-encoding the decoded packet gives the same bytes.
		buf := make([]byte, HeaderSize+len(data))
		n, err := EncodeResponse(buf, h.Result, data)
		if err != nil || !bytes.Equal(buf[:n], pkt[:n]) {
			t.Fatalf("re-encode: %v\n% x\n% x", err, buf[:n], pkt[:n])
		}
	})
}

func FuzzDecodeVersion(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, v uint8) {
		v %= 2
		vi, err := DecodeVersion(b, v)
		if err != nil {
			if CauseOf(err) != CauseBadResponse {
				t.Fatalf("cause %v", CauseOf(err))
			}
			return
		}
		checkPrintable(t, "ro", vi.RO, 32)
		checkPrintable(t, "rw", vi.RW, 32)
		checkPrintable(t, "fwid_ro", vi.CrosFWIDRO, 32)
		checkPrintable(t, "fwid_rw", vi.CrosFWIDRW, 32)
		_ = vi.Image.String()
		if v == 0 && (vi.CrosFWIDRO != "" || vi.CrosFWIDRW != "") {
			t.Fatal("v0 answer has FWIDs")
		}
	})
}

func FuzzDecodeBuildInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeBuildInfo(b)
		if err != nil {
			if CauseOf(err) != CauseBadResponse {
				t.Fatalf("cause %v", CauseOf(err))
			}
			return
		}
		checkPrintable(t, "build", s, len(b))
		if !bytes.HasPrefix(b, []byte(s)) {
			t.Fatal("not a prefix of the input")
		}
	})
}

func FuzzDecodeChipInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeChipInfo(b)
		if err != nil {
			if CauseOf(err) != CauseBadResponse {
				t.Fatalf("cause %v", CauseOf(err))
			}
			return
		}
		checkPrintable(t, "vendor", c.Vendor, 32)
		checkPrintable(t, "name", c.Name, 32)
		checkPrintable(t, "revision", c.Revision, 32)
	})
}

func FuzzDecodeProtocolInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeProtocolInfo(b)
		if err != nil {
			if CauseOf(err) != CauseBadResponse {
				t.Fatalf("cause %v", CauseOf(err))
			}
			return
		}
		if p.MaxRequest() < 0 || p.MaxResponse() < 0 {
			t.Fatalf("negative payload limit: %+v", p)
		}
		if v := p.ProtocolVersion(); v < -1 || v > 3 {
			t.Fatalf("protocol version %d", v)
		}
	})
}

func FuzzDecodeFeatures(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := DecodeFeatures(b)
		if err != nil {
			if len(b) >= FeaturesSize {
				t.Fatalf("rejected %d bytes: %v", len(b), err)
			}
			return
		}
		n := 0
		for i := 0; i < 8; i++ {
			for j := 0; j < 8; j++ {
				if b[i]&(1<<j) != 0 {
					n++
				}
			}
		}
		if len(fs.List()) != n || len(fs.Names()) != n {
			t.Fatalf("%d bits set, %d listed", n, len(fs.List()))
		}
	})
}

func FuzzDecodeUptimeInfo(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := DecodeUptimeInfo(b)
		if err != nil {
			if len(b) >= UptimeInfoSize || CauseOf(err) != CauseBadResponse {
				t.Fatalf("rejected %d bytes: %v", len(b), err)
			}
			return
		}
		if u.SinceBoot < 0 {
			t.Fatalf("negative uptime %v", u.SinceBoot)
		}
		names := u.ResetFlagNames()
		n := 0
		for i := 0; i < 32; i++ {
			if u.ResetFlags&(1<<i) != 0 {
				n++
			}
		}
		if len(names) != n {
			t.Fatalf("%d flags, %d names", n, len(names))
		}
	})
}

func FuzzDecodeUint32(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := DecodeUint32("GET_COMMS_STATUS", b)
		if (err != nil) != (len(b) < 4) {
			t.Fatalf("len %d: %v", len(b), err)
		}
		if err == nil && byte(v) != b[0] {
			t.Fatal("not little-endian")
		}
	})
}

func FuzzDecodeHello(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, in uint32) {
		err := DecodeHello(b, in)
		ok := len(b) >= 4 && uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24 == in+HelloAdd
		if (err == nil) != ok {
			t.Fatalf("% x in %#x: %v", b, in, err)
		}
	})
}
