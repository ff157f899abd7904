package ecspi_test

import (
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
	"github.com/ec-exporter/ec_exporter/ecspi"
	"periph.io/x/conn/v3/spi"
)

// staller is a host that stalls before the first poll of each transaction,
// with CS held after the request: a worker starved mid-transaction.
type staller struct {
	spi.Conn
	stall time.Duration
	call  int
}

func (s *staller) TxPackets(p []spi.Packet) error {
	s.call++
	if s.call == 2 && s.stall > 0 {
		time.Sleep(s.stall)
	}
	if !p[len(p)-1].KeepCS {
		s.call = 0
	}
	return s.Conn.TxPackets(p)
}

// TestStallMidTransaction: with the firmware-like defaults (3 MHz, sleeping
// wire, 450 µs processing, 8 ms CS budget) a host that stalls 10 ms with CS
// asserted finds the EC gave up (0xFB, never 0xEC: the kernel's "EC failed to
// respond in time"), a host that stalls 1 ms does not.
func TestStallMidTransaction(t *testing.T) {
	e := ecsim.New(ecsim.DefaultConfig())
	s := &staller{Conn: e}
	tr, err := ecspi.New(s, ecspi.Config{Deadline: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := newHello()

	s.stall = 10 * time.Millisecond
	for i := 0; i < 3; i++ {
		_, err := hello(tr, m, 0x11223344)
		if ec.CauseOf(err) != ec.CauseTimeout {
			t.Fatalf("10 ms stall: err %v, want the EC to have given up (timeout)", err)
		}
	}
	// The EC answers normally again afterwards.
	s.stall = time.Millisecond
	var fails int
	for i := 0; i < 5; i++ { // a loaded machine may add its own stall: allow a couple of retries
		if _, err = hello(tr, m, 0x11223344); err == nil {
			break
		}
		fails++
		t.Logf("1 ms stall attempt %d: %v", i, err)
	}
	if err != nil {
		t.Fatalf("1 ms stall failed %d times: %v", fails, err)
	}
}
