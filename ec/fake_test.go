package ec

import (
	"encoding/binary"
	"time"
)

// fakeEC is an in-package Transport that speaks real v3 packets: every request is
// encoded with EncodeRequest and checked as the EC firmware does, every answer is
// built with EncodeResponse and verified with DecodeResponse, as a SPI or chardev
// transport would. It allocates nothing per transfer.
type fakeEC struct {
	req  [scratchSize]byte
	resp [scratchSize]byte
	data [scratchSize]byte

	maxIn int

	versions map[uint16]uint32 // command -> version mask; absent = INVALID_COMMAND

	// scripted behaviour
	notReady        int    // the next N transfers fail with a not-ready transport error
	inProgress      int    // the next N non-status commands answer IN_PROGRESS
	processingPolls int    // GET_COMMS_STATUS says PROCESSING this many times after IN_PROGRESS
	statusResult    Result // result of GET_COMMS_STATUS (default success)
	badHello        bool   // answer HELLO with the wrong value
	corrupt         bool   // flip the response checksum
	forceResult     Result // non-zero: every command answers this
	longData        int    // non-zero: answer this many bytes regardless of insize

	ro, rw, fwidRO, fwidRW, build string
	image                         Image
	uptimeMS                      uint32

	// counters
	xfers      int
	perCommand [0x200]int
	pending    int
}

var errFakeNotReady = &Error{Cause: CauseNotReady, Op: "fake: EC not ready (0xFC)"}

func newFakeEC() *fakeEC {
	return &fakeEC{
		maxIn: scratchSize - HeaderSize,
		versions: map[uint16]uint32{
			CmdHello: 1, CmdGetVersion: 3, CmdGetBuildInfo: 1, CmdGetChipInfo: 1,
			CmdGetCmdVersions: 3, CmdGetCommsStatus: 1, CmdGetProtocolInfo: 1,
			CmdGetFeatures: 1, CmdGetUptimeInfo: 1,
		},
		ro: "fake_v1.0.0-ro", rw: "fake_v1.0.1-rw", fwidRO: "fake_14000.0.0", fwidRW: "fake_14001.0.0",
		build: "fake_v1.0.1-rw 2026-11-24 builder@ec", image: ImageRW, uptimeMS: 123456,
	}
}

func (f *fakeEC) Limits() (int, int) { return scratchSize - HeaderSize, f.maxIn }
func (f *fakeEC) Close() error       { return nil }
func (f *fakeEC) String() string     { return "fake" }

func (f *fakeEC) Xfer(m *Msg) (int, error) {
	f.xfers++
	n, err := EncodeRequest(f.req[:], m.Command, m.Version, m.Out)
	if err != nil {
		return 0, err
	}
	if f.notReady > 0 {
		f.notReady--
		return 0, errFakeNotReady
	}
	res, dlen := f.handle(f.req[:n])
	rn, err := EncodeResponse(f.resp[:], res, f.data[:dlen])
	if err != nil {
		return 0, err
	}
	if f.corrupt {
		f.resp[1] ^= 0x5a
	}
	h, payload, err := DecodeResponse(f.resp[:rn], len(m.In))
	if err != nil {
		return 0, err
	}
	m.Result = h.Result
	return copy(m.In, payload), nil
}

