package ec

import "encoding/binary"

// Protocol v3 constants (ec_commands.h).
const (
	HeaderSize      = 8 // bytes in struct ec_host_request and struct ec_host_response
	RequestVersion  = 3 // EC_HOST_REQUEST_VERSION
	ResponseVersion = 3 // EC_HOST_RESPONSE_VERSION
	MaxMsgBytes     = 65536
)

// Errors from decoding a response packet; each names the check that failed.
var (
	ErrShortHeader       = &Error{Cause: CauseBadResponse, Op: "ec: response shorter than its 8-byte header"}
	ErrResponseVersion   = &Error{Cause: CauseBadResponse, Op: "ec: response struct_version is not 3"}
	ErrResponseReserved  = &Error{Cause: CauseBadResponse, Op: "ec: response reserved field is not 0"}
	ErrResponseTooLong   = &Error{Cause: CauseBadResponse, Op: "ec: response data_len exceeds the expected size"}
	ErrResponseTruncated = &Error{Cause: CauseBadResponse, Op: "ec: response packet shorter than 8+data_len"}
	ErrChecksum          = &Error{Cause: CauseChecksum, Op: "ec: bad response packet checksum"}
	ErrRequestTooBig     = &Error{Cause: CauseBadResponse, Op: "ec: request does not fit the buffer or the EC's limit"}
)

// Checksum returns the v3 checksum byte for b: the value that makes the byte sum zero.
func Checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}

// Sum returns the 8-bit sum of b; a valid v3 packet sums to 0.
func Sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// EncodeRequest writes a v3 request packet (header + out) into buf and returns its length.
func EncodeRequest(buf []byte, command uint16, version uint8, out []byte) (int, error) {
	n := HeaderSize + len(out)
	if n > len(buf) || len(out) > 0xffff {
		return 0, ErrRequestTooBig
	}
	buf[0] = RequestVersion
	buf[1] = 0
	binary.LittleEndian.PutUint16(buf[2:], command)
	buf[4] = version
	buf[5] = 0
	binary.LittleEndian.PutUint16(buf[6:], uint16(len(out)))
	copy(buf[HeaderSize:], out)
	buf[1] = Checksum(buf[:n])
	return n, nil
}

// RequestHeader is struct ec_host_request.
type RequestHeader struct {
	Version  uint8
	Checksum uint8
	Command  uint16
	CmdVer   uint8
	Reserved uint8
	DataLen  uint16
}

// ParseRequestHeader reads the 8-byte request header from b (len(b) >= 8).
func ParseRequestHeader(b []byte) RequestHeader {
	return RequestHeader{
		Version:  b[0],
		Checksum: b[1],
		Command:  binary.LittleEndian.Uint16(b[2:]),
		CmdVer:   b[4],
		Reserved: b[5],
		DataLen:  binary.LittleEndian.Uint16(b[6:]),
	}
}

// ResponseHeader is struct ec_host_response.
type ResponseHeader struct {
	Version  uint8
	Checksum uint8
	Result   Result
	DataLen  uint16
	Reserved uint16
}

// ParseResponseHeader reads the 8-byte response header; it checks only the length.
func ParseResponseHeader(b []byte) (ResponseHeader, error) {
	if len(b) < HeaderSize {
		return ResponseHeader{}, ErrShortHeader
	}
	return ResponseHeader{
		Version:  b[0],
		Checksum: b[1],
		Result:   Result(binary.LittleEndian.Uint16(b[2:])),
		DataLen:  binary.LittleEndian.Uint16(b[4:]),
		Reserved: binary.LittleEndian.Uint16(b[6:]),
	}, nil
}

// DecodeResponse checks a v3 response packet (struct_version, reserved, data_len
// against insize, length, checksum) and returns its header and data (a subslice of pkt).
//
// Linux checks only data_len and the checksum (cros_ec_spi.c do_cros_ec_pkt_xfer_spi);
// coreboot and depthcharge also reject struct_version != 3 and reserved != 0. We follow
// coreboot: every EC firmware writes 3 and 0 (chip/stm32/spi.c, chip/npcx/shi.c via
// host_packet_respond), so a different value is a corrupted packet, and an exporter of
// link health should count it (bad_response) rather than trust data that merely has a
// matching checksum. The kernel would pass such a packet through; /dev/cros_ec users never
// see the header, so this only applies to the SPI path (ecspi).
func DecodeResponse(pkt []byte, insize int) (ResponseHeader, []byte, error) {
	h, err := ParseResponseHeader(pkt)
	if err != nil {
		return h, nil, err
	}
	if h.Version != ResponseVersion {
		return h, nil, ErrResponseVersion
	}
	if h.Reserved != 0 {
		return h, nil, ErrResponseReserved
	}
	if int(h.DataLen) > insize {
		return h, nil, ErrResponseTooLong
	}
	end := HeaderSize + int(h.DataLen)
	if len(pkt) < end {
		return h, nil, ErrResponseTruncated
	}
	if Sum(pkt[:end]) != 0 {
		return h, nil, ErrChecksum
	}
	return h, pkt[HeaderSize:end], nil
}

// EncodeResponse writes a v3 response packet (header + data) into buf and returns its length;
// it is what an EC (or the simulator) sends.
func EncodeResponse(buf []byte, result Result, data []byte) (int, error) {
	n := HeaderSize + len(data)
	if n > len(buf) || len(data) > 0xffff {
		return 0, ErrRequestTooBig
	}
	buf[0] = ResponseVersion
	buf[1] = 0
	binary.LittleEndian.PutUint16(buf[2:], uint16(result))
	binary.LittleEndian.PutUint16(buf[4:], uint16(len(data)))
	buf[6], buf[7] = 0, 0
	copy(buf[HeaderSize:], data)
	buf[1] = Checksum(buf[:n])
	return n, nil
}
