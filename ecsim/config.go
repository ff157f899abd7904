package ecsim

import (
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
)

// WireMode says how a caller waits for the wire time of a transfer.
type WireMode int

// Wire modes.
const (
	WireSleep WireMode = iota // sleep until the transfer ends, like spi_sync with a DMA/IRQ-driven controller
	WirePIO                   // busy-wait, like a polled (PIO) controller
)

// String returns "sleep" or "pio".
func (m WireMode) String() string {
	if m == WirePIO {
		return "pio"
	}
	return "sleep"
}

// ParseWireMode parses "sleep" or "pio".
func ParseWireMode(s string) (WireMode, bool) {
	switch s {
	case "sleep", "":
		return WireSleep, true
	case "pio":
		return WirePIO, true
	}
	return WireSleep, false
}

// Timing names the rule that decides when the simulated EC abandons an SPI
// transaction. The two readings of "the EC drops slow transfers" disagree
// (see the package doc); both are offered, neither is picked silently.
type Timing int

// Timing models.
const (
	// TimingKernelCommit: the commit message of "platform/chrome: cros_ec_spi:
	// Request the SPI thread be realtime" (Linux 4.19, tested on
	// rk3288-veyron-jerry) says known ECs drop a transfer if more than 8 ms
	// (Config.CSBudget) pass from CS assertion until the transfer finishes:
	// every byte clocked later is answered 0xFB. The receive stages apply too.
	TimingKernelCommit Timing = iota
	// TimingFirmware: the firmware code (chip/stm32/spi.c wait_for_bytes,
	// chip/npcx/shi.c shi_read_inbuf_wait) times only the receive stages of
	// the request (bytes 0-2, 3-7, 8-end, each within Config.RxBudget,
	// SPI_CMD_RX_TIMEOUT_US = 8192 µs); nothing times the EC while it processes
	// or sends, however long the host holds CS (the kernel polls for 0xEC for
	// up to EC_MSG_DEADLINE_MS = 200 ms).
	TimingFirmware
)

// String returns "kernel-commit" or "firmware".
func (t Timing) String() string {
	if t == TimingFirmware {
		return "firmware"
	}
	return "kernel-commit"
}

// ParseTiming parses "kernel-commit" or "firmware".
func ParseTiming(s string) (Timing, bool) {
	switch s {
	case "kernel-commit", "":
		return TimingKernelCommit, true
	case "firmware":
		return TimingFirmware, true
	}
	return TimingKernelCommit, false
}

// Fault schedules one kind of fault: it fires on every Every-th transaction
// (0 = never by schedule) and otherwise with probability P.
type Fault struct {
	P     float64
	Every uint64
}

// Faults configures fault injection; the zero value injects nothing.
type Faults struct {
	Checksum   Fault // response checksum corrupted (host: checksum)
	NoAnswer   Fault // the EC never sends 0xEC (host: deadline, timeout)
	Late       Fault // extra processing time LateBy (past the CS budget the host times out)
	BadData    Fault // RX_BAD_DATA (0xFB) during the request (host: EAGAIN)
	NotReady   Fault // NOT_READY (0xFC) for the whole transaction (host: EAGAIN)
	InProgress Fault // result IN_PROGRESS, then GET_COMMS_STATUS says PROCESSING for InProgressPolls polls
	ECResult   Fault // the command fails with Result
	BadLen     Fault // response data_len larger than any insize (host: bad response)
	Reboot     Fault // the EC reboots now (see RebootSilence)
	Hang       Fault // the transfer blocks the caller for HangFor before it starts

	LateBy          time.Duration // extra processing of a late answer
	InProgressPolls int           // GET_COMMS_STATUS polls that still report PROCESSING
	Result          ec.Result     // result of an ECResult fault
	HangFor         time.Duration // how long a hung transfer blocks
	RebootEvery     time.Duration // periodic reboot (0 = never)
	RebootSilence   time.Duration // how long a rebooting EC is silent
}

// Identity is what the simulated EC says about itself.
type Identity struct {
	VersionRO, VersionRW   string
	CrosFWIDRO, CrosFWIDRW string
	Image                  uint32 // current image: 1 RO, 2 RW
	BuildInfo              string
	ChipVendor, ChipName   string
	ChipRevision           string
	BoardVersion           uint16
	Features               [2]uint32
}

