package ec

import (
	"encoding/binary"
	"fmt"
)

// Host command codes (EC_CMD_* in ec_commands.h).
const (
	CmdProtoVersion    uint16 = 0x0000 // EC_CMD_PROTO_VERSION
	CmdHello           uint16 = 0x0001 // EC_CMD_HELLO
	CmdGetVersion      uint16 = 0x0002 // EC_CMD_GET_VERSION
	CmdGetBuildInfo    uint16 = 0x0004 // EC_CMD_GET_BUILD_INFO
	CmdGetChipInfo     uint16 = 0x0005 // EC_CMD_GET_CHIP_INFO
	CmdGetBoardVersion uint16 = 0x0006 // EC_CMD_GET_BOARD_VERSION
	CmdReadMemmap      uint16 = 0x0007 // EC_CMD_READ_MEMMAP
	CmdGetCmdVersions  uint16 = 0x0008 // EC_CMD_GET_CMD_VERSIONS
	CmdGetCommsStatus  uint16 = 0x0009 // EC_CMD_GET_COMMS_STATUS
	CmdTestProtocol    uint16 = 0x000A // EC_CMD_TEST_PROTOCOL
	CmdGetProtocolInfo uint16 = 0x000B // EC_CMD_GET_PROTOCOL_INFO
	CmdGetFeatures     uint16 = 0x000D // EC_CMD_GET_FEATURES
	CmdRebootEC        uint16 = 0x00D2 // EC_CMD_REBOOT_EC
	CmdResendResponse  uint16 = 0x00DB // EC_CMD_RESEND_RESPONSE
	CmdGetUptimeInfo   uint16 = 0x0121 // EC_CMD_GET_UPTIME_INFO

	// CmdPassthruOffsetPD is added to a command code to address the PD MCU behind the EC.
	CmdPassthruOffsetPD uint16 = 0x4000
)

// Payload sizes of the fixed-size responses, in bytes.
const (
	HelloSize                              = 4 // struct ec_params_hello / ec_response_hello
	HelloAdd                               = 0x01020304
	VersionV0Size                          = 100 // struct ec_response_get_version
	VersionV1Size                          = 132 // struct ec_response_get_version_v1
	ChipInfoSize                           = 96  // struct ec_response_get_chip_info
	ProtocolInfoSize                       = 12  // struct ec_response_get_protocol_info
	CmdVersionsSize                        = 4   // struct ec_response_get_cmd_versions
	CommsStatusSize                        = 4   // struct ec_response_get_comms_status
	FeaturesSize                           = 8   // struct ec_response_get_features
	UptimeInfoSize                         = 44  // struct ec_response_uptime_info
	ProtoV2MaxParam                        = 0xfc
	DefaultMaxOut                          = ProtoV2MaxParam - HeaderSize // ectool's limit before GET_PROTOCOL_INFO (244)
	DefaultMaxIn                           = ProtoV2MaxParam              // ectool's limit before GET_PROTOCOL_INFO (252)
	stringFieldSize                        = 32
	CommsStatusProcessing           uint32 = 1 << 0 // EC_COMMS_STATUS_PROCESSING
	ProtocolInfoInProgressSupported uint32 = 1 << 0 // EC_PROTOCOL_INFO_IN_PROGRESS_SUPPORTED
)

// CommandName returns the ec_commands.h name of a command code this package knows
// (without EC_CMD_), or its hex value.
func CommandName(cmd uint16) string {
	switch cmd {
	case CmdProtoVersion:
		return "PROTO_VERSION"
	case CmdHello:
		return "HELLO"
	case CmdGetVersion:
		return "GET_VERSION"
	case CmdGetBuildInfo:
		return "GET_BUILD_INFO"
	case CmdGetChipInfo:
		return "GET_CHIP_INFO"
	case CmdGetBoardVersion:
		return "GET_BOARD_VERSION"
	case CmdReadMemmap:
		return "READ_MEMMAP"
	case CmdGetCmdVersions:
		return "GET_CMD_VERSIONS"
	case CmdGetCommsStatus:
		return "GET_COMMS_STATUS"
	case CmdTestProtocol:
		return "TEST_PROTOCOL"
	case CmdGetProtocolInfo:
		return "GET_PROTOCOL_INFO"
	case CmdGetFeatures:
		return "GET_FEATURES"
	case CmdRebootEC:
		return "REBOOT_EC"
	case CmdResendResponse:
		return "RESEND_RESPONSE"
	case CmdGetUptimeInfo:
		return "GET_UPTIME_INFO"
	}
	return fmt.Sprintf("0x%04x", cmd)
}

