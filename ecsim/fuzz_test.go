package ecsim_test

import (
	"encoding/binary"
	"testing"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
	"periph.io/x/conn/v3/spi"
)

// FuzzMOSI clocks arbitrary host bytes into the simulated EC, split into
// packets at arbitrary points with arbitrary CS handling: the EC must never
// panic and must answer only with its status bytes or a frame.
func FuzzMOSI(f *testing.F) {
	f.Add(req(0x0001, 0, 1, 2, 3, 4), []byte{12, 0x80 | 20})
	f.Add(req(0x0007, 0, 0xff, 0xff), []byte{40})
	f.Add(req(0x0008, 1, 0xff, 0xff), []byte{3, 7, 0x80 | 30})
	f.Add(req(0x000A, 0, 9, 0, 0, 0, 200, 0, 0, 0), []byte{0x80 | 60})
	f.Add([]byte{3, 0, 0x21, 0x01, 0, 0, 0xff, 0x01}, []byte{8, 100})
	f.Fuzz(func(t *testing.T, mosi []byte, cuts []byte) {
		e := ecsim.New(instant())
		tr := ecsim.NewTransport(e)
		p := make([]spi.Packet, 0, len(cuts)+1)
		rest := mosi
		for _, c := range cuts {
			n := int(c & 0x7f)
			var w []byte
			if n <= len(rest) {
				w, rest = rest[:n], rest[n:]
			} else {
				w, rest = rest, nil
			}
			pk := spi.Packet{W: w, R: make([]byte, n), KeepCS: c&0x80 == 0}
			if len(w) < n {
				pk.W = append(w[:len(w):len(w)], make([]byte, n-len(w))...)
			}
			p = append(p, pk)
		}
		if len(rest) > 0 {
			p = append(p, spi.Packet{W: rest, R: make([]byte, len(rest))})
		}
		if err := e.TxPackets(p); err != nil {
			return
		}
		// The command-level side must cope with the same bytes as parameters.
		if len(mosi) >= ec.HeaderSize {
			h := ec.ParseRequestHeader(mosi)
			m := &ec.Msg{Command: h.Command, Version: h.CmdVer, Out: mosi[ec.HeaderSize:], In: make([]byte, int(h.DataLen)%600)}
			_, _ = tr.Xfer(m)
		}
	})
}

// FuzzNodeIoctl hands arbitrary struct cros_ec_command_v2 buffers to the simulated
// /dev/cros_ec: like the kernel it must answer with a data length or an errno, never
// panic, and never report more data than the (clamped) insize it wrote back.
func FuzzNodeIoctl(f *testing.F) {
	hdr := func(ver, cmd, out, in uint32, data ...byte) []byte {
		b := make([]byte, 20, 20+len(data))
		for i, v := range []uint32{ver, cmd, out, in, 0xff} {
			binary.NativeEndian.PutUint32(b[4*i:], v)
		}
		return append(b, data...)
	}
	f.Add(hdr(0, 0x0001, 4, 4, 1, 2, 3, 4), uint(0xC014EC00))
	f.Add(hdr(1, 0x0002, 0, 132, make([]byte, 132)...), uint(0xC014EC00))
	f.Add(hdr(0, 0x0008, 2, 4, 0x21, 0x01, 0, 0), uint(0xC014EC00))
	f.Add(hdr(0, 0x0001, 70000, 4), uint(0xC014EC00))
	f.Add(hdr(0, 0x0001, 4, 4, 1, 2, 3, 4), uint(0x3A00))
	f.Fuzz(func(t *testing.T, buf []byte, req uint) {
		cfg := instant()
		n := ecsim.NewNode(ecsim.New(cfg))
		got, err := n.Ioctl(req, buf)
		if err != nil {
			return
		}
		in := binary.NativeEndian.Uint32(buf[12:])
		if got < 0 || uint32(got) > in {
			t.Fatalf("ioctl returned %d bytes for insize %d", got, in)
		}
	})
}
