package ec_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
)

func TestHello(t *testing.T) {
	d, f, _ := testDevice(t)
	for i := 0; i < 3; i++ {
		if err := d.Hello(); err != nil {
			t.Fatal(err)
		}
	}
	if f.perCommand[ec.CmdHello] != 3 || d.LastRetries() != 0 {
		t.Errorf("hello count %d, retries %d", f.perCommand[ec.CmdHello], d.LastRetries())
	}
	f.badHello = true
	err := d.Hello()
	if err == nil || ec.CauseOf(err) != ec.CauseBadResponse || !strings.Contains(err.Error(), "in_data + 0x01020304") {
		t.Errorf("bad hello: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "test: HELLO v0: ") {
		t.Errorf("context missing: %v", err)
	}
}

func TestHelloZeroAllocs(t *testing.T) {
	d, _, _ := testDevice(t)
	allocs := testing.AllocsPerRun(1000, func() {
		if err := d.Hello(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Hello allocates %v times per call, want 0", allocs)
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
			d, f, slept := testDevice(t)
			p := d.RetryPolicy()
			p.NotReadyRetries = tt.policy
			d.SetRetryPolicy(p)
			f.notReady = tt.notReady
			err := d.Hello()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr && ec.CauseOf(err) != ec.CauseNotReady {
				t.Errorf("cause %v", ec.CauseOf(err))
			}
			if d.LastRetries() != tt.wantRetries || f.xfers != tt.wantXfers {
				t.Errorf("retries %d, xfers %d; want %d, %d", d.LastRetries(), f.xfers, tt.wantRetries, tt.wantXfers)
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
		d, f, slept := testDevice(t)
		f.inProgress, f.processingPolls = 1, 3
		if err := d.Hello(); err != nil {
			t.Fatal(err)
		}
		// 4 polls (3 PROCESSING + 1 done) and one re-send.
		if f.perCommand[ec.CmdGetCommsStatus] != 4 || f.perCommand[ec.CmdHello] != 2 || d.LastRetries() != 5 {
			t.Errorf("status polls %d, hellos %d, retries %d", f.perCommand[ec.CmdGetCommsStatus], f.perCommand[ec.CmdHello], d.LastRetries())
		}
		if len(*slept) != 4 || (*slept)[0] != 10*time.Millisecond {
			t.Errorf("sleeps %v", *slept)
		}
	})
	t.Run("bounded by the kernel's 50 polls", func(t *testing.T) {
		d, f, slept := testDevice(t)
		f.inProgress, f.processingPolls = 1, 1000
		err := d.Hello()
		if !errors.Is(err, ec.ErrInProgressTimeout) || ec.CauseOf(err) != ec.CauseNotReady {
			t.Fatalf("err = %v", err)
		}
		if f.perCommand[ec.CmdGetCommsStatus] != 50 || d.LastRetries() != 50 || len(*slept) != 50 {
			t.Errorf("polls %d, retries %d, sleeps %d", f.perCommand[ec.CmdGetCommsStatus], d.LastRetries(), len(*slept))
		}
	})
	t.Run("configurable bound", func(t *testing.T) {
		d, f, _ := testDevice(t)
		d.SetRetryPolicy(ec.RetryPolicy{InProgressPolls: 5, InProgressDelay: time.Microsecond})
		f.inProgress, f.processingPolls = 1, 1000
		if err := d.Hello(); !errors.Is(err, ec.ErrInProgressTimeout) || f.perCommand[ec.CmdGetCommsStatus] != 5 {
			t.Fatalf("err %v polls %d", err, f.perCommand[ec.CmdGetCommsStatus])
		}
	})
	t.Run("repeated IN_PROGRESS shares one poll budget", func(t *testing.T) {
		d, f, _ := testDevice(t)
		f.inProgress, f.processingPolls = 1000, 0
		err := d.Hello()
		if !errors.Is(err, ec.ErrInProgressTimeout) {
			t.Fatalf("err = %v", err)
		}
		if f.perCommand[ec.CmdGetCommsStatus] != 50 || f.perCommand[ec.CmdHello] != 51 {
			t.Errorf("polls %d hellos %d", f.perCommand[ec.CmdGetCommsStatus], f.perCommand[ec.CmdHello])
		}
	})
	t.Run("status command error result ends the wait", func(t *testing.T) {
		d, f, _ := testDevice(t)
		f.inProgress, f.processingPolls, f.statusResult = 1, 3, ec.ResBusy
		err := d.Hello()
		if !errors.Is(err, ec.ResBusy) || ec.CauseOf(err) != ec.CauseECResult || f.perCommand[ec.CmdGetCommsStatus] != 1 {
			t.Fatalf("err %v polls %d", err, f.perCommand[ec.CmdGetCommsStatus])
		}
	})
	t.Run("not-ready status polls count and continue", func(t *testing.T) {
		d, f, _ := testDevice(t)
		f.inProgress, f.processingPolls = 1, 1
		f.statusNotReady = 2
		if err := d.Hello(); err != nil {
			t.Fatal(err)
		}
		// 2 failed polls, 1 PROCESSING, 1 done, 1 re-send.
		if d.LastRetries() != 5 {
			t.Errorf("retries %d", d.LastRetries())
		}
	})
}

func TestRunErrors(t *testing.T) {
	d, f, _ := testDevice(t)
	always := ecsim.Fault{Every: 1}
	f.sim.SetFaults(ecsim.Faults{Checksum: always})
	err := d.Hello()
	if !errors.Is(err, ec.ErrChecksum) || ec.CauseOf(err) != ec.CauseChecksum || d.LastRetries() != 0 {
		t.Errorf("checksum: %v (retries %d)", err, d.LastRetries())
	}
	f.sim.SetFaults(ecsim.Faults{ECResult: always, Result: ec.ResAccessDenied})
	if err := d.Hello(); !errors.Is(err, ec.ResAccessDenied) || ec.CauseOf(err) != ec.CauseECResult || ec.IsUnsupported(err) {
		t.Errorf("ec result: %v", err)
	}
	// data_len longer than any buffer: a bad response, not retried.
	f.sim.SetFaults(ecsim.Faults{BadLen: always})
	if err := d.Hello(); ec.CauseOf(err) != ec.CauseBadResponse || d.LastRetries() != 0 {
		t.Errorf("long: %v", err)
	}
}

func TestTypedCommands(t *testing.T) {
	d, f, _ := testDevice(t)
	v, err := d.Version()
	if err != nil {
		t.Fatal(err)
	}
	id := ecsim.DefaultIdentity()
	want := ec.VersionInfo{RO: id.VersionRO, RW: id.VersionRW, Image: ec.ImageRW, CrosFWIDRO: id.CrosFWIDRO, CrosFWIDRW: id.CrosFWIDRW, CmdVersion: 1}
	if v != want {
		t.Errorf("Version = %+v, want %+v", v, want)
	}
	if _, err := d.Version(); err != nil {
		t.Fatal(err)
	}
	if f.perCommand[ec.CmdGetCmdVersions] != 1 {
		t.Errorf("GET_CMD_VERSIONS sent %d times, want 1 (cached)", f.perCommand[ec.CmdGetCmdVersions])
	}
	if b, err := d.BuildInfo(); err != nil || b != id.BuildInfo {
		t.Errorf("BuildInfo = %q, %v", b, err)
	}
	if c, err := d.ChipInfo(); err != nil || c != (ec.ChipInfo{id.ChipVendor, id.ChipName, id.ChipRevision}) {
		t.Errorf("ec.ChipInfo = %+v, %v", c, err)
	}
	if p, err := d.ProtocolInfo(); err != nil || p.MaxRequestPacket != 0x220 || p.ProtocolVersion() != 3 {
		t.Errorf("ProtocolInfo = %+v, %v", p, err)
	}
	if s, err := d.CommsStatus(); err != nil || s != 0 {
		t.Errorf("CommsStatus = %x, %v", s, err)
	}
	if fs, err := d.Features(); err != nil || !fs.Has(ec.FeatureFlash) || !fs.Has(ec.FeatureUSBPD) || !fs.Has(ec.FeatureISH) {
		t.Errorf("Features = %v, %v", fs, err)
	}
	u, err := d.UptimeInfo()
	if err != nil || u.SinceBoot > time.Minute || u.APResets != 1 ||
		u.ResetFlags != ec.ResetFlagPowerOn || u.RecentResets[0] != (ec.APReset{5, 850 * time.Millisecond}) {
		t.Errorf("UptimeInfo = %+v, %v", u, err)
	}
	// GET_CMD_VERSIONS v0 (u8) and v1 (u16).
	if m, err := d.CmdVersions(ec.CmdGetVersion); err != nil || m != 3 {
		t.Errorf("CmdVersions(GET_VERSION) = %x, %v", m, err)
	}
	if m, err := d.CmdVersions(ec.CmdGetUptimeInfo); err != nil || m != 1 {
		t.Errorf("CmdVersions(GET_UPTIME_INFO) via v1 = %x, %v", m, err)
	}
	if _, err := d.CmdVersions(0x77); !errors.Is(err, ec.ResInvalidParam) {
		t.Errorf("unknown command: %v", err)
	}
}

func TestOldEC(t *testing.T) {
	d, f, _ := testDevice(t)
	f.v0Only[ec.CmdGetVersion] = true
	f.missing[ec.CmdGetUptimeInfo] = true
	f.missing[ec.CmdGetChipInfo] = true
	v, err := d.Version()
	if err != nil || v.CmdVersion != 0 || v.CrosFWIDRO != "" || v.RO != ecsim.DefaultIdentity().VersionRO {
		t.Errorf("Version on v0-only EC = %+v, %v", v, err)
	}
	_, err = d.UptimeInfo()
	if !ec.IsUnsupported(err) || ec.CauseOf(err) != ec.CauseECResult {
		t.Errorf("UptimeInfo on old EC: %v", err)
	}
	if !strings.Contains(err.Error(), "GET_UPTIME_INFO") || !strings.Contains(err.Error(), "INVALID_COMMAND") {
		t.Errorf("message lacks context: %v", err)
	}
	if _, err := d.ChipInfo(); !ec.IsUnsupported(err) {
		t.Errorf("ec.ChipInfo: %v", err)
	}
	// An EC without GET_CMD_VERSIONS at all still gets GET_VERSION v0.
	d2, f2, _ := testDevice(t)
	f2.missing[ec.CmdGetCmdVersions] = true
	if v, err := d2.Version(); err != nil || v.CmdVersion != 0 {
		t.Errorf("no GET_CMD_VERSIONS: %+v %v", v, err)
	}
	if _, err := d2.Version(); err != nil || f2.perCommand[ec.CmdGetCmdVersions] != 1 {
		t.Errorf("answer not cached: %v, %d", err, f2.perCommand[ec.CmdGetCmdVersions])
	}
	// A transport error on GET_CMD_VERSIONS is not cached.
	d3, f3, _ := testDevice(t)
	d3.SetRetryPolicy(ec.RetryPolicy{})
	f3.notReady = 1
	if v, err := d3.Version(); err != nil || v.CmdVersion != 0 {
		t.Errorf("transport error: %+v %v", v, err)
	}
	if v, err := d3.Version(); err != nil || v.CmdVersion != 1 {
		t.Errorf("second try: %+v %v", v, err)
	}
}

func TestRetryPolicyClamp(t *testing.T) {
	d, _, _ := testDevice(t)
	d.SetRetryPolicy(ec.RetryPolicy{InProgressPolls: -1, NotReadyRetries: -5})
	if p := d.RetryPolicy(); p.InProgressPolls != 0 || p.NotReadyRetries != 0 {
		t.Errorf("%+v", p)
	}
	if p := ec.DefaultRetryPolicy(); p.InProgressPolls != 50 || p.InProgressDelay != 10*time.Millisecond || p.NotReadyRetries != 3 {
		t.Errorf("defaults %+v", p)
	}
	if d.Name() != "test" || !strings.HasPrefix(d.Transport().String(), "scripted:spi:ecsim") || d.Close() != nil {
		t.Error("accessors")
	}
}

func TestVersionV(t *testing.T) {
	d, f, _ := testDevice(t)
	if v, err := d.VersionV(0); err != nil || v.CmdVersion != 0 || v.CrosFWIDRO != "" || f.perCommand[ec.CmdGetCmdVersions] != 0 {
		t.Errorf("v0: %+v %v", v, err)
	}
	if _, err := d.VersionV(2); !errors.Is(err, ec.ResInvalidVersion) {
		t.Errorf("v2: %v", err)
	}
}
