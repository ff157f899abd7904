package ecspi_test

import (
	"encoding/binary"
	"testing"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
	"github.com/ec-exporter/ec_exporter/ecspi"
)

// instant returns a simulated EC with no wire or processing time.
func instant() ecsim.Config {
	c := ecsim.DefaultConfig()
	c.Clock = 0
	c.Processing = 0
	return c
}

// bare is an EC with no wire, processing or re-arm time, for a host with no
// recovery gap: the software cost of a round trip alone.
func bare() ecsim.Config {
	c := instant()
	c.RearmGap = 0
	return c
}

// newSim connects ecspi to a simulated EC; an EC without a re-arm gap gets a
// host without a recovery gap.
// relaxed is the firmware-like default (3 MHz, sleeping wire, 450 µs
// processing) without the EC's wall-clock budgets, which a starved test
// process on a loaded machine would (correctly) exceed.
func relaxed() ecsim.Config {
	c := ecsim.DefaultConfig()
	c.RxBudget, c.CSBudget = 0, 0
	return c
}

func newSim(t testing.TB, cfg ecsim.Config) (*ecspi.Transport, *ecsim.EC) {
	t.Helper()
	e := ecsim.New(cfg)
	var hc ecspi.Config
	if cfg.RearmGap == 0 {
		hc.Recovery = -1
	}
	tr, err := ecspi.New(e, hc)
	if err != nil {
		t.Fatalf("ecspi.New over ecsim: %v", err)
	}
	return tr, e
}

func hello(tr ec.Transport, m *ec.Msg, in uint32) (uint32, error) {
	binary.LittleEndian.PutUint32(m.Out, in)
	n, err := tr.Xfer(m)
	if err != nil {
		return 0, err
	}
	if m.Result != ec.ResSuccess || n != 4 {
		return 0, m.Result
	}
	return binary.LittleEndian.Uint32(m.In), nil
}

func newHello() *ec.Msg {
	return &ec.Msg{Command: 0x0001, Out: make([]byte, 4), In: make([]byte, 4)}
}

func TestHelloOverSim(t *testing.T) {
	for name, cfg := range map[string]ecsim.Config{"bare": bare(), "instant": instant(), "3MHz sleep, no budgets": relaxed()} {
		t.Run(name, func(t *testing.T) {
			tr, _ := newSim(t, cfg)
			if out, in := tr.Limits(); out != 0x220-8 || in != 0x220-8 {
				t.Errorf("Limits = %d, %d; want 536, 536", out, in)
			}
			m := newHello()
			for i := uint32(0); i < 20; i++ {
				got, err := hello(tr, m, 0xa0b0c0d0+i)
				if err != nil {
					t.Fatalf("HELLO %d: %v", i, err)
				}
				if want := 0xa0b0c0d0 + i + 0x01020304; got != want {
					t.Fatalf("HELLO %d = %#x, want %#x", i, got, want)
				}
			}
		})
	}
}
