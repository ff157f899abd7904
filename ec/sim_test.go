package ec_test

import (
	"testing"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
	"github.com/ec-exporter/ec_exporter/ecspi"
)

// simDevice is a Device over the simulated EC through the real SPI byte path, without wire time.
func simDevice(t *testing.T, faults ecsim.Faults) *ec.Device {
	t.Helper()
	cfg := ecsim.InstantConfig()
	sim := ecsim.New(cfg)
	tr, err := ecspi.New(sim, ecspi.Config{Recovery: -1})
	if err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(faults) // after ecspi's own GET_PROTOCOL_INFO
	d := ec.NewDevice("sim", tr)
	p := d.RetryPolicy()
	p.InProgressDelay, p.NotReadyDelay = 0, 0
	d.SetRetryPolicy(p)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestDeviceOverSimSPI(t *testing.T) {
	d := simDevice(t, ecsim.Faults{})
	id := ecsim.DefaultIdentity()
	for i := 0; i < 10; i++ {
		if err := d.Hello(); err != nil {
			t.Fatal(err)
		}
	}
	v, err := d.Version()
	if err != nil || v.RO != id.VersionRO || v.CrosFWIDRW != id.CrosFWIDRW || v.Image != ec.ImageRW {
		t.Errorf("Version %+v %v", v, err)
	}
	if b, err := d.BuildInfo(); err != nil || b != id.BuildInfo {
		t.Errorf("BuildInfo %q %v", b, err)
	}
	if c, err := d.ChipInfo(); err != nil || c.Name != id.ChipName {
		t.Errorf("ChipInfo %+v %v", c, err)
	}
	if u, err := d.UptimeInfo(); err != nil || u.ResetFlags&ec.ResetFlagPowerOn == 0 {
		t.Errorf("UptimeInfo %+v %v", u, err)
	}
	if f, err := d.Features(); err != nil || f != ec.Features(id.Features) {
		t.Errorf("Features %v %v", f, err)
	}
}

func TestDeviceOverSimSPIRetries(t *testing.T) {
	t.Run("in progress", func(t *testing.T) {
		d := simDevice(t, ecsim.Faults{InProgress: ecsim.Fault{P: 1}, InProgressPolls: 2})
		// Every command answers IN_PROGRESS: the shared poll budget runs out, bounded.
		err := d.Hello()
		if ec.CauseOf(err) != ec.CauseNotReady || d.LastRetries() < 50 || d.LastRetries() > 100 { // 50 polls plus at most one re-send per completed wait
			t.Fatalf("err %v retries %d", err, d.LastRetries())
		}
	})
	t.Run("not ready every other transfer", func(t *testing.T) {
		d := simDevice(t, ecsim.Faults{NotReady: ecsim.Fault{Every: 2}})
		total := 0
		for i := 0; i < 20; i++ {
			if err := d.Hello(); err != nil {
				t.Fatalf("hello %d: %v", i, err)
			}
			total += d.LastRetries()
		}
		if total < 5 {
			t.Errorf("only %d retries counted over 20 HELLOs with every 2nd transfer NOT_READY", total)
		}
	})
	t.Run("checksum is not retried", func(t *testing.T) {
		d := simDevice(t, ecsim.Faults{Checksum: ecsim.Fault{P: 1}})
		if err := d.Hello(); ec.CauseOf(err) != ec.CauseChecksum || d.LastRetries() != 0 {
			t.Errorf("err %v retries %d", err, d.LastRetries())
		}
	})
}

func BenchmarkHelloSimSPI(b *testing.B) {
	cfg := ecsim.DefaultConfig()
	cfg.Clock, cfg.Processing, cfg.RearmGap = 0, 0, 0
	cfg.RxBudget, cfg.CSBudget = 0, 0
	tr, err := ecspi.New(ecsim.New(cfg), ecspi.Config{Recovery: -1})
	if err != nil {
		b.Fatal(err)
	}
	d := ec.NewDevice("sim", tr)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Hello(); err != nil {
			b.Fatal(err)
		}
	}
}