// payloadError is the error for a response payload that cannot be decoded.
func payloadError(cmd string, format string, args ...any) error {
	return &Error{Cause: CauseBadResponse, Op: "ec: " + cmd + ": " + fmt.Sprintf(format, args...)}
}

func needLen(cmd string, b []byte, n int) error {
	if len(b) < n {
		return payloadError(cmd, "response is %d bytes, want at least %d", len(b), n)
	}
	return nil
}

// CString decodes a NUL-terminated string field: it cuts at the first NUL (or the
// field's end) and rejects bytes that are not printable ASCII, which mean the
// field was not a string (misframed or corrupt data).
func CString(field []byte) (string, error) {
	n := len(field)
	for i, c := range field {
		if c == 0 {
			n = i
			break
		}
	}
	s := field[:n]
	for i, c := range s {
		if c < 0x20 || c > 0x7e {
			if c == '\t' || c == '\n' {
				continue
			}
			return "", fmt.Errorf("non-printable byte 0x%02x at offset %d", c, i)
		}
	}
	return string(s), nil
}

func stringField(cmd, name string, b []byte) (string, error) {
	s, err := CString(b)
	if err != nil {
		return "", payloadError(cmd, "field %s: %v", name, err)
	}
	return s, nil
}

// EncodeHello writes the HELLO parameter in_data into b (len >= 4).
func EncodeHello(b []byte, in uint32) { binary.LittleEndian.PutUint32(b, in) }

// DecodeHello checks a HELLO response against the in_data that was sent.
func DecodeHello(b []byte, in uint32) error {
	if len(b) < HelloSize {
		return errHelloShort
	}
	if binary.LittleEndian.Uint32(b) != in+HelloAdd {
		return errHelloMismatch
	}
	return nil
}

var (
	errHelloShort    = &Error{Cause: CauseBadResponse, Op: "ec: HELLO: response shorter than 4 bytes"}
	errHelloMismatch = &Error{Cause: CauseBadResponse, Op: "ec: HELLO: out_data is not in_data + 0x01020304"}
)

// Image is the EC firmware copy that is running (enum ec_image).
type Image uint32

// EC images.
const (
	ImageUnknown Image = 0
	ImageRO      Image = 1
	ImageRW      Image = 2 // RW_A
	ImageROB     Image = 3
	ImageRWB     Image = 4
)

// String names the image as ectool does: unknown, RO, RW, RO_B, RW_B ("invalid" above 4).
func (i Image) String() string {
	switch i {
	case ImageUnknown:
		return "unknown"
	case ImageRO:
		return "RO"
	case ImageRW:
		return "RW"
	case ImageROB:
		return "RO_B"
	case ImageRWB:
		return "RW_B"
	}
	return "invalid"
}

// VersionInfo is the answer to GET_VERSION (v0 or v1).
type VersionInfo struct {
	RO, RW     string // version_string_ro / version_string_rw
	Image      Image  // current_image
	CrosFWIDRO string // v1 only
	CrosFWIDRW string // v1 only
	CmdVersion uint8  // command version that produced this answer
}

// DecodeVersion decodes a GET_VERSION response of command version v (0 or 1).
func DecodeVersion(b []byte, v uint8) (VersionInfo, error) {
	const cmd = "GET_VERSION"
	want := VersionV0Size
	if v >= 1 {
		want = VersionV1Size
	}
	if err := needLen(cmd, b, want); err != nil {
		return VersionInfo{}, err
	}
	var vi VersionInfo
	var err error
	vi.CmdVersion = v
	if vi.RO, err = stringField(cmd, "version_string_ro", b[0:32]); err != nil {
		return VersionInfo{}, err
	}
	if vi.RW, err = stringField(cmd, "version_string_rw", b[32:64]); err != nil {
		return VersionInfo{}, err
	}
	vi.Image = Image(binary.LittleEndian.Uint32(b[96:100]))
	if v >= 1 {
		if vi.CrosFWIDRO, err = stringField(cmd, "cros_fwid_ro", b[64:96]); err != nil {
			return VersionInfo{}, err
		}
		if vi.CrosFWIDRW, err = stringField(cmd, "cros_fwid_rw", b[100:132]); err != nil {
			return VersionInfo{}, err
		}
	}
	return vi, nil
}

