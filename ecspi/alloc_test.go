package ecspi_test

import (
	"testing"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
)

func TestHelloAllocatesNothing(t *testing.T) {
	for name, cfg := range map[string]ecsim.Config{"bare": bare(), "instant": instant(), "3MHz sleep, no budgets": relaxed()} {
		tr, _ := newSim(t, cfg)
		m := newHello()
		var err error
		allocs := testing.AllocsPerRun(100, func() {
			if _, e := hello(tr, m, 0x01020304); e != nil {
				err = e
			}
		})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if allocs != 0 {
			t.Errorf("%s: HELLO over ecspi+ecsim allocates %v times per round trip, want 0", name, allocs)
		}
	}
}

func TestDeviceHelloAllocatesNothing(t *testing.T) {
	tr, _ := newSim(t, bare())
	d := ec.NewDevice("sim", tr)
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		if e := d.Hello(); e != nil {
			err = e
		}
	})
	if err != nil || allocs != 0 {
		t.Fatalf("Device.Hello over ecspi+ecsim: err %v, %v allocs per call", err, allocs)
	}
}

// BenchmarkHelloRoundTrip is one HELLO through ecspi (kernel framing) and the
// simulated EC with no wire, processing, re-arm or recovery time: the
// software cost of the round trip.
func BenchmarkHelloRoundTrip(b *testing.B) {
	tr, _ := newSim(b, bare())
	m := newHello()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hello(tr, m, 0xa0b0c0d0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeviceHello is ec.Device.Hello (with its answer check) over the same path.
func BenchmarkDeviceHello(b *testing.B) {
	tr, _ := newSim(b, bare())
	d := ec.NewDevice("sim", tr)
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Hello(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHelloRoundTrip3MHz is the same round trip with real wire time
// (3 MHz, sleeping caller) and 450 µs processing: what the exporter pays.
func BenchmarkHelloRoundTrip3MHz(b *testing.B) {
	tr, _ := newSim(b, ecsim.DefaultConfig())
	m := newHello()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := hello(tr, m, 0xa0b0c0d0); err != nil {
			b.Fatal(err)
		}
	}
}
