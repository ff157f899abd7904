package ecsim

import (
	"encoding/binary"

	"github.com/ec-exporter/ec_exporter/ec"
)

// Host commands the simulated EC implements (ec_commands.h).
const (
	cmdProtoVersion    uint16 = 0x0000
	cmdHello           uint16 = 0x0001
	cmdGetVersion      uint16 = 0x0002
	cmdGetBuildInfo    uint16 = 0x0004
	cmdGetChipInfo     uint16 = 0x0005
	cmdGetBoardVersion uint16 = 0x0006
	cmdReadMemmap      uint16 = 0x0007
	cmdGetCmdVersions  uint16 = 0x0008
	cmdGetCommsStatus  uint16 = 0x0009
	cmdTestProtocol    uint16 = 0x000A
	cmdGetProtocolInfo uint16 = 0x000B
	cmdGetFeatures     uint16 = 0x000D
	cmdResendResponse  uint16 = 0x00DB
	cmdGetUptimeInfo   uint16 = 0x0121
)

const (
	commsStatusProcessing     = 1 << 0 // EC_COMMS_STATUS_PROCESSING
	protocolInfoInProgressSup = 1 << 0 // EC_PROTOCOL_INFO_IN_PROGRESS_SUPPORTED
)

// versionMask returns EC_VER_MASK bits of the versions cmd supports; 0 = unknown command.
func versionMask(cmd uint16) uint32 {
	switch cmd {
	case cmdProtoVersion, cmdHello, cmdGetBuildInfo, cmdGetChipInfo, cmdGetBoardVersion,
		cmdReadMemmap, cmdGetCommsStatus, cmdTestProtocol, cmdGetProtocolInfo,
		cmdGetFeatures, cmdResendResponse, cmdGetUptimeInfo:
		return 1 << 0
	case cmdGetVersion, cmdGetCmdVersions:
		return 1<<0 | 1<<1
	}
	return 0
}

// execute runs one host command with params at time t; the response data is
// in e.scratch[:n]. Error results carry no data.
func (e *EC) execute(cmd uint16, ver uint8, params []byte, t int64) (ec.Result, int) {
	mask := versionMask(cmd)
	if mask == 0 {
		return ec.ResInvalidCommand, 0
	}
	if ver >= 32 || mask&(1<<ver) == 0 {
		return ec.ResInvalidVersion, 0
	}
	out := e.scratch
	clear(out)
	res, n := e.handle(cmd, ver, params, out, t)
	if res != ec.ResSuccess {
		return res, 0
	}
	if n > e.cfg.MaxResponse-ec.HeaderSize {
		return ec.ResResponseTooBig, 0
	}
	return res, n
}

func putString(b []byte, s string) {
	n := copy(b[:len(b)-1], s) // always NUL-terminated
	b[n] = 0
}

func (e *EC) handle(cmd uint16, ver uint8, p, out []byte, t int64) (ec.Result, int) {
	le := binary.LittleEndian
	id := &e.cfg.Identity
	switch cmd {
	case cmdProtoVersion:
		le.PutUint32(out, 2)
		return ec.ResSuccess, 4
	case cmdHello:
		if len(p) < 4 {
			return ec.ResInvalidParam, 0
		}
		le.PutUint32(out, le.Uint32(p)+0x01020304)
		return ec.ResSuccess, 4
	case cmdGetVersion:
		putString(out[0:32], id.VersionRO)
		putString(out[32:64], id.VersionRW)
		if ver >= 1 {
			putString(out[64:96], id.CrosFWIDRO)
		}
		le.PutUint32(out[96:], id.Image)
		if ver >= 1 {
			putString(out[100:132], id.CrosFWIDRW)
			return ec.ResSuccess, 132
		}
		return ec.ResSuccess, 100
	case cmdGetBuildInfo:
		n := copy(out[:len(out)-1], id.BuildInfo)
		out[n] = 0
		return ec.ResSuccess, n + 1
	case cmdGetChipInfo:
		putString(out[0:32], id.ChipVendor)
		putString(out[32:64], id.ChipName)
		putString(out[64:96], id.ChipRevision)
		return ec.ResSuccess, 96
	case cmdGetBoardVersion:
		le.PutUint16(out, id.BoardVersion)
		return ec.ResSuccess, 2
	case cmdReadMemmap:
		if len(p) < 2 {
			return ec.ResInvalidParam, 0
		}
		off, size := int(p[0]), int(p[1])
		if off+size > memmapSize || size > e.cfg.MaxResponse-ec.HeaderSize {
			return ec.ResInvalidParam, 0
		}
		copy(out, e.memmap[off:off+size])
		return ec.ResSuccess, size
	case cmdGetCmdVersions:
		var c uint16
		switch {
		case ver == 0 && len(p) >= 1:
			c = uint16(p[0])
		case ver == 1 && len(p) >= 2:
			c = le.Uint16(p)
		default:
			return ec.ResInvalidParam, 0
		}
		m := versionMask(c)
		if m == 0 {
			return ec.ResInvalidParam, 0
		}
		le.PutUint32(out, m)
		return ec.ResSuccess, 4
	case cmdGetCommsStatus:
		var flags uint32
		if e.commsBusy > 0 {
			e.commsBusy--
			flags = commsStatusProcessing
		}
		le.PutUint32(out, flags)
		return ec.ResSuccess, 4
	case cmdTestProtocol:
		if len(p) < 8 {
			return ec.ResInvalidParam, 0
		}
		res := ec.Result(le.Uint32(p))
		n := min(int(le.Uint32(p[4:])), 32)
		if len(p) > 8 {
			copy(out[:n], p[8:min(len(p), 40)])
		}
		return res, n
	case cmdGetProtocolInfo:
		le.PutUint32(out, 1<<3)
		le.PutUint16(out[4:], uint16(e.cfg.MaxRequest))
		le.PutUint16(out[6:], uint16(e.cfg.MaxResponse))
		le.PutUint32(out[8:], protocolInfoInProgressSup)
		return ec.ResSuccess, 12
	case cmdGetFeatures:
		le.PutUint32(out, id.Features[0])
		le.PutUint32(out[4:], id.Features[1])
		return ec.ResSuccess, 8
	case cmdResendResponse:
		if e.commsBusy > 0 {
			return ec.ResInProgress, 0
		}
		res := ec.ResUnavailable
		if e.savedValid && !e.savedHadData {
			res = e.saved
		}
		e.savedValid = false
		return res, 0
	case cmdGetUptimeInfo:
		le.PutUint32(out, uint32((t-e.bootAt)/1e6))
		le.PutUint32(out[4:], e.apResets)
		le.PutUint32(out[8:], e.resetFlags)
		for i, at := range e.apResetTimes {
			if at != 0 {
				le.PutUint16(out[12+8*i:], apResetCause)
				le.PutUint32(out[12+8*i+4:], at)
			}
		}
		return ec.ResSuccess, 44
	}
	return ec.ResInvalidCommand, 0
}

// apResetCause is the reset_cause of the simulated AP resets
// (enum chipset_shutdown_reason CHIPSET_RESET_AP_REQ-like value).
const apResetCause = 0x0005
