package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecspi"
)

// ConnFlags are every flag that says how to reach the ECs: the transport, the host-command
// retry policy and each transport's own flags. serve, probe and stress embed it whole.
type ConnFlags struct {
	EC  ECFlags  `embed:"" prefix:"ec." group:"EC"`
	SPI SPIFlags `embed:"" prefix:"spi." group:"spidev transport"`
	Sim SimFlags `embed:"" prefix:"sim." group:"Simulated EC"`

	// Log receives what opening a device has to say besides its error (nil: slog.Default()).
	Log *slog.Logger `kong:"-"`
}

func (c *ConnFlags) logger() *slog.Logger {
	if c.Log == nil {
		return slog.Default()
	}
	return c.Log
}

// ECFlags select the transport and the ECs to talk to (prefix "ec.").
type ECFlags struct {
	Transport string   `default:"chardev" enum:"${transports}" help:"How to reach the EC: the kernel's /dev/cros_ec* (chardev), EC SPI protocol over spidev, or a simulated EC (sim) (${enum})."`
	Device    []string `default:"cros_ec" help:"EC to talk to, repeatable: a chardev name or path (cros_ec, cros_fp, cros_pd, /dev/cros_ec); for spidev and sim, the name used in the device label."`

	InProgressPolls int           `name:"in-progress-polls" default:"50" help:"GET_COMMS_STATUS polls after an EC answers IN_PROGRESS before the command fails (kernel EC_COMMAND_RETRIES)."`
	InProgressDelay time.Duration `name:"in-progress-delay" default:"10ms" help:"Sleep before each GET_COMMS_STATUS poll (kernel: 10 ms)."`
	NotReadyRetries int           `name:"not-ready-retries" default:"3" help:"Re-sends of a command the transport found the EC not ready for (0xFB/0xFC/0xED, EAGAIN)."`
	NotReadyDelay   time.Duration `name:"not-ready-delay" default:"1ms" help:"Pause before each not-ready re-send."`
}

// SPIFlags configure the spidev transport (prefix "spi.").
type SPIFlags struct {
	Device    string        `default:"/dev/spidev0.0" help:"spidev node of the EC's SPI bus and chip select."`
	Speed     int64         `default:"3000000" help:"SPI clock in Hz (most ChromeOS boards use 3 MHz)."`
	PreDelay  time.Duration `default:"0s" help:"Delay after asserting CS before clocking (device tree google,cros-ec-spi-pre-delay)."`
	PostDelay time.Duration `default:"0s" help:"Delay before releasing CS (device tree google,cros-ec-spi-msg-delay)."`
	Recovery  time.Duration `default:"200us" help:"Minimum CS-high gap between transactions (kernel EC_SPI_RECOVERY_TIME_NS)."`
	Deadline  time.Duration `default:"200ms" help:"How long to poll for the EC's frame-start byte (kernel EC_MSG_DEADLINE_MS)."`
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

// retryPolicy maps the flags to ec.Device's retry policy.
func (e ECFlags) retryPolicy() ec.RetryPolicy {
	return ec.RetryPolicy{
		InProgressPolls: e.InProgressPolls,
		InProgressDelay: e.InProgressDelay,
		NotReadyRetries: e.NotReadyRetries,
		NotReadyDelay:   e.NotReadyDelay,
	}
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
