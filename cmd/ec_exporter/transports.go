package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ec/chardev"
	"github.com/ec-exporter/ec_exporter/ecsim"
	"github.com/ec-exporter/ec_exporter/ecspi"
	"github.com/ec-exporter/ec_exporter/prober"
)

// transport is one --ec.transport value. Adding a transport: its package, its flag group
// in ConnFlags, one entry in transports.
type transport struct {
	name string
	// ecs checks the flags the transport reads and returns each EC it reaches: its device
	// label and how to open it. Errors are configuration mistakes and name the flag.
	ecs func(c *ConnFlags) ([]ecTarget, error)
}

// ecTarget is one EC: its metrics' device label and how to (re)open it.
type ecTarget struct {
	label string
	open  func() (ec.Transport, error)
}

// transports is the table of --ec.transport values, the default first.
var transports = []transport{
	{name: "chardev", ecs: chardevECs},
	{name: "spidev", ecs: spidevECs},
	{name: "sim", ecs: simECs},
}

// transportNames is the ${transports} of the --ec.transport enum.
func transportNames() string {
	names := make([]string, len(transports))
	for i, t := range transports {
		names[i] = t.name
	}
	return strings.Join(names, ",")
}

// defaultDevice is the --ec.device default; spidev and sim take it as the label.
const defaultDevice = "cros_ec"

// targets checks the flags and returns every EC they name, with openers that apply the
// retry policy. Nothing is opened yet.
func (c *ConnFlags) targets() ([]target, error) {
	if err := c.EC.validate(); err != nil {
		return nil, err
	}
	var tr *transport
	for i := range transports {
		if transports[i].name == c.EC.Transport {
			tr = &transports[i]
		}
	}
	if tr == nil {
		return nil, fmt.Errorf("--ec.transport=%q: use one of %s", c.EC.Transport, transportNames())
	}
	ecs, err := tr.ecs(c)
	if err != nil {
		return nil, err
	}
	policy := c.EC.retryPolicy()
	seen := map[string]bool{}
	out := make([]target, 0, len(ecs))
	for _, e := range ecs {
		if seen[e.label] {
			return nil, fmt.Errorf("--ec.device: two ECs would both be labelled device=%q: list each EC once", e.label)
		}
		seen[e.label] = true
		out = append(out, target{label: e.label, open: func() (*ec.Device, error) {
			t, err := e.open()
			if err != nil {
				return nil, err
			}
			d := ec.NewDevice(e.label, t)
			d.SetRetryPolicy(policy)
			return d, nil
		}})
	}
	return out, nil
}

// target is one EC as serve, probe and stress use it.
type target struct {
	label string
	open  prober.Opener
}

// openAll opens every EC the flags name, now (probe, stress).
func (c *ConnFlags) openAll() ([]*ec.Device, error) {
	ts, err := c.targets()
	if err != nil {
		return nil, err
	}
	var devs []*ec.Device
	for _, t := range ts {
		d, err := t.open()
		if err != nil {
			closeAll(devs)
			return nil, err
		}
		devs = append(devs, d)
	}
	return devs, nil
}

func closeAll(devs []*ec.Device) {
	for _, d := range devs {
		_ = d.Close()
	}
}

func chardevECs(c *ConnFlags) ([]ecTarget, error) {
	var out []ecTarget
	for _, name := range c.EC.Device {
		path, err := chardev.Resolve(name)
		if err != nil {
			return nil, fmt.Errorf("--ec.device: %w", err)
		}
		if err := checkNode(path, ""); err != nil {
			return nil, fmt.Errorf("--ec.device=%s: %w", name, err)
		}
		out = append(out, ecTarget{label: filepath.Base(path), open: func() (ec.Transport, error) {
			t, err := chardev.Open(path)
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("--ec.device=%s: %w (no EC here? try --ec.transport=sim)", name, err)
			}
			if err != nil {
				return nil, fmt.Errorf("--ec.device=%s: %w", name, err)
			}
			if _, err := t.Banner(); err != nil {
				// The kernel could not read the EC's version for the banner; the
				// banner is informational, the ioctl path may still work.
				c.logger().Warn("EC version banner unreadable; going on", "device", name, "err", err)
			}
			return t, nil
		}})
	}
	return out, nil
}

