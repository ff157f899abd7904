package ecsim_test

import (
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
)

func TestWireTime(t *testing.T) {
	for _, mode := range []ecsim.WireMode{ecsim.WireSleep, ecsim.WirePIO} {
		cfg := ecsim.DefaultConfig()
		cfg.Clock = 1_000_000 // 8 µs per byte
		cfg.Wire = mode
		e := ecsim.New(cfg)
		buf := make([]byte, 2500) // 20 ms on the wire
		start := time.Now()
		if err := e.Tx(nil, buf); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 20*time.Millisecond {
			t.Errorf("%v: 2500 bytes at 1 MHz took %v, want >= 20ms", mode, d)
		}
	}
	// Clock 0: no wire time at all.
	e := ecsim.New(instant())
	start := time.Now()
	for i := 0; i < 100; i++ {
		if err := e.Tx(nil, make([]byte, 4000)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("instantaneous wire: 100 transfers took %v", d)
	}
}

func TestTransportAllocatesNothing(t *testing.T) {
	tr := ecsim.NewTransport(ecsim.New(instant()))
	m := helloMsg()
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		if _, e := tr.Xfer(m); e != nil {
			err = e
		}
	})
	if err != nil || allocs != 0 || m.Result != ec.ResSuccess {
		t.Fatalf("chardev-style HELLO: err %v result %v, %v allocs", err, m.Result, allocs)
	}
}

func TestIdentityCommands(t *testing.T) {
	tr := ecsim.NewTransport(ecsim.New(instant()))
	d := ec.NewDevice("sim", tr)
	v, err := d.Version()
	if err != nil || v.RO != "sim_v2.0.1234-abcdef" || v.RW == "" || v.Image != 2 {
		t.Fatalf("Version: %+v %v", v, err)
	}
	b, err := d.BuildInfo()
	if err != nil || b != ecsim.DefaultIdentity().BuildInfo {
		t.Fatalf("BuildInfo: %q %v", b, err)
	}
	c, err := d.ChipInfo()
	if err != nil || c.Name != "ecsim" {
		t.Fatalf("ChipInfo: %+v %v", c, err)
	}
	p, err := d.ProtocolInfo()
	if err != nil || p.MaxRequestPacket != 0x220 || p.MaxResponsePacket != 0x220 || p.Versions != 1<<3 || p.Flags != 1 {
		t.Fatalf("ProtocolInfo: %+v %v", p, err)
	}
	mask, err := d.CmdVersions(0x0002)
	if err != nil || mask != 3 {
		t.Fatalf("CmdVersions(GET_VERSION) = %#x %v", mask, err)
	}
	if _, err := d.CmdVersions(0x0fff); err == nil {
		t.Fatal("CmdVersions of an unknown command succeeded")
	}
	u1, err := d.UptimeInfo()
	if err != nil || u1.ResetFlags != ecsim.ResetFlagPowerOn || u1.APResets != 1 {
		t.Fatalf("UptimeInfo: %+v %v", u1, err)
	}
	time.Sleep(20 * time.Millisecond)
	u2, _ := d.UptimeInfo()
	if u2.SinceBoot-u1.SinceBoot < 10*time.Millisecond {
		t.Fatalf("uptime does not advance: %v then %v", u1.SinceBoot, u2.SinceBoot)
	}
	if _, err := d.Features(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CommsStatus(); err != nil {
		t.Fatal(err)
	}
}
