package prober

import (
	"fmt"
	"strings"

	"github.com/ec-exporter/ec_exporter/ec"
)

// Class says when a command of the table is sent.
type Class uint8

// Command classes.
const (
	// Liveness commands run every --probe.interval; their outcome is cros_ec_up and their
	// successful transfers fill cros_ec_transfer_duration_seconds.
	Liveness Class = iota
	// Identity commands run when the device opens, every identity interval and after a
	// detected EC reset: what only changes when the EC reboots or is reflashed.
	Identity
	// State commands run with the identity ones and also after the EC recovers from a
	// failed liveness probe: what tells whether the EC rebooted meanwhile.
	State
	// OnDemand commands are sent by `ec_exporter probe` only.
	OnDemand
)

// String returns the class name used in docs.
func (c Class) String() string {
	switch c {
	case Liveness:
		return "every interval"
	case Identity:
		return "identity"
	case State:
		return "identity and after recovery"
	}
	return "probe only"
}

// Command is one read-only host command: what the prober, `probe`, `stress` and the
// docs know of it.
type Command struct {
	Name  string // metric label value (lower case); `probe` prints it upper case
	Code  uint16 // EC_CMD_* code, for the docs
	Class Class
	// Run sends the command on d and records the answer in a. It runs on the worker
	// thread; a Liveness command's Run must not allocate.
	Run func(d *ec.Device, a *Answers) error
	// Summary describes the answer Run recorded in a, in one line.
	Summary func(a *Answers) string
}

// Answers holds what the commands last read from one EC; nil means not read (yet).
// Values behind the pointers are never changed once stored, so copies may share them.
type Answers struct {
	Protocol    *ec.ProtocolInfo
	VersionMask *uint32 // GET_CMD_VERSIONS for GET_VERSION
	Version     *ec.VersionInfo
	Chip        *ec.ChipInfo
	Build       *string
	Features    *ec.Features
	Uptime      *ec.UptimeInfo
	CommsStatus *uint32
}

// Commands is the table of read-only host commands, in the order `probe` sends them.
// Adding a command: its ec.Device method, one entry here, the simulated EC's answer, tests.
var Commands = []Command{
	{Name: "hello", Code: ec.CmdHello, Class: Liveness, Run: runHello,
		Summary: func(*Answers) string { return "out_data = in_data + 0x01020304" }},
	{Name: "get_protocol_info", Code: ec.CmdGetProtocolInfo, Class: Identity,
		Run: func(d *ec.Device, a *Answers) error { return store(d.ProtocolInfo, &a.Protocol) },
		Summary: func(a *Answers) string {
			p := a.Protocol
			return fmt.Sprintf("protocol v%d, max request %d B, max response %d B, in-progress %v",
				p.ProtocolVersion(), p.MaxRequestPacket, p.MaxResponsePacket, p.InProgressSupported())
		}},
	{Name: "get_cmd_versions", Code: ec.CmdGetCmdVersions, Class: OnDemand,
		Run: func(d *ec.Device, a *Answers) error {
			return store(func() (uint32, error) { return d.CmdVersions(ec.CmdGetVersion) }, &a.VersionMask)
		},
		Summary: func(a *Answers) string { return fmt.Sprintf("GET_VERSION versions mask %#x", *a.VersionMask) }},
	{Name: "get_version", Code: ec.CmdGetVersion, Class: Identity, Run: runVersion,
		Summary: func(a *Answers) string {
			v := a.Version
			s := fmt.Sprintf("RO %s, RW %s, running %s", v.RO, v.RW, v.Image)
			if v.CmdVersion >= 1 {
				s += fmt.Sprintf(", fwid RO %s RW %s", v.CrosFWIDRO, v.CrosFWIDRW)
			}
			return s
		}},
	{Name: "get_chip_info", Code: ec.CmdGetChipInfo, Class: Identity,
		Run: func(d *ec.Device, a *Answers) error { return store(d.ChipInfo, &a.Chip) },
		Summary: func(a *Answers) string {
			return fmt.Sprintf("%s %s rev %q", a.Chip.Vendor, a.Chip.Name, a.Chip.Revision)
		}},
	{Name: "get_build_info", Code: ec.CmdGetBuildInfo, Class: Identity,
		Run:     func(d *ec.Device, a *Answers) error { return store(d.BuildInfo, &a.Build) },
		Summary: func(a *Answers) string { return *a.Build }},
	{Name: "get_features", Code: ec.CmdGetFeatures, Class: OnDemand,
		Run: func(d *ec.Device, a *Answers) error { return store(d.Features, &a.Features) },
		Summary: func(a *Answers) string {
			f := *a.Features
			return fmt.Sprintf("%#08x %#08x: %s", f[0], f[1], strings.Join(f.Names(), " "))
		}},
	{Name: "get_uptime_info", Code: ec.CmdGetUptimeInfo, Class: State,
		Run: func(d *ec.Device, a *Answers) error { return store(d.UptimeInfo, &a.Uptime) },
		Summary: func(a *Answers) string {
			u := a.Uptime
			logged := 0
			for _, r := range u.RecentResets {
				if !r.Empty() {
					logged++
				}
			}
			return fmt.Sprintf("up %v, %d AP resets, reset flags %#x (%s), %d recent AP resets logged",
				u.SinceBoot, u.APResets, u.ResetFlags, strings.Join(u.ResetFlagNames(), " "), logged)
		}},
	{Name: "get_comms_status", Code: ec.CmdGetCommsStatus, Class: OnDemand,
		Run: func(d *ec.Device, a *Answers) error { return store(d.CommsStatus, &a.CommsStatus) },
		Summary: func(a *Answers) string {
			return fmt.Sprintf("flags %#x (processing %v)", *a.CommsStatus, *a.CommsStatus&ec.CommsStatusProcessing != 0)
		}},
}

// Lookup returns the table entry named name.
func Lookup(name string) (Command, bool) {
	for _, c := range Commands {
		if c.Name == name {
			return c, true
		}
	}
	return Command{}, false
}

// probed returns the entries of cmds the background prober sends (every class but OnDemand).
func probed(cmds []Command) []Command {
	var out []Command
	for _, c := range cmds {
		if c.Class != OnDemand {
			out = append(out, c)
		}
	}
	return out
}

func runHello(d *ec.Device, _ *Answers) error { return d.Hello() }

// runVersion asks GET_VERSION v1 when an earlier GET_CMD_VERSIONS said the EC has it;
// otherwise ec.Device picks the version itself.
func runVersion(d *ec.Device, a *Answers) error {
	if a.VersionMask != nil {
		var ver uint8
		if *a.VersionMask&(1<<1) != 0 {
			ver = 1
		}
		return store(func() (ec.VersionInfo, error) { return d.VersionV(ver) }, &a.Version)
	}
	return store(d.Version, &a.Version)
}

// store runs f and, when it succeeds, points *dst at a new copy of its answer.
func store[T any](f func() (T, error), dst **T) error {
	v, err := f()
	if err != nil {
		return err
	}
	*dst = &v
	return nil
}