func spidevECs(c *ConnFlags) ([]ecTarget, error) {
	label, err := singleLabel(c.EC, defaultDevice)
	if err != nil {
		return nil, err
	}
	cfg, err := c.SPI.config()
	if err != nil {
		return nil, err
	}
	s := c.SPI
	if s.Speed <= 0 || s.Speed > 100_000_000 {
		return nil, fmt.Errorf("--spi.speed must be a clock in Hz between 1 and 100000000 (ChromeOS boards use 1-12 MHz, usually 3000000), got %d", s.Speed)
	}
	if strings.HasPrefix(s.Device, "/") {
		if err := checkNode(s.Device, "spidev"); err != nil {
			return nil, fmt.Errorf("--spi.device=%s: %w", s.Device, err)
		}
	}
	return []ecTarget{{label: label, open: func() (ec.Transport, error) {
		t, err := ecspi.Open(s.Device, s.Speed, cfg)
		if err != nil {
			return nil, fmt.Errorf("--spi.device=%s: %w", s.Device, err)
		}
		return t, nil
	}}}, nil
}

func simECs(c *ConnFlags) ([]ecTarget, error) {
	label, err := singleLabel(c.EC, "sim")
	if err != nil {
		return nil, err
	}
	if err := c.Sim.validate(); err != nil {
		return nil, err
	}
	cfg, err := c.SPI.config()
	if err != nil {
		return nil, err
	}
	sim := c.Sim.Config()
	if c.Sim.Interface == "chardev" {
		return []ecTarget{{label: label, open: func() (ec.Transport, error) {
			return chardev.OpenNode("ecsim", ecsim.NewNode(ecsim.New(sim)))
		}}}, nil
	}
	return []ecTarget{{label: label, open: func() (ec.Transport, error) {
		t, err := ecspi.New(ecsim.New(sim), cfg)
		if err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		return t, nil
	}}}, nil
}

// singleLabel returns the device label for a transport that reaches exactly one EC.
func singleLabel(e ECFlags, def string) (string, error) {
	if len(e.Device) > 1 {
		return "", fmt.Errorf("--ec.transport=%s reaches one EC, but --ec.device was given %d times (%s): pass it once, as the device label",
			e.Transport, len(e.Device), strings.Join(e.Device, ", "))
	}
	label := e.Device[0]
	if strings.Contains(label, "/") {
		hint := "the SPI node is --spi.device"
		if e.Transport == "sim" {
			hint = "the simulated EC needs no node"
		}
		return "", fmt.Errorf("--ec.device=%q: with --ec.transport=%s, --ec.device is only the device label (e.g. cros_ec); %s", label, e.Transport, hint)
	}
	if label == defaultDevice {
		label = def
	}
	return label, nil
}

// errNotDevice is a node that exists but cannot be the EC's: retrying will not help.
var errNotDevice = errors.New("not the right kind of device node")

// checkNode tells a configuration mistake (path is a file, a directory, or a character
// device of another kind than subsystem) from a node that is not there yet (the driver
// may still load: fine, the exporter retries). subsystem "" accepts any character device.
func checkNode(path, subsystem string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return nil // permission and the like: reported by the open, retried
	}
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return fmt.Errorf("%w: %s is not a character device", errNotDevice, path)
	}
	if subsystem == "" {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil
	}
	dir := fmt.Sprintf("/sys/dev/char/%d:%d/subsystem", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
	link, err := os.Readlink(dir)
	if err != nil {
		return nil // no sysfs to ask
	}
	if got := filepath.Base(link); got != subsystem {
		return fmt.Errorf("%w: %s is a %s device, not %s", errNotDevice, path, got, subsystem)
	}
	return nil
}
