// Package prober schedules the EC probes on the real-time worker and keeps what they
// measured: per device, HELLO every interval and the identity commands at start, every
// few minutes and after the EC recovers. Scrapes read the state through Snapshot, which
// never waits for the EC.
package prober

import (
	"errors"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
)

// Command is a host command the prober sends; its String is the metric label value.
type Command uint8

// Commands the prober sends.
const (
	Hello Command = iota
	GetVersion
	GetProtocolInfo
	GetBuildInfo
	GetChipInfo
	GetUptimeInfo
	numCommands
)

// NumCommands is the number of commands the prober sends.
const NumCommands = int(numCommands)

var commandNames = [...]string{"hello", "get_version", "get_protocol_info", "get_build_info", "get_chip_info", "get_uptime_info"}

// String returns the metric label value of c.
func (c Command) String() string {
	if int(c) < len(commandNames) {
		return commandNames[c]
	}
	return "unknown"
}

// Commands lists every command the prober sends, in label order.
var Commands = []Command{Hello, GetVersion, GetProtocolInfo, GetBuildInfo, GetChipInfo, GetUptimeInfo}

// identityCommands are refreshed at start, every identity interval and after recovery.
var identityCommands = []Command{GetVersion, GetProtocolInfo, GetBuildInfo, GetChipInfo, GetUptimeInfo}

// NumCauses is the size of arrays indexed by ec.Cause.
const NumCauses = int(ec.CauseBusy) + 1

// Version is what GET_VERSION reports.
type Version struct {
	RO, RW string // version strings of the RO and RW images
	Image  string // image the EC runs: "ro", "rw", "unknown", ...
}

// Protocol is what GET_PROTOCOL_INFO reports.
type Protocol struct {
	Versions                      uint32 // bit n set: protocol version n supported
	MaxRequestPacket, MaxResponse uint16 // largest packets in bytes
}

// Highest returns the highest protocol version in p.Versions (0 if none).
func (p Protocol) Highest() int {
	for v := 31; v > 0; v-- {
		if p.Versions&(1<<v) != 0 {
			return v
		}
	}
	return 0
}

// Chip is what GET_CHIP_INFO reports.
type Chip struct{ Vendor, Name, Revision string }

// Uptime is what GET_UPTIME_INFO reports.
type Uptime struct {
	SinceBoot  time.Duration // time since the EC booted
	APResets   uint32        // AP resets since the EC booted
	ResetFlags uint32        // EC_RESET_FLAG_* bits of the last EC reset
}

// Device is what the prober needs from one EC. cmd adapts *ec.Device to it; tests use fakes.
// All methods are called from the worker thread only; Hello must not allocate.
type Device interface {
	Name() string
	Hello() error
	LastRetries() int
	Version() (Version, error)
	ProtocolInfo() (Protocol, error)
	BuildInfo() (string, error)
	ChipInfo() (Chip, error)
	UptimeInfo() (Uptime, error)
}

// Stamps are the times of one job run: when it should have started and when it did.
type Stamps struct{ Intended, Started time.Time }

// Job is work for the worker thread.
type Job interface{ Run(s Stamps) }

// Scheduler runs jobs on the worker thread (the rt worker through an adapter in cmd).
type Scheduler interface {
	// Every runs j periodically at absolute deadlines kept by the worker.
	Every(interval time.Duration, j Job)
	// Submit queues j once; it fails when the queue is full or closed.
	Submit(j Job) error
}

// Opener opens one device. An error wrapping ErrConfig is final (bad configuration);
// any other error is retried.
type Opener func() (Device, error)

// ErrConfig marks an open error that retrying cannot fix.
var ErrConfig = errors.New("configuration error")

// isUnsupported reports whether err is the EC's INVALID_COMMAND result.
func isUnsupported(err error) bool {
	var r ec.Result
	return errors.As(err, &r) && r == ec.ResInvalidCommand
}
