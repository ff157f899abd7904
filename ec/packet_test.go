package ec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Known answers from reference §2.3, byte for byte.
func TestKnownAnswerRequests(t *testing.T) {
	tests := []struct {
		name string
		cmd  uint16
		ver  uint8
		out  []byte
		want string
	}{
		{"HELLO a0b0c0d0", CmdHello, 0, []byte{0xd0, 0xc0, 0xb0, 0xa0}, "03 18 01 00 00 00 04 00 d0 c0 b0 a0"},
		{"GET_PROTOCOL_INFO", CmdGetProtocolInfo, 0, nil, "03 f2 0b 00 00 00 00 00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := make([]byte, 64)
			n, err := EncodeRequest(buf, tt.cmd, tt.ver, tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.want); !bytes.Equal(buf[:n], want) {
				t.Fatalf("request\n got % x\nwant % x", buf[:n], want)
			}
			h := ParseRequestHeader(buf[:n])
			if h.Version != 3 || h.Command != tt.cmd || h.CmdVer != tt.ver || int(h.DataLen) != len(tt.out) || Sum(buf[:n]) != 0 {
				t.Fatalf("ParseRequestHeader = %+v", h)
			}
		})
	}
}

func TestKnownAnswerResponses(t *testing.T) {
	tests := []struct {
		name   string
		result Result
		data   string
		want   string
	}{
		{"HELLO a1b2c3d4", ResSuccess, "d4 c3 b2 a1", "03 0f 00 00 04 00 00 00 d4 c3 b2 a1"},
		{"GET_PROTOCOL_INFO STM32", ResSuccess, "08 00 00 00 20 02 20 02 01 00 00 00",
			"03 a4 00 00 0c 00 00 00 08 00 00 00 20 02 20 02 01 00 00 00"},
		{"INVALID_COMMAND", ResInvalidCommand, "", "03 fc 01 00 00 00 00 00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := unhex(t, tt.data)
			want := unhex(t, tt.want)
			buf := make([]byte, 64)
			n, err := EncodeResponse(buf, tt.result, data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], want) {
				t.Fatalf("encode\n got % x\nwant % x", buf[:n], want)
			}
			h, got, err := DecodeResponse(want, 64)
			if err != nil {
				t.Fatal(err)
			}
			if h.Result != tt.result || !bytes.Equal(got, data) || int(h.DataLen) != len(data) {
				t.Fatalf("decode: header %+v data % x", h, got)
			}
		})
	}
	// The decoded payloads mean what §2.3 says.
	if err := DecodeHello(unhex(t, "d4 c3 b2 a1"), 0xa0b0c0d0); err != nil {
		t.Errorf("HELLO answer: %v", err)
	}
	p, err := DecodeProtocolInfo(unhex(t, "08 00 00 00 20 02 20 02 01 00 00 00"))
	if err != nil {
		t.Fatal(err)
	}
	if p.ProtocolVersion() != 3 || p.MaxRequest() != 0x218 || p.MaxResponse() != 0x218 || !p.InProgressSupported() {
		t.Errorf("protocol info %+v: version %d, max %d/%d", p, p.ProtocolVersion(), p.MaxRequest(), p.MaxResponse())
	}
}

// Every rejection rule gives its own error and cause.
func TestDecodeResponseRejections(t *testing.T) {
	good := unhex(t, "03 0f 00 00 04 00 00 00 d4 c3 b2 a1")
	mod := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good...)
		return f(b)
	}
	fix := func(b []byte) []byte { // recompute the checksum over header + data_len bytes
		b[1] = 0
		end := min(len(b), HeaderSize+int(binary.LittleEndian.Uint16(b[4:])))
		b[1] = Checksum(b[:end])
		return b
	}
	tests := []struct {
		name   string
		pkt    []byte
		insize int
		want   error
		cause  Cause
	}{
		{"short header", good[:7], 4, ErrShortHeader, CauseBadResponse},
		{"empty", nil, 4, ErrShortHeader, CauseBadResponse},
		{"struct_version 2", mod(func(b []byte) []byte { b[0] = 2; return fix(b) }), 4, ErrResponseVersion, CauseBadResponse},
		{"reserved set", mod(func(b []byte) []byte { b[6] = 1; return fix(b) }), 4, ErrResponseReserved, CauseBadResponse},
		{"data_len > insize", good, 3, ErrResponseTooLong, CauseBadResponse},
		{"truncated", good[:11], 4, ErrResponseTruncated, CauseBadResponse},
		{"checksum", mod(func(b []byte) []byte { b[8] ^= 1; return b }), 4, ErrChecksum, CauseChecksum},
	}
	seen := map[error]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, data, err := DecodeResponse(tt.pkt, tt.insize)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if data != nil {
				t.Errorf("data returned with an error")
			}
			if c := CauseOf(err); c != tt.cause {
				t.Errorf("cause = %v, want %v", c, tt.cause)
			}
			if err.Error() == "" {
				t.Error("empty message")
			}
		})
		seen[tt.want] = true
	}
	if len(seen) != 6 {
		t.Errorf("rejection rules covered: %d, want 6", len(seen))
	}
	// The good packet passes, also with insize larger than needed and trailing 0xED filler.
	if _, _, err := DecodeResponse(append(append([]byte(nil), good...), 0xed, 0xed), 32); err != nil {
		t.Errorf("good packet with filler: %v", err)
	}
}

func TestEncodeTooBig(t *testing.T) {
	buf := make([]byte, 10)
	if _, err := EncodeRequest(buf, CmdHello, 0, make([]byte, 3)); !errors.Is(err, ErrRequestTooBig) {
		t.Errorf("EncodeRequest: %v", err)
	}
	if _, err := EncodeResponse(buf, 0, make([]byte, 3)); !errors.Is(err, ErrRequestTooBig) {
		t.Errorf("EncodeResponse: %v", err)
	}
	if n, err := EncodeRequest(buf, CmdHello, 0, make([]byte, 2)); err != nil || n != 10 {
		t.Errorf("exact fit: %d %v", n, err)
	}
}

func TestResultErrors(t *testing.T) {
	var err error = ResInvalidCommand
	wrapped := errors.Join(errors.New("ctx"), err)
	if !errors.Is(wrapped, ResInvalidCommand) || !IsUnsupported(wrapped) {
		t.Error("errors.Is through a wrap")
	}
	var r Result
	if !errors.As(wrapped, &r) || r != ResInvalidCommand {
		t.Error("errors.As")
	}
	if CauseOf(wrapped) != CauseECResult {
		t.Errorf("cause %v", CauseOf(wrapped))
	}
	if ResDupUnavailable.Name() != "DUP_UNAVAILABLE" || Result(21).Name() != "UNKNOWN_21" {
		t.Error("names")
	}
	if !strings.Contains(ResInProgress.Error(), "EC_RES_IN_PROGRESS (8)") {
		t.Error(ResInProgress.Error())
	}
}
