package main

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ec/chardev"
	"github.com/ec-exporter/ec_exporter/prober"
)

// target is one EC to probe: its device label and how to (re)open it.
type target struct {
	label string
	open  prober.Opener
}

// targets resolves the ECs the flags name. Flag mistakes are returned as errors; an EC
// that exists in the configuration but cannot be opened now (node missing, permission,
// EC silent) is probed anyway: it reports down and the prober keeps retrying to open it.
func (s *ServeCmd) targets(logger *slog.Logger) ([]target, error) {
	e := s.EC
	if err := e.validate(); err != nil {
		return nil, err
	}
	if _, err := s.SPI.config(); err != nil {
		return nil, err
	}
	var out []target
	switch e.Transport {
	case "chardev":
		for _, name := range e.Device {
			path, err := chardev.Resolve(name)
			if err != nil {
				return nil, fmt.Errorf("--ec.device: %w", err)
			}
			one := e
			one.Device = []string{name}
			out = append(out, target{label: filepath.Base(path), open: s.opener(one)})
		}
	case "spidev", "sim":
		def := defaultDevice
		if e.Transport == "sim" {
			def = "sim"
			if err := s.Sim.validate(); err != nil {
				return nil, err
			}
		}
		label, err := singleLabel(e, e.Transport, def)
		if err != nil {
			return nil, err
		}
		out = append(out, target{label: label, open: s.opener(e)})
	default:
		return nil, fmt.Errorf("--ec.transport=%q: use chardev, spidev or sim", e.Transport)
	}
	seen := map[string]bool{}
	for _, t := range out {
		if seen[t.label] {
			return nil, fmt.Errorf("--ec.device: two ECs would both be labelled device=%q: list each EC once", t.label)
		}
		seen[t.label] = true
	}
	return out, nil
}

// opener opens the single EC of e.
func (s *ServeCmd) opener(e ECFlags) prober.Opener {
	return func() (prober.Device, error) {
		devs, err := openDevices(e, s.SPI, s.Sim)
		if err != nil {
			return nil, err
		}
		if len(devs) != 1 {
			closeAll(devs)
			return nil, fmt.Errorf("open %v: got %d ECs, want 1: %w", e.Device, len(devs), prober.ErrConfig)
		}
		return ecDevice{devs[0]}, nil
	}
}

// ecDevice adapts *ec.Device to prober.Device.
type ecDevice struct{ d *ec.Device }

func (a ecDevice) Name() string     { return a.d.Name() }
func (a ecDevice) Hello() error     { return a.d.Hello() }
func (a ecDevice) LastRetries() int { return a.d.LastRetries() }

func (a ecDevice) Version() (prober.Version, error) {
	v, err := a.d.Version()
	if err != nil {
		return prober.Version{}, err
	}
	return prober.Version{RO: v.RO, RW: v.RW, Image: v.Image.String()}, nil
}

func (a ecDevice) ProtocolInfo() (prober.Protocol, error) {
	p, err := a.d.ProtocolInfo()
	if err != nil {
		return prober.Protocol{}, err
	}
	return prober.Protocol{Versions: p.Versions, MaxRequestPacket: p.MaxRequestPacket, MaxResponse: p.MaxResponsePacket}, nil
}

func (a ecDevice) BuildInfo() (string, error) { return a.d.BuildInfo() }

func (a ecDevice) ChipInfo() (prober.Chip, error) {
	c, err := a.d.ChipInfo()
	if err != nil {
		return prober.Chip{}, err
	}
	return prober.Chip{Vendor: c.Vendor, Name: c.Name, Revision: c.Revision}, nil
}

func (a ecDevice) UptimeInfo() (prober.Uptime, error) {
	u, err := a.d.UptimeInfo()
	if err != nil {
		return prober.Uptime{}, err
	}
	return prober.Uptime{SinceBoot: u.SinceBoot, APResets: u.APResets, ResetFlags: u.ResetFlags}, nil
}
