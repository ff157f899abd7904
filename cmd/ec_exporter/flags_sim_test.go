package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
)

func parseSim(t *testing.T, args ...string) ecsim.Config {
	t.Helper()
	return mustParse(t, append([]string{"probe", "--ec.transport=sim"}, args...)...).Probe.Conn.Sim.Config()
}

func TestSimFlagsDefaultsAreFirmwareDefaults(t *testing.T) {
	got := parseSim(t)
	want := ecsim.DefaultConfig()
	if got.Clock != want.Clock || got.Wire != want.Wire || got.Processing != want.Processing ||
		got.RxBudget != want.RxBudget || got.CSBudget != want.CSBudget || got.RearmGap != want.RearmGap ||
		got.Faults != want.Faults || got.MaxRequest != want.MaxRequest || got.Identity != want.Identity || got.Timing != want.Timing {
		t.Fatalf("--sim.* defaults give\n%+v\nwant\n%+v", got, want)
	}
}

func TestSimFlagsMapEveryFault(t *testing.T) {
	c := parseSim(t, "--sim.clock=1000000", "--sim.wire=pio", "--sim.processing=1ms", "--sim.rx-budget=2ms",
		"--sim.cs-budget=0", "--sim.seed=9", "--sim.rearm-gap=1us", "--sim.timing=firmware",
		"--sim.fault.timeout=0.1", "--sim.fault.checksum=0.2", "--sim.fault.bad-data=0.3", "--sim.fault.not-ready=0.4",
		"--sim.fault.in-progress=0.5", "--sim.fault.in-progress-polls=7", "--sim.fault.ec-result=0.6", "--sim.fault.result=16",
		"--sim.fault.bad-len=0.7", "--sim.fault.late=0.8", "--sim.fault.late-by=3ms", "--sim.fault.hang=0.9",
		"--sim.fault.hang-for=4s", "--sim.fault.reboot-every=1m", "--sim.fault.reboot-silence=5s")
	f := c.Faults
	if c.Clock != 1_000_000 || c.Wire != ecsim.WirePIO || c.Processing != time.Millisecond || c.RxBudget != 2*time.Millisecond ||
		c.CSBudget != 0 || c.Seed != 9 || c.RearmGap != time.Microsecond || c.Timing != ecsim.TimingFirmware {
		t.Errorf("timing: %+v", c)
	}
	if f.NoAnswer.P != 0.1 || f.Checksum.P != 0.2 || f.BadData.P != 0.3 || f.NotReady.P != 0.4 || f.InProgress.P != 0.5 ||
		f.InProgressPolls != 7 || f.ECResult.P != 0.6 || f.Result != ec.ResBusy || f.BadLen.P != 0.7 || f.Late.P != 0.8 ||
		f.LateBy != 3*time.Millisecond || f.Hang.P != 0.9 || f.HangFor != 4*time.Second || f.RebootEvery != time.Minute ||
		f.RebootSilence != 5*time.Second {
		t.Errorf("faults: %+v", f)
	}
}

// TestSimFlagsRejectNonsense: out-of-range --sim.* values are errors naming the flag,
// not silently clamped (a probability of 2, a negative clock, a result that is no u16).
func TestSimFlagsRejectNonsense(t *testing.T) {
	for _, tc := range []struct{ arg, flag string }{
		{"--sim.clock=-5", "--sim.clock"},
		{"--sim.processing=-1ms", "--sim.processing"},
		{"--sim.fault.timeout=2", "--sim.fault.timeout"},
		{"--sim.fault.checksum=-0.1", "--sim.fault.checksum"},
		{"--sim.fault.result=70000", "--sim.fault.result"},
		{"--sim.fault.in-progress-polls=-1", "--sim.fault.in-progress-polls"},
		{"--sim.fault.hang-for=-1s", "--sim.fault.hang-for"},
	} {
		_, err := mustParse(t, "probe", "--ec.transport=sim", tc.arg).Probe.Conn.openAll()
		if err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: err %v, want an error naming %s", tc.arg, err, tc.flag)
		}
	}
}

// TestSimChardevInterface: --sim.interface=chardev reaches the simulated EC through the
// chardev transport over the kernel model; an IN_PROGRESS answer comes back as the
// kernel's status answer, counted as in_progress.
func TestSimChardevInterface(t *testing.T) {
	devs, err := mustParse(t, "probe", "--ec.transport=sim", "--sim.interface=chardev", "--sim.clock=0", "--sim.processing=0s").Probe.Conn.openAll()
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(devs)
	d := devs[0]
	if s := d.Transport().String(); s != "chardev:ecsim" {
		t.Errorf("transport %q, want chardev:ecsim", s)
	}
	if err := d.Hello(); err != nil {
		t.Fatalf("HELLO: %v", err)
	}
	devs2, err := mustParse(t, "probe", "--ec.transport=sim", "--sim.interface=chardev", "--sim.clock=0", "--sim.processing=0s",
		"--sim.fault.in-progress=1", "--sim.fault.in-progress-polls=1").Probe.Conn.openAll()
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(devs2)
	if _, err := devs2[0].VersionV(0); ec.CauseOf(err) != ec.CauseInProgress {
		t.Errorf("GET_VERSION after IN_PROGRESS over the simulated kernel: %v, want cause in_progress", err)
	}
}
