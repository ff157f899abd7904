package ec

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestHello(t *testing.T) {
	d, f, _ := testDevice()
	for i := 0; i < 3; i++ {
		if err := d.Hello(); err != nil {
			t.Fatal(err)
		}
	}
	if f.perCommand[CmdHello] != 3 || d.LastRetries() != 0 {
		t.Errorf("hello count %d, retries %d", f.perCommand[CmdHello], d.LastRetries())
	}
	f.badHello = true
	err := d.Hello()
	if err == nil || CauseOf(err) != CauseBadResponse || !strings.Contains(err.Error(), "in_data + 0x01020304") {
		t.Errorf("bad hello: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "test: HELLO v0: ") {
		t.Errorf("context missing: %v", err)
	}
}

func TestHelloZeroAllocs(t *testing.T) {
	d, _, _ := testDevice()
	allocs := testing.AllocsPerRun(1000, func() {
		if err := d.Hello(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Hello allocates %v times per call, want 0", allocs)
	}
}

func BenchmarkHello(b *testing.B) {
	d, _, _ := testDevice()
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Hello(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRunNotReadyRetries(t *testing.T) {
	tests := []struct {
		name        string
		notReady    int
		policy      int
		wantErr     bool
		wantRetries int
		wantXfers   int
	}{
		{"none", 0, 3, false, 0, 1},
		{"two then ok", 2, 3, false, 2, 3},
		{"exactly the bound", 3, 3, false, 3, 4},
		{"one too many", 4, 3, true, 3, 4},
		{"retries off", 1, 0, true, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, f, slept := testDevice()
			p := d.RetryPolicy()
			p.NotReadyRetries = tt.policy
			d.SetRetryPolicy(p)
			f.notReady = tt.notReady
			err := d.Hello()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr && CauseOf(err) != CauseNotReady {
				t.Errorf("cause %v", CauseOf(err))
			}
			if d.LastRetries() != tt.wantRetries || d.helloMsg.Retries != tt.wantRetries || f.xfers != tt.wantXfers {
				t.Errorf("retries %d (msg %d), xfers %d; want %d, %d", d.LastRetries(), d.helloMsg.Retries, f.xfers, tt.wantRetries, tt.wantXfers)
			}
			if len(*slept) != tt.wantRetries {
				t.Errorf("slept %d times", len(*slept))
			}
			for _, s := range *slept {
				if s != time.Millisecond {
					t.Errorf("not-ready delay %v", s)
				}
			}
		})
	}
}

func TestRunInProgress(t *testing.T) {
	t.Run("polls until done then fetches the data", func(t *testing.T) {
		d, f, slept := testDevice()
		f.inProgress, f.processingPolls = 1, 3
		if err := d.Hello(); err != nil {
			t.Fatal(err)
		}
		// 4 polls (3 PROCESSING + 1 done) and one re-send.
		if f.perCommand[CmdGetCommsStatus] != 4 || f.perCommand[CmdHello] != 2 || d.LastRetries() != 5 {
			t.Errorf("status polls %d, hellos %d, retries %d", f.perCommand[CmdGetCommsStatus], f.perCommand[CmdHello], d.LastRetries())
		}
		if len(*slept) != 4 || (*slept)[0] != 10*time.Millisecond {
			t.Errorf("sleeps %v", *slept)
		}
	})
	t.Run("bounded by the kernel's 50 polls", func(t *testing.T) {
		d, f, slept := testDevice()
		f.inProgress, f.processingPolls = 1, 1000
		err := d.Hello()
		if !errors.Is(err, ErrInProgressTimeout) || CauseOf(err) != CauseNotReady {
			t.Fatalf("err = %v", err)
		}
		if f.perCommand[CmdGetCommsStatus] != 50 || d.LastRetries() != 50 || len(*slept) != 50 {
			t.Errorf("polls %d, retries %d, sleeps %d", f.perCommand[CmdGetCommsStatus], d.LastRetries(), len(*slept))
		}
	})
	t.Run("configurable bound", func(t *testing.T) {
		d, f, _ := testDevice()
		d.SetRetryPolicy(RetryPolicy{InProgressPolls: 5, InProgressDelay: time.Microsecond})
		f.inProgress, f.processingPolls = 1, 1000
		if err := d.Hello(); !errors.Is(err, ErrInProgressTimeout) || f.perCommand[CmdGetCommsStatus] != 5 {
			t.Fatalf("err %v polls %d", err, f.perCommand[CmdGetCommsStatus])
		}
	})
	t.Run("repeated IN_PROGRESS shares one poll budget", func(t *testing.T) {
		d, f, _ := testDevice()
		f.inProgress, f.processingPolls = 1000, 0
		err := d.Hello()
		if !errors.Is(err, ErrInProgressTimeout) {
			t.Fatalf("err = %v", err)
		}
		if f.perCommand[CmdGetCommsStatus] != 50 || f.perCommand[CmdHello] != 51 {
			t.Errorf("polls %d hellos %d", f.perCommand[CmdGetCommsStatus], f.perCommand[CmdHello])
		}
	})
	t.Run("status command error result ends the wait", func(t *testing.T) {
		d, f, _ := testDevice()
		f.inProgress, f.processingPolls, f.statusResult = 1, 3, ResBusy
		err := d.Hello()
		if !errors.Is(err, ResBusy) || CauseOf(err) != CauseECResult || f.perCommand[CmdGetCommsStatus] != 1 {
			t.Fatalf("err %v polls %d", err, f.perCommand[CmdGetCommsStatus])
		}
	})
	t.Run("not-ready status polls count and continue", func(t *testing.T) {
		d, f, _ := testDevice()
		f.inProgress, f.processingPolls = 1, 1
		d.t = &notReadyStatus{fakeEC: f, n: 2}
		if err := d.Hello(); err != nil {
			t.Fatal(err)
		}
		// 2 failed polls, 1 PROCESSING, 1 done, 1 re-send.
		if d.LastRetries() != 5 {
			t.Errorf("retries %d", d.LastRetries())
		}
	})
}

// notReadyStatus fails the first n GET_COMMS_STATUS transfers with a not-ready error.
type notReadyStatus struct {
	*fakeEC
	n int
}

func (t *notReadyStatus) Xfer(m *Msg) (int, error) {
	if m.Command == CmdGetCommsStatus && t.n > 0 {
		t.n--
		return 0, errFakeNotReady
	}
	return t.fakeEC.Xfer(m)
}

func TestRunErrors(t *testing.T) {
	d, f, _ := testDevice()
	f.corrupt = true
	err := d.Hello()
	if !errors.Is(err, ErrChecksum) || CauseOf(err) != CauseChecksum || d.LastRetries() != 0 {
		t.Errorf("checksum: %v (retries %d)", err, d.LastRetries())
	}
	f.corrupt = false
	f.forceResult = ResAccessDenied
	if err := d.Hello(); !errors.Is(err, ResAccessDenied) || CauseOf(err) != CauseECResult || IsUnsupported(err) {
		t.Errorf("ec result: %v", err)
	}
	f.forceResult = 0
	// Response longer than asked: DecodeResponse's data_len check.
	f.longData = 8
	if err := d.Hello(); !errors.Is(err, ErrResponseTooLong) {
		t.Errorf("long: %v", err)
	}
}

func TestTypedCommands(t *testing.T) {
	d, f, _ := testDevice()
	v, err := d.Version()
	if err != nil {
		t.Fatal(err)
	}
	want := VersionInfo{RO: f.ro, RW: f.rw, Image: ImageRW, CrosFWIDRO: f.fwidRO, CrosFWIDRW: f.fwidRW, CmdVersion: 1}
	if v != want {
		t.Errorf("Version = %+v, want %+v", v, want)
	}
	if _, err := d.Version(); err != nil {
		t.Fatal(err)
	}
	if f.perCommand[CmdGetCmdVersions] != 1 {
		t.Errorf("GET_CMD_VERSIONS sent %d times, want 1 (cached)", f.perCommand[CmdGetCmdVersions])
	}
	if b, err := d.BuildInfo(); err != nil || b != f.build {
		t.Errorf("BuildInfo = %q, %v", b, err)
	}
	if c, err := d.ChipInfo(); err != nil || c != (ChipInfo{"fakevendor", "fakechip", "rev1"}) {
		t.Errorf("ChipInfo = %+v, %v", c, err)
	}
	if p, err := d.ProtocolInfo(); err != nil || p.MaxRequestPacket != 0x220 || p.ProtocolVersion() != 3 {
		t.Errorf("ProtocolInfo = %+v, %v", p, err)
	}
	if s, err := d.CommsStatus(); err != nil || s != 0 {
		t.Errorf("CommsStatus = %x, %v", s, err)
	}
	if fs, err := d.Features(); err != nil || !fs.Has(FeatureFlash) || !fs.Has(FeatureUSBPD) || !fs.Has(FeatureISH) {
		t.Errorf("Features = %v, %v", fs, err)
	}
	u, err := d.UptimeInfo()
	if err != nil || u.SinceBoot != 123456*time.Millisecond || u.APResets != 2 ||
		u.ResetFlags != ResetFlagPowerOn|ResetFlagSysjump || u.RecentResets[0] != (APReset{9, 1500 * time.Millisecond}) {
		t.Errorf("UptimeInfo = %+v, %v", u, err)
	}
	// GET_CMD_VERSIONS v0 (u8) and v1 (u16).
	if m, err := d.CmdVersions(CmdGetVersion); err != nil || m != 3 {
		t.Errorf("CmdVersions(GET_VERSION) = %x, %v", m, err)
	}
	if m, err := d.CmdVersions(CmdGetUptimeInfo); err != nil || m != 1 {
		t.Errorf("CmdVersions(GET_UPTIME_INFO) via v1 = %x, %v", m, err)
	}
	if _, err := d.CmdVersions(0x77); !errors.Is(err, ResInvalidParam) {
		t.Errorf("unknown command: %v", err)
	}
}

func TestOldEC(t *testing.T) {
	d, f, _ := testDevice()
	f.versions[CmdGetVersion] = 1 // v0 only
	delete(f.versions, CmdGetUptimeInfo)
	delete(f.versions, CmdGetChipInfo)
	v, err := d.Version()
	if err != nil || v.CmdVersion != 0 || v.CrosFWIDRO != "" || v.RO != f.ro {
		t.Errorf("Version on v0-only EC = %+v, %v", v, err)
	}
	_, err = d.UptimeInfo()
	if !IsUnsupported(err) || CauseOf(err) != CauseECResult {
		t.Errorf("UptimeInfo on old EC: %v", err)
	}
	if !strings.Contains(err.Error(), "GET_UPTIME_INFO") || !strings.Contains(err.Error(), "INVALID_COMMAND") {
		t.Errorf("message lacks context: %v", err)
	}
	if _, err := d.ChipInfo(); !IsUnsupported(err) {
		t.Errorf("ChipInfo: %v", err)
	}
	// An EC without GET_CMD_VERSIONS at all still gets GET_VERSION v0.
	d2, f2, _ := testDevice()
	delete(f2.versions, CmdGetCmdVersions)
	if v, err := d2.Version(); err != nil || v.CmdVersion != 0 {
		t.Errorf("no GET_CMD_VERSIONS: %+v %v", v, err)
	}
	if _, err := d2.Version(); err != nil || f2.perCommand[CmdGetCmdVersions] != 1 {
		t.Errorf("answer not cached: %v, %d", err, f2.perCommand[CmdGetCmdVersions])
	}
	// A transport error on GET_CMD_VERSIONS is not cached.
	d3, f3, _ := testDevice()
	d3.SetRetryPolicy(RetryPolicy{})
	f3.notReady = 1
	if v, err := d3.Version(); err != nil || v.CmdVersion != 0 {
		t.Errorf("transport error: %+v %v", v, err)
	}
	if v, err := d3.Version(); err != nil || v.CmdVersion != 1 {
		t.Errorf("second try: %+v %v", v, err)
	}
}

func TestRetryPolicyClamp(t *testing.T) {
	d, _, _ := testDevice()
	d.SetRetryPolicy(RetryPolicy{InProgressPolls: -1, NotReadyRetries: -5})
	if p := d.RetryPolicy(); p.InProgressPolls != 0 || p.NotReadyRetries != 0 {
		t.Errorf("%+v", p)
	}
	if p := DefaultRetryPolicy(); p.InProgressPolls != 50 || p.InProgressDelay != 10*time.Millisecond || p.NotReadyRetries != 3 {
		t.Errorf("defaults %+v", p)
	}
	if d.Name() != "test" || d.Transport().String() != "fake" || d.Close() != nil {
		t.Error("accessors")
	}
}

func TestVersionV(t *testing.T) {
	d, f, _ := testDevice()
	if v, err := d.VersionV(0); err != nil || v.CmdVersion != 0 || v.CrosFWIDRO != "" || f.perCommand[CmdGetCmdVersions] != 0 {
		t.Errorf("v0: %+v %v", v, err)
	}
	if _, err := d.VersionV(2); !errors.Is(err, ResInvalidVersion) {
		t.Errorf("v2: %v", err)
	}
}