// Config configures a simulated EC. Zero durations mean "off"/"instantaneous";
// start from DefaultConfig for firmware-like behaviour.
type Config struct {
	Clock       int64         // SPI clock in Hz; 0 = no wire time
	Wire        WireMode      // how callers wait for wire time
	Timing      Timing        // which rule abandons a slow transaction (CSBudget applies under TimingKernelCommit only)
	Processing  time.Duration // time between the last request byte and 0xEC
	RxBudget    time.Duration // per receive wait stage (firmware 8192 µs); 0 = none
	CSBudget    time.Duration // TimingKernelCommit: from CS assertion to the end of the transfer (8 ms); 0 = none
	RearmGap    time.Duration // CS-high time the EC needs to re-arm (~70 µs)
	MaxRequest  int           // max request packet incl. header (0x220)
	MaxResponse int           // max response packet incl. header (0x220)
	MaxTxSize   int           // bytes per TxPackets call, like spidev bufsiz (4096); 0 = unlimited
	Seed        uint64        // fault-injection random seed
	Faults      Faults
	Identity    Identity
}

// csBudget is the CS budget in force: CSBudget under TimingKernelCommit, 0 (none) otherwise.
func (c *Config) csBudget() time.Duration {
	if c.Timing != TimingKernelCommit {
		return 0
	}
	return c.CSBudget
}

// Firmware constants.
const (
	DefaultClock      = 3_000_000
	DefaultProcessing = 450 * time.Microsecond
	DefaultRxBudget   = 8192 * time.Microsecond // SPI_CMD_RX_TIMEOUT_US
	DefaultCSBudget   = 8 * time.Millisecond
	DefaultRearmGap   = 70 * time.Microsecond
	DefaultMaxPacket  = 0x220
	DefaultMaxTxSize  = 4096
)

// DefaultIdentity is a plausible EC identity.
func DefaultIdentity() Identity {
	return Identity{
		VersionRO:    "sim_v2.0.1234-abcdef",
		VersionRW:    "sim_v2.0.1234-abcdef",
		CrosFWIDRO:   "sim_15000.0.0",
		CrosFWIDRW:   "sim_15000.0.0",
		Image:        2,
		BuildInfo:    "sim_v2.0.1234-abcdef sim 2026-11-24 12:00:00 ec_exporter@ecsim",
		ChipVendor:   "ec_exporter",
		ChipName:     "ecsim",
		ChipRevision: "1",
		BoardVersion: 1,
		Features:     [2]uint32{1<<1 | 1<<2 | 1<<3 | 1<<10, 0},
	}
}

// DefaultConfig returns the defaults: 3 MHz, sleeping wire, 450 µs processing,
// 8192 µs receive stages, the kernel-commit timing with its 8 ms CS budget,
// 70 µs re-arm gap, 0x220-byte packets, no faults.
//
// The kernel-commit timing is the default because it is the only published
// account of the failure the real-time change fixed (observed on real ECs),
// and it is the stricter rule: a host that keeps its transfers inside it also
// passes the firmware-code rule, not the other way round.
func DefaultConfig() Config {
	return Config{
		Clock:       DefaultClock,
		Wire:        WireSleep,
		Timing:      TimingKernelCommit,
		Processing:  DefaultProcessing,
		RxBudget:    DefaultRxBudget,
		CSBudget:    DefaultCSBudget,
		RearmGap:    DefaultRearmGap,
		MaxRequest:  DefaultMaxPacket,
		MaxResponse: DefaultMaxPacket,
		MaxTxSize:   DefaultMaxTxSize,
		Seed:        1,
		Faults: Faults{
			LateBy:          5 * time.Millisecond,
			InProgressPolls: 3,
			Result:          ec.ResError,
			HangFor:         5 * time.Second,
			RebootSilence:   2 * time.Second,
		},
		Identity: DefaultIdentity(),
	}
}

// InstantConfig is DefaultConfig with no wire, processing, re-arm or budget time: an EC that
// answers as fast as the host asks and never gives up on a slow host, for tests on a loaded
// machine.
func InstantConfig() Config {
	c := DefaultConfig()
	c.Clock, c.Processing, c.RxBudget, c.CSBudget, c.RearmGap = 0, 0, 0, 0, 0
	return c
}
