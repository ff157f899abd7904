package ecspi

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"
	"periph.io/x/host/v3/sysfs"
)

// Open opens the spidev node dev (e.g. /dev/spidev0.0, or a periph.io port
// name such as "SPI0.0") at hz in SPI mode 0 with 8-bit words and returns a
// Transport to the EC behind it.
func Open(dev string, hz int64, cfg Config) (*Transport, error) {
	if hz <= 0 {
		return nil, fmt.Errorf("%w, got %d (ChromeOS ECs run at 1-12 MHz, usually 3000000)", ErrSpeed, hz)
	}
	var bus, cs int
	isNode := false
	if n, _ := fmt.Sscanf(dev, "/dev/spidev%d.%d", &bus, &cs); n == 2 {
		isNode = true
		// periph.io flattens the open error (%v), so find ENOENT/EACCES first.
		f, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			return nil, openError(dev, err)
		}
		f.Close()
	}
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("ecspi: initialise periph.io host drivers: %w", err)
	}
	var port spi.PortCloser
	var err error
	if isNode {
		port, err = sysfs.NewSPI(bus, cs)
	} else {
		port, err = spireg.Open(dev)
	}
	if err != nil {
		return nil, openError(dev, err)
	}
	c, err := port.Connect(physic.Frequency(hz)*physic.Hertz, spi.Mode0, 8)
	if err != nil {
		port.Close()
		return nil, fmt.Errorf("ecspi: configure %s (mode 0, 8 bits, %d Hz): %w", dev, hz, err)
	}
	t, err := New(c, cfg)
	if err != nil {
		port.Close()
		return nil, err
	}
	t.name = "spi:" + dev
	t.closer = port.Close
	return t, nil
}

// ErrSpeed is Open's error for a clock of 0 Hz or less.
var ErrSpeed = errors.New("ecspi: the SPI clock must be a frequency in Hz above 0")

func openError(dev string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("ecspi: %s does not exist: load the spidev driver (modprobe spidev) and enable a device-tree overlay that binds spidev to the EC's chip select, or pick the right node (ls /dev/spidev*): %w", dev, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("ecspi: no permission to open %s: run as root or grant access (a udev rule giving the exporter's group rw on spidev): %w", dev, err)
	}
	return fmt.Errorf("ecspi: open %s: %w (is the SPI controller enabled? ls /dev/spidev*)", dev, err)
}