// handle is the EC side: it checks the request packet and runs the command.
func (f *fakeEC) handle(pkt []byte) (Result, int) {
	h := ParseRequestHeader(pkt)
	if h.Version != RequestVersion || h.Reserved != 0 || int(h.DataLen) != len(pkt)-HeaderSize {
		return ResInvalidHeader, 0
	}
	if Sum(pkt) != 0 {
		return ResInvalidChecksum, 0
	}
	params := pkt[HeaderSize:]
	if int(h.Command) < len(f.perCommand) {
		f.perCommand[h.Command]++
	}
	if f.forceResult != 0 {
		return f.forceResult, 0
	}
	mask, ok := f.versions[h.Command]
	if !ok {
		return ResInvalidCommand, 0
	}
	if mask&(1<<h.CmdVer) == 0 {
		return ResInvalidVersion, 0
	}
	if h.Command != CmdGetCommsStatus && f.inProgress > 0 {
		f.inProgress--
		f.pending = f.processingPolls
		return ResInProgress, 0
	}
	clear(f.data[:])
	if f.longData > 0 {
		return ResSuccess, f.longData
	}
	d := f.data[:]
	switch h.Command {
	case CmdHello:
		if len(params) != 4 {
			return ResInvalidParam, 0
		}
		out := binary.LittleEndian.Uint32(params) + HelloAdd
		if f.badHello {
			out++
		}
		binary.LittleEndian.PutUint32(d, out)
		return ResSuccess, 4
	case CmdGetVersion:
		copy(d[0:32], f.ro)
		copy(d[32:64], f.rw)
		binary.LittleEndian.PutUint32(d[96:], uint32(f.image))
		if h.CmdVer == 0 {
			return ResSuccess, VersionV0Size
		}
		copy(d[64:96], f.fwidRO)
		copy(d[100:132], f.fwidRW)
		return ResSuccess, VersionV1Size
	case CmdGetBuildInfo:
		return ResSuccess, copy(d, f.build) + 1
	case CmdGetChipInfo:
		copy(d[0:], "fakevendor")
		copy(d[32:], "fakechip")
		copy(d[64:], "rev1")
		return ResSuccess, ChipInfoSize
	case CmdGetCmdVersions:
		var cmd uint16
		if h.CmdVer == 0 {
			if len(params) < 1 {
				return ResInvalidParam, 0
			}
			cmd = uint16(params[0])
		} else {
			if len(params) < 2 {
				return ResInvalidParam, 0
			}
			cmd = binary.LittleEndian.Uint16(params)
		}
		m, ok := f.versions[cmd]
		if !ok {
			return ResInvalidParam, 0
		}
		binary.LittleEndian.PutUint32(d, m)
		return ResSuccess, 4
	case CmdGetCommsStatus:
		if f.statusResult != 0 {
			return f.statusResult, 0
		}
		var flags uint32
		if f.pending > 0 {
			f.pending--
			flags = CommsStatusProcessing
		}
		binary.LittleEndian.PutUint32(d, flags)
		return ResSuccess, 4
	case CmdGetProtocolInfo:
		binary.LittleEndian.PutUint32(d[0:], 1<<3)
		binary.LittleEndian.PutUint16(d[4:], 0x220)
		binary.LittleEndian.PutUint16(d[6:], 0x220)
		binary.LittleEndian.PutUint32(d[8:], 1)
		return ResSuccess, ProtocolInfoSize
	case CmdGetFeatures:
		binary.LittleEndian.PutUint32(d[0:], 1<<1|1<<22)
		binary.LittleEndian.PutUint32(d[4:], 1<<(40-32))
		return ResSuccess, FeaturesSize
	case CmdGetUptimeInfo:
		binary.LittleEndian.PutUint32(d[0:], f.uptimeMS)
		binary.LittleEndian.PutUint32(d[4:], 2)
		binary.LittleEndian.PutUint32(d[8:], ResetFlagPowerOn|ResetFlagSysjump)
		binary.LittleEndian.PutUint16(d[12:], 9) // CHIPSET_RESET_INIT
		binary.LittleEndian.PutUint32(d[16:], 1500)
		return ResSuccess, UptimeInfoSize
	}
	return ResInvalidCommand, 0
}

// testDevice returns a Device on a fresh fakeEC that records its sleeps instead of sleeping.
func testDevice() (*Device, *fakeEC, *[]time.Duration) {
	f := newFakeEC()
	d := NewDevice("test", f)
	var slept []time.Duration
	d.sleep = func(t time.Duration) { slept = append(slept, t) }
	return d, f, &slept
}
