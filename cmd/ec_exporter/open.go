package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ec/chardev"
	"github.com/ec-exporter/ec_exporter/ecsim"
	"github.com/ec-exporter/ec_exporter/ecspi"
)

// defaultDevice is the --ec.device default; for sim it becomes the label "sim".
const defaultDevice = "cros_ec"

// openDevices opens one ec.Device per EC the flags name, labelled with the metrics'
// device label: the node's base name for chardev (cros_ec, cros_fp, ...), the
// --ec.device value for spidev, "sim" for the simulated EC unless --ec.device says
// otherwise. The sim is reached through the real SPI byte path (ecspi over ecsim).
func openDevices(e ECFlags, s SPIFlags, sim SimFlags) ([]*ec.Device, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	policy := ec.RetryPolicy{
		InProgressPolls: e.InProgressPolls,
		InProgressDelay: e.InProgressDelay,
		NotReadyRetries: e.NotReadyRetries,
		NotReadyDelay:   e.NotReadyDelay,
	}
	var devs []*ec.Device
	add := func(label string, t ec.Transport) {
		d := ec.NewDevice(label, t)
		d.SetRetryPolicy(policy)
		devs = append(devs, d)
	}
	switch e.Transport {
	case "chardev":
		labels := map[string]string{}
		var paths []string
		for _, name := range e.Device {
			path, err := chardev.Resolve(name)
			if err != nil {
				return nil, fmt.Errorf("--ec.device: %w", err)
			}
			label := filepath.Base(path)
			if prev, dup := labels[label]; dup {
				return nil, fmt.Errorf("--ec.device: %q and %q would both be labelled device=%q: list each EC once", prev, name, label)
			}
			labels[label] = name
			paths = append(paths, path)
		}
		for _, path := range paths {
			t, err := chardev.Open(path)
			if err != nil {
				closeAll(devs)
				return nil, err
			}
			add(filepath.Base(path), t)
		}
	case "spidev":
		label, err := singleLabel(e, "spidev", defaultDevice)
		if err != nil {
			return nil, err
		}
		cfg, err := s.config()
		if err != nil {
			return nil, err
		}
		if s.Speed <= 0 {
			return nil, fmt.Errorf("--spi.speed must be a clock in Hz above 0 (ChromeOS boards use 1-12 MHz, usually 3000000), got %d", s.Speed)
		}
		t, err := ecspi.Open(s.Device, s.Speed, cfg)
		if err != nil {
			return nil, fmt.Errorf("spidev %s: %w", s.Device, err)
		}
		add(label, t)
	case "sim":
		label, err := singleLabel(e, "sim", "sim")
		if err != nil {
			return nil, err
		}
		if err := sim.validate(); err != nil {
			return nil, err
		}
		cfg, err := s.config()
		if err != nil {
			return nil, err
		}
		t, err := ecspi.New(ecsim.New(sim.Config()), cfg)
		if err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		add(label, t)
	default:
		return nil, fmt.Errorf("--ec.transport=%q: use chardev, spidev or sim", e.Transport)
	}
	return devs, nil
}

func closeAll(devs []*ec.Device) {
	for _, d := range devs {
		_ = d.Close()
	}
}

// validate checks the transport-independent EC flags.
func (e ECFlags) validate() error {
	var errs []error
	if len(e.Device) == 0 {
		errs = append(errs, errors.New("--ec.device: name at least one EC (e.g. cros_ec)"))
	}
	for _, d := range e.Device {
		if strings.TrimSpace(d) == "" {
			errs = append(errs, errors.New("--ec.device: empty name"))
		}
	}
	if e.InProgressPolls < 0 || e.InProgressPolls > 10000 {
		errs = append(errs, fmt.Errorf("--ec.in-progress-polls must be between 0 and 10000, got %d", e.InProgressPolls))
	}
	if e.NotReadyRetries < 0 || e.NotReadyRetries > 100 {
		errs = append(errs, fmt.Errorf("--ec.not-ready-retries must be between 0 and 100, got %d", e.NotReadyRetries))
	}
	if e.InProgressDelay < 0 || e.NotReadyDelay < 0 {
		errs = append(errs, errors.New("--ec.in-progress-delay and --ec.not-ready-delay must not be negative"))
	}
	return errors.Join(errs...)
}

// singleLabel returns the device label for a transport that reaches exactly one EC.
func singleLabel(e ECFlags, transport, def string) (string, error) {
	if len(e.Device) > 1 {
		return "", fmt.Errorf("--ec.transport=%s reaches one EC, but --ec.device was given %d times (%s): pass it once, as the device label",
			transport, len(e.Device), strings.Join(e.Device, ", "))
	}
	label := e.Device[0]
	if strings.Contains(label, "/") {
		hint := "the SPI node is --spi.device"
		if transport == "sim" {
			hint = "the simulated EC needs no node"
		}
		return "", fmt.Errorf("--ec.device=%q: with --ec.transport=%s, --ec.device is only the device label (e.g. cros_ec); %s", label, transport, hint)
	}
	if label == defaultDevice {
		label = def
	}
	return label, nil
}

// config maps the SPI flags to ecspi's timing.
func (s SPIFlags) config() (ecspi.Config, error) {
	if s.PreDelay < 0 || s.PostDelay < 0 || s.Recovery < 0 {
		return ecspi.Config{}, errors.New("--spi.pre-delay, --spi.post-delay and --spi.recovery must not be negative")
	}
	if s.Deadline <= 0 {
		return ecspi.Config{}, fmt.Errorf("--spi.deadline must be above 0 (the kernel waits 200ms for the EC), got %v", s.Deadline)
	}
	cfg := ecspi.Config{PreDelay: s.PreDelay, PostDelay: s.PostDelay, Recovery: s.Recovery, Deadline: s.Deadline}
	if s.Recovery == 0 {
		cfg.Recovery = -1 // ecspi: zero means the kernel default, negative means no gap
	}
	return cfg, nil
}
