package main

import "time"

// ECFlags select the transport and the ECs to talk to (prefix "ec.").
type ECFlags struct {
	Transport string   `default:"chardev" enum:"chardev,spidev,sim" help:"How to reach the EC: the kernel's /dev/cros_ec* (chardev), EC SPI protocol over spidev, or a simulated EC (sim) (${enum})."`
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
