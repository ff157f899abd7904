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
	Processing  time.Duration // time between the last request byte and 0xEC
	RxBudget    time.Duration // per receive wait stage (firmware 8192 µs); 0 = none
	CSBudget    time.Duration // from CS assertion to the end of the transfer (8 ms); 0 = none
	RearmGap    time.Duration // CS-high time the EC needs to re-arm (~70 µs)
	MaxRequest  int           // max request packet incl. header (0x220)
	MaxResponse int           // max response packet incl. header (0x220)
	MaxTxSize   int           // bytes per TxPackets call, like spidev bufsiz (4096); 0 = unlimited
	Seed        uint64        // fault-injection random seed
	Faults      Faults
	Identity    Identity
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

// DefaultConfig returns the firmware-like defaults: 3 MHz, sleeping wire,
// 450 µs processing, 8192 µs receive stages, 8 ms CS budget, 70 µs re-arm gap,
// 0x220-byte packets, no faults.
func DefaultConfig() Config {
	return Config{
		Clock:       DefaultClock,
		Wire:        WireSleep,
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
