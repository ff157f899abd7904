package ec

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"
	"time"
)

func field32(s string) []byte {
	b := make([]byte, 32)
	copy(b, s)
	return b
}

func versionPayload(ro, rw, fwro string, image uint32, fwrw string, v1 bool) []byte {
	b := append(append(field32(ro), field32(rw)...), field32(fwro)...)
	b = binary.LittleEndian.AppendUint32(b, image)
	if v1 {
		b = append(b, field32(fwrw)...)
	}
	return b
}

func TestCString(t *testing.T) {
	tests := []struct {
		in      []byte
		want    string
		wantErr bool
	}{
		{[]byte("abc\x00garbage\xff"), "abc", false},
		{[]byte("full-field-without-nul"), "full-field-without-nul", false},
		{[]byte{0, 'x'}, "", false},
		{nil, "", false},
		{[]byte("tab\tok\x00"), "tab\tok", false},
		{[]byte("bad\x01ctl\x00"), "", true},
		{[]byte("hi\xc3\xa9\x00"), "", true},
		{[]byte("del\x7f\x00"), "", true},
	}
	for _, tt := range tests {
		got, err := CString(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("CString(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDecodeVersion(t *testing.T) {
	v0 := versionPayload("ro_v1", "rw_v2", "", 2, "", false)
	v1 := versionPayload("ro_v1", "rw_v2", "fwid_ro", 1, "fwid_rw", true)
	bad := versionPayload("ro\x02x", "rw", "", 2, "", false)
	tests := []struct {
		name    string
		b       []byte
		ver     uint8
		want    VersionInfo
		wantErr string
	}{
		{"v0", v0, 0, VersionInfo{RO: "ro_v1", RW: "rw_v2", Image: ImageRW}, ""},
		{"v1", v1, 1, VersionInfo{RO: "ro_v1", RW: "rw_v2", Image: ImageRO, CrosFWIDRO: "fwid_ro", CrosFWIDRW: "fwid_rw", CmdVersion: 1}, ""},
		{"v1 data read as v0", v1, 0, VersionInfo{RO: "ro_v1", RW: "rw_v2", Image: ImageRO}, ""},
		{"v0 short", v0[:99], 0, VersionInfo{}, "want at least 100"},
		{"v1 short", v0, 1, VersionInfo{}, "want at least 132"},
		{"garbage in ro", bad, 0, VersionInfo{}, "version_string_ro"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeVersion(tt.b, tt.ver)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || CauseOf(err) != CauseBadResponse {
					t.Fatalf("err = %v, want %q (bad_response)", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestImageString(t *testing.T) {
	want := []string{"unknown", "RO", "RW", "RO_B", "RW_B", "invalid"}
	for i, w := range want {
		if got := Image(i).String(); got != w {
			t.Errorf("Image(%d) = %q, want %q", i, got, w)
		}
	}
}

func TestDecodeChipInfo(t *testing.T) {
	good := append(append(field32("stm"), field32("stm32f07x")...), field32("")...)
	c, err := DecodeChipInfo(good)
	if err != nil || c != (ChipInfo{"stm", "stm32f07x", ""}) {
		t.Errorf("good: %+v %v", c, err)
	}
	if _, err := DecodeChipInfo(good[:95]); err == nil || CauseOf(err) != CauseBadResponse {
		t.Errorf("short: %v", err)
	}
	bad := append([]byte(nil), good...)
	bad[40] = 0x80
	if _, err := DecodeChipInfo(bad); err == nil || !strings.Contains(err.Error(), "name") {
		t.Errorf("garbage name: %v", err)
	}
}

func TestDecodeBuildInfo(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"fpmcu_v2.0 2026-01-01 builder\x00", "fpmcu_v2.0 2026-01-01 builder", false},
		{"no terminator", "no terminator", false},
		{"\x00", "", false},
		{"bin\x00\x00\x01", "bin", false},
		{"\x10\x00", "", true},
	}
	for _, tt := range tests {
		got, err := DecodeBuildInfo([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("DecodeBuildInfo(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func TestDecodeProtocolInfo(t *testing.T) {
	mk := func(versions uint32, req, resp uint16, flags uint32) []byte {
		b := binary.LittleEndian.AppendUint32(nil, versions)
		b = binary.LittleEndian.AppendUint16(b, req)
		b = binary.LittleEndian.AppendUint16(b, resp)
		return binary.LittleEndian.AppendUint32(b, flags)
	}
	tests := []struct {
		name        string
		b           []byte
		wantErr     bool
		ver, mi, mo int
		inProgress  bool
	}{
		{"stm32", mk(1<<3, 0x220, 0x220, 1), false, 3, 0x218, 0x218, true},
		{"ite", mk(1<<3, 256, 248, 0), false, 3, 248, 240, false},
		{"v2 and v3 mask capped at 3", mk(1<<2|1<<3|1<<4, 168, 168, 0), false, 3, 160, 160, false},
		{"empty mask", mk(0, 168, 168, 0), false, -1, 160, 160, false},
		{"size below header", mk(1<<3, 4, 0x220, 0), true, 0, 0, 0, false},
		{"short", mk(1<<3, 0x220, 0x220, 1)[:11], true, 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodeProtocolInfo(tt.b)
			if tt.wantErr {
				if err == nil || CauseOf(err) != CauseBadResponse {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.ProtocolVersion() != tt.ver || p.MaxRequest() != tt.mi || p.MaxResponse() != tt.mo || p.InProgressSupported() != tt.inProgress {
				t.Errorf("%+v: ver %d max %d/%d inprogress %v", p, p.ProtocolVersion(), p.MaxRequest(), p.MaxResponse(), p.InProgressSupported())
			}
		})
	}
}

func TestDecodeFeatures(t *testing.T) {
	b := binary.LittleEndian.AppendUint32(nil, 1<<28|1<<1)
	b = binary.LittleEndian.AppendUint32(b, 1<<(39-32)|1<<(63-32))
	f, err := DecodeFeatures(b)
	if err != nil {
		t.Fatal(err)
	}
	if !f.Has(FeatureFingerprint) || !f.Has(FeatureSCP) || f.Has(FeatureTouchpad) || f.Has(200) {
		t.Errorf("Has: %v", f)
	}
	if got, want := f.Names(), []string{"FLASH", "FINGERPRINT", "SCP", "FEATURE_63"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
	if _, err := DecodeFeatures(b[:7]); err == nil {
		t.Error("short accepted")
	}
	if Feature(46).String() != "TYPEC_AP_VDM_SEND" || FeatureISH.String() != "ISH" || FeatureTouchpad.String() != "TOUCHPAD" {
		t.Error("feature names out of line with ec_commands.h")
	}
}

func TestDecodeUptimeInfo(t *testing.T) {
	b := binary.LittleEndian.AppendUint32(nil, 86400000)
	b = binary.LittleEndian.AppendUint32(b, 3)
	b = binary.LittleEndian.AppendUint32(b, ResetFlagPowerOn|ResetFlagSysjump|1<<30)
	for i := 0; i < 4; i++ {
		b = binary.LittleEndian.AppendUint16(b, uint16(i*2))
		b = binary.LittleEndian.AppendUint16(b, 0xffff) // reserved, ignored
		b = binary.LittleEndian.AppendUint32(b, uint32(i*1000))
	}
	if len(b) != UptimeInfoSize {
		t.Fatalf("test payload %d bytes", len(b))
	}
	u, err := DecodeUptimeInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	if u.SinceBoot != 24*time.Hour || u.APResets != 3 {
		t.Errorf("%+v", u)
	}
	if got, want := u.ResetFlagNames(), []string{"POWER_ON", "SYSJUMP", "BIT_30"}; !reflect.DeepEqual(got, want) {
		t.Errorf("flags %v, want %v", got, want)
	}
	if !u.RecentResets[0].Empty() || u.RecentResets[3] != (APReset{Cause: 6, Time: 3 * time.Second}) {
		t.Errorf("recent %+v", u.RecentResets)
	}
	if _, err := DecodeUptimeInfo(b[:43]); err == nil || CauseOf(err) != CauseBadResponse {
		t.Errorf("short: %v", err)
	}
}

func TestResetFlagNames(t *testing.T) {
	if got := ResetFlagNames(0); got != nil {
		t.Errorf("0: %v", got)
	}
	all := ResetFlagNames(1<<23 - 1)
	if len(all) != 23 || all[0] != "OTHER" || all[4] != "WATCHDOG" || all[10] != "SYSJUMP" || all[22] != "INITIAL_PWR" {
		t.Errorf("names %v", all)
	}
	if ResetFlagName(3) != "POWER_ON" || ResetFlagName(31) != "BIT_31" {
		t.Error("ResetFlagName")
	}
}

func TestDecodeUint32AndHello(t *testing.T) {
	if v, err := DecodeUint32("X", []byte{1, 2, 3, 4, 5}); err != nil || v != 0x04030201 {
		t.Errorf("%x %v", v, err)
	}
	if _, err := DecodeUint32("X", []byte{1, 2, 3}); err == nil {
		t.Error("short accepted")
	}
	out := make([]byte, 4)
	in := uint32(0xffffffff)
	EncodeHello(out, in)
	if binary.LittleEndian.Uint32(out) != in {
		t.Error("EncodeHello")
	}
	binary.LittleEndian.PutUint32(out, in+HelloAdd) // wraps mod 2^32
	if out[0] != 0x03 || out[3] != 0x01 {
		t.Errorf("wrap % x", out)
	}
	if err := DecodeHello(out, 0xffffffff); err != nil {
		t.Errorf("wrap: %v", err)
	}
	if err := DecodeHello(out, 0); err == nil || CauseOf(err) != CauseBadResponse {
		t.Errorf("mismatch: %v", err)
	}
	if err := DecodeHello(out[:3], 0xffffffff); err == nil {
		t.Error("short accepted")
	}
}

func TestCommandName(t *testing.T) {
	if CommandName(CmdGetUptimeInfo) != "GET_UPTIME_INFO" || CommandName(0x3ff) != "0x03ff" {
		t.Error(CommandName(CmdGetUptimeInfo), CommandName(0x3ff))
	}
}
