package main

import "time"

// SimFlags configure the simulated EC (prefix "sim.").
type SimFlags struct {
	Clock      int64         `default:"3000000" help:"Simulated SPI clock in Hz; bytes take real wire time (0 = instantaneous)."`
	Wire       string        `default:"sleep" enum:"sleep,pio" help:"How the caller waits for wire time: sleep like a DMA/IRQ-driven controller, or busy-wait (pio) (${enum})."`
	Processing time.Duration `default:"450us" help:"Time the EC spends processing a command (0xFA bytes) before its answer."`
	RxBudget   time.Duration `default:"8192us" help:"EC's budget per receive stage of a request (firmware SPI_CMD_RX_TIMEOUT_US)."`
	CSBudget   time.Duration `default:"8ms" help:"EC drops a transfer when more than this passes from CS assertion to its end (0 = off)."`
	Seed       int64         `default:"1" help:"Random seed for fault injection."`

	FaultTimeout    float64       `name:"fault.timeout" default:"0" help:"Probability that a command gets no answer (the host's deadline expires)."`
	FaultChecksum   float64       `name:"fault.checksum" default:"0" help:"Probability of a corrupted response checksum."`
	FaultBadData    float64       `name:"fault.bad-data" default:"0" help:"Probability the EC answers RX_BAD_DATA (0xFB) to a request."`
	FaultNotReady   float64       `name:"fault.not-ready" default:"0" help:"Probability the EC answers NOT_READY (0xFC)."`
	FaultInProgress float64       `name:"fault.in-progress" default:"0" help:"Probability a command answers IN_PROGRESS and needs GET_COMMS_STATUS polls."`
	FaultECResult   float64       `name:"fault.ec-result" default:"0" help:"Probability of an error result (see --sim.fault.result)."`
	FaultResult     int           `name:"fault.result" default:"2" help:"EC result code returned by --sim.fault.ec-result (2 = EC_RES_ERROR)."`
	FaultBadLen     float64       `name:"fault.bad-len" default:"0" help:"Probability of a response whose data_len exceeds what was asked."`
	FaultLate       float64       `name:"fault.late" default:"0" help:"Probability of a late answer (see --sim.fault.late-by)."`
	FaultLateBy     time.Duration `name:"fault.late-by" default:"50ms" help:"Extra processing time of a late answer."`
	FaultHang       float64       `name:"fault.hang" default:"0" help:"Probability that a transfer hangs the caller (stuck in the kernel) for --sim.fault.hang-for."`
	FaultHangFor    time.Duration `name:"fault.hang-for" default:"5s" help:"How long a hung transfer blocks."`
	RebootEvery     time.Duration `name:"fault.reboot-every" default:"0s" help:"Reboot the simulated EC this often (0 = never): silent while booting, uptime restarts, reset flags change."`
	RebootSilence   time.Duration `name:"fault.reboot-silence" default:"2s" help:"How long a rebooting EC stays silent."`
}
