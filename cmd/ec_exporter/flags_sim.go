package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
)

// SimFlags configure the simulated EC (prefix "sim.").
type SimFlags struct {
	Clock      int64         `default:"3000000" help:"Simulated SPI clock in Hz; bytes take real wire time (0 = instantaneous)."`
	Wire       string        `default:"sleep" enum:"sleep,pio" help:"How the caller waits for wire time: sleep like a DMA/IRQ-driven controller, or busy-wait (pio) (${enum})."`
	Processing time.Duration `default:"450us" help:"Time the EC spends processing a command (0xFA bytes) before its answer."`
	RxBudget   time.Duration `default:"8192us" help:"EC's budget per receive stage of a request (firmware SPI_CMD_RX_TIMEOUT_US)."`
	CSBudget   time.Duration `default:"8ms" help:"With --sim.timing=kernel-commit: the EC drops a transfer when more than this passes from CS assertion to its end (0 = off)."`
	Timing     string        `default:"kernel-commit" enum:"kernel-commit,firmware" help:"When the EC abandons a slow transfer: kernel-commit (8 ms from CS assertion, the realtime commit's account) or firmware (receive stages only, chip/stm32/spi.c) (${enum})."`
	Interface  string        `default:"spi" enum:"spi,chardev" help:"How the host reaches the simulated EC: spi (ecspi's byte protocol) or chardev (/dev/cros_ec as the kernel shows it: IN_PROGRESS polled inside, errnos) (${enum})."`
	Seed       int64         `default:"1" help:"Random seed for fault injection."`

	FaultTimeout    float64       `name:"fault.timeout" default:"0" help:"Probability that a command gets no answer (the host's deadline expires)."`
	FaultChecksum   float64       `name:"fault.checksum" default:"0" help:"Probability of a corrupted response checksum."`
	FaultBadData    float64       `name:"fault.bad-data" default:"0" help:"Probability the EC answers RX_BAD_DATA (0xFB) to a request."`
	FaultNotReady   float64       `name:"fault.not-ready" default:"0" help:"Probability the EC answers NOT_READY (0xFC)."`
	FaultInProgress float64       `name:"fault.in-progress" default:"0" help:"Probability a command answers IN_PROGRESS and needs GET_COMMS_STATUS polls."`
	InProgressPolls int           `name:"fault.in-progress-polls" default:"3" help:"GET_COMMS_STATUS polls that still report PROCESSING after an IN_PROGRESS answer."`
	FaultECResult   float64       `name:"fault.ec-result" default:"0" help:"Probability of an error result (see --sim.fault.result)."`
	FaultResult     int           `name:"fault.result" default:"2" help:"EC result code returned by --sim.fault.ec-result (2 = EC_RES_ERROR)."`
	FaultBadLen     float64       `name:"fault.bad-len" default:"0" help:"Probability of a response whose data_len exceeds what was asked."`
	FaultLate       float64       `name:"fault.late" default:"0" help:"Probability of a late answer (see --sim.fault.late-by)."`
	FaultLateBy     time.Duration `name:"fault.late-by" default:"5ms" help:"Extra processing time of a late answer (past --sim.cs-budget the EC gives up and the host times out)."`
	FaultHang       float64       `name:"fault.hang" default:"0" help:"Probability that a transfer hangs the caller (stuck in the kernel) for --sim.fault.hang-for."`
	FaultHangFor    time.Duration `name:"fault.hang-for" default:"5s" help:"How long a hung transfer blocks."`
	RebootEvery     time.Duration `name:"fault.reboot-every" default:"0s" help:"Reboot the simulated EC this often (0 = never): silent while booting, uptime restarts, reset flags change."`
	RebootSilence   time.Duration `name:"fault.reboot-silence" default:"2s" help:"How long a rebooting EC stays silent."`
	RearmGap        time.Duration `name:"rearm-gap" default:"70us" help:"CS-high time the EC needs to re-arm; CS asserted sooner gets NOT_READY (0xFC)."`

	Identity SimIdentityFlags `embed:"" prefix:"identity."` // flags_sim_identity.go
}

// Config maps the flags to a simulated EC configuration (firmware defaults
// for everything the flags do not set).
func (f SimFlags) Config() ecsim.Config {
	c := ecsim.DefaultConfig()
	c.Clock = f.Clock
	c.Wire, _ = ecsim.ParseWireMode(f.Wire)
	c.Processing = f.Processing
	c.RxBudget = f.RxBudget
	c.CSBudget = f.CSBudget
	c.Timing, _ = ecsim.ParseTiming(f.Timing)
	c.RearmGap = f.RearmGap
	c.Seed = uint64(f.Seed)
	fs := &c.Faults
	fs.NoAnswer.P = f.FaultTimeout
	fs.Checksum.P = f.FaultChecksum
	fs.BadData.P = f.FaultBadData
	fs.NotReady.P = f.FaultNotReady
	fs.InProgress.P = f.FaultInProgress
	fs.InProgressPolls = f.InProgressPolls
	fs.ECResult.P = f.FaultECResult
	fs.Result = ec.Result(f.FaultResult)
	fs.BadLen.P = f.FaultBadLen
	fs.Late.P = f.FaultLate
	fs.LateBy = f.FaultLateBy
	fs.Hang.P = f.FaultHang
	fs.HangFor = f.FaultHangFor
	fs.RebootEvery = f.RebootEvery
	fs.RebootSilence = f.RebootSilence
	f.Identity.apply(&c)
	return c
}

// validate reports --sim.* values out of range, each naming its flag.
func (f SimFlags) validate() error {
	var errs []error
	if f.Clock < 0 {
		errs = append(errs, fmt.Errorf("--sim.clock must be a clock in Hz, or 0 for instantaneous transfers, got %d", f.Clock))
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--sim.processing", f.Processing}, {"--sim.rx-budget", f.RxBudget}, {"--sim.cs-budget", f.CSBudget},
		{"--sim.rearm-gap", f.RearmGap}, {"--sim.fault.late-by", f.FaultLateBy}, {"--sim.fault.hang-for", f.FaultHangFor},
		{"--sim.fault.reboot-every", f.RebootEvery}, {"--sim.fault.reboot-silence", f.RebootSilence},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %v", d.flag, d.v))
		}
	}
	for _, p := range []struct {
		flag string
		v    float64
	}{
		{"--sim.fault.timeout", f.FaultTimeout}, {"--sim.fault.checksum", f.FaultChecksum},
		{"--sim.fault.bad-data", f.FaultBadData}, {"--sim.fault.not-ready", f.FaultNotReady},
		{"--sim.fault.in-progress", f.FaultInProgress}, {"--sim.fault.ec-result", f.FaultECResult},
		{"--sim.fault.bad-len", f.FaultBadLen}, {"--sim.fault.late", f.FaultLate}, {"--sim.fault.hang", f.FaultHang},
	} {
		if !(p.v >= 0 && p.v <= 1) {
			errs = append(errs, fmt.Errorf("%s is a probability: use a value from 0 to 1 (e.g. 0.3 for 30%%), got %v", p.flag, p.v))
		}
	}
	if f.InProgressPolls < 0 {
		errs = append(errs, fmt.Errorf("--sim.fault.in-progress-polls must not be negative, got %d", f.InProgressPolls))
	}
	if f.FaultResult < 0 || f.FaultResult > 0xffff {
		errs = append(errs, fmt.Errorf("--sim.fault.result is an EC result code 0-65535 (e.g. 2 = EC_RES_ERROR, 10 = EC_RES_TIMEOUT), got %d", f.FaultResult))
	}
	errs = append(errs, f.Identity.validate())
	return errors.Join(errs...)
}
