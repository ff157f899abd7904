package ecspi_test

import (
	"encoding/binary"
	"fmt"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
	"github.com/ec-exporter/ec_exporter/ecspi"
)

// A HELLO over the EC SPI protocol to a simulated EC at 3 MHz (for real
// hardware: ecspi.Open("/dev/spidev0.0", 3_000_000, ecspi.Config{})).
func Example() {
	cfg := ecsim.DefaultConfig()
	cfg.CSBudget = 0 // a starved test process must not make the example fail
	tr, err := ecspi.New(ecsim.New(cfg), ecspi.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tr.Close()
	m := &ec.Msg{Command: 0x0001, Out: make([]byte, 4), In: make([]byte, 4)}
	binary.LittleEndian.PutUint32(m.Out, 0xa0b0c0d0)
	n, err := tr.Xfer(m)
	fmt.Printf("%v %v %d %#x\n", err, m.Result.Name(), n, binary.LittleEndian.Uint32(m.In))
	// Output: <nil> SUCCESS 4 0xa1b2c3d4
}