// DecodeBuildInfo decodes a GET_BUILD_INFO response: a NUL-terminated string.
func DecodeBuildInfo(b []byte) (string, error) {
	s, err := CString(b)
	if err != nil {
		return "", payloadError("GET_BUILD_INFO", "%v", err)
	}
	return s, nil
}

// ChipInfo is the answer to GET_CHIP_INFO.
type ChipInfo struct {
	Vendor, Name, Revision string
}

// DecodeChipInfo decodes a GET_CHIP_INFO response (96 bytes).
func DecodeChipInfo(b []byte) (ChipInfo, error) {
	const cmd = "GET_CHIP_INFO"
	if err := needLen(cmd, b, ChipInfoSize); err != nil {
		return ChipInfo{}, err
	}
	var c ChipInfo
	var err error
	if c.Vendor, err = stringField(cmd, "vendor", b[0:32]); err != nil {
		return ChipInfo{}, err
	}
	if c.Name, err = stringField(cmd, "name", b[32:64]); err != nil {
		return ChipInfo{}, err
	}
	if c.Revision, err = stringField(cmd, "revision", b[64:96]); err != nil {
		return ChipInfo{}, err
	}
	return c, nil
}

// ProtocolInfo is the answer to GET_PROTOCOL_INFO.
type ProtocolInfo struct {
	Versions          uint32 // bitmask, 1<<3 = protocol v3
	MaxRequestPacket  uint16 // bytes including the 8-byte header
	MaxResponsePacket uint16 // bytes including the 8-byte header
	Flags             uint32 // bit 0 = IN_PROGRESS supported
}

// DecodeProtocolInfo decodes a GET_PROTOCOL_INFO response (12 bytes). It rejects
// packet sizes smaller than the 8-byte header, which no EC advertises.
func DecodeProtocolInfo(b []byte) (ProtocolInfo, error) {
	const cmd = "GET_PROTOCOL_INFO"
	if err := needLen(cmd, b, ProtocolInfoSize); err != nil {
		return ProtocolInfo{}, err
	}
	p := ProtocolInfo{
		Versions:          binary.LittleEndian.Uint32(b[0:]),
		MaxRequestPacket:  binary.LittleEndian.Uint16(b[4:]),
		MaxResponsePacket: binary.LittleEndian.Uint16(b[6:]),
		Flags:             binary.LittleEndian.Uint32(b[8:]),
	}
	if p.MaxRequestPacket < HeaderSize || p.MaxResponsePacket < HeaderSize {
		return ProtocolInfo{}, payloadError(cmd, "packet sizes %d/%d are smaller than the 8-byte header",
			p.MaxRequestPacket, p.MaxResponsePacket)
	}
	return p, nil
}

// MaxRequest returns the largest request payload (packet size minus header), as the kernel derives it.
func (p ProtocolInfo) MaxRequest() int { return int(p.MaxRequestPacket) - HeaderSize }

// MaxResponse returns the largest response payload (packet size minus header).
func (p ProtocolInfo) MaxResponse() int { return int(p.MaxResponsePacket) - HeaderSize }

// ProtocolVersion returns the highest protocol version in Versions, capped at 3 as the kernel does
// (min(3, fls(versions)-1)); -1 if the mask is empty.
func (p ProtocolInfo) ProtocolVersion() int {
	v := -1
	for i := 31; i >= 0; i-- {
		if p.Versions&(1<<uint(i)) != 0 {
			v = i
			break
		}
	}
	return min(v, 3)
}

// InProgressSupported reports whether the EC may answer EC_RES_IN_PROGRESS.
func (p ProtocolInfo) InProgressSupported() bool {
	return p.Flags&ProtocolInfoInProgressSupported != 0
}

// DecodeUint32 decodes a response that is a single little-endian u32
// (GET_CMD_VERSIONS version_mask, GET_COMMS_STATUS flags).
func DecodeUint32(cmd string, b []byte) (uint32, error) {
	if err := needLen(cmd, b, 4); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}
