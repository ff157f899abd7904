package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
)

// ProbeCmd runs each read-only host command once and prints the answers, like ectool.
type ProbeCmd struct {
	EC   ECFlags  `embed:"" prefix:"ec."`
	SPI  SPIFlags `embed:"" prefix:"spi."`
	Sim  SimFlags `embed:"" prefix:"sim."`
	JSON bool     `name:"json" help:"Print JSON (stable keys) instead of text."`
}

// Run probes every EC the flags name; it fails when an EC cannot be reached or a
// command fails (a command the EC does not implement is reported, not a failure).
func (c *ProbeCmd) Run(logger *slog.Logger) error {
	return c.run(os.Stdout)
}

// probeStep is the outcome of one host command.
type probeStep struct {
	Command     string  `json:"command"`
	OK          bool    `json:"ok"`
	Unsupported bool    `json:"unsupported,omitempty"`
	Cause       string  `json:"cause,omitempty"`
	Error       string  `json:"error,omitempty"`
	Seconds     float64 `json:"seconds"`
	Retries     int     `json:"retries"`
	Summary     string  `json:"-"`
}

type probeVersion struct {
	RO             string `json:"ro"`
	RW             string `json:"rw"`
	Image          string `json:"image"`
	CrosFWIDRO     string `json:"cros_fwid_ro"`
	CrosFWIDRW     string `json:"cros_fwid_rw"`
	CommandVersion uint8  `json:"command_version"`
}

type probeProtocol struct {
	Versions            uint32 `json:"versions"`
	ProtocolVersion     int    `json:"protocol_version"`
	MaxRequestPacket    uint16 `json:"max_request_packet"`
	MaxResponsePacket   uint16 `json:"max_response_packet"`
	Flags               uint32 `json:"flags"`
	InProgressSupported bool   `json:"in_progress_supported"`
}

type probeFeatures struct {
	Mask  [2]uint32 `json:"mask"`
	Names []string  `json:"names"`
}

type probeReset struct {
	Cause   uint16  `json:"cause"`
	Seconds float64 `json:"seconds_since_boot"`
}

type probeUptime struct {
	Seconds        float64      `json:"seconds"`
	APResets       uint32       `json:"ap_resets"`
	ResetFlags     uint32       `json:"reset_flags"`
	ResetFlagNames []string     `json:"reset_flag_names"`
	RecentAPResets []probeReset `json:"recent_ap_resets"`
}

type probeChip struct {
	Vendor   string `json:"vendor"`
	Name     string `json:"name"`
	Revision string `json:"revision"`
}

// probeReport is everything one EC said; pointers are nil when the command failed.
type probeReport struct {
	Device       string         `json:"device"`
	Transport    string         `json:"transport"`
	OK           bool           `json:"ok"`
	Commands     []probeStep    `json:"commands"`
	Protocol     *probeProtocol `json:"protocol"`
	VersionMask  *uint32        `json:"get_version_versions"`
	Version      *probeVersion  `json:"version"`
	Build        *string        `json:"build"`
	Chip         *probeChip     `json:"chip"`
	Features     *probeFeatures `json:"features"`
	Uptime       *probeUptime   `json:"uptime"`
	CommsStatus  *uint32        `json:"comms_status"`
	failed       int
	unreachable  bool
	helloFailure error
}

func (c *ProbeCmd) run(out io.Writer) error {
	devs, err := openDevices(c.EC, c.SPI, c.Sim)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer closeAll(devs)
	reports := make([]*probeReport, 0, len(devs))
	for _, d := range devs {
		reports = append(reports, probeDevice(d))
	}
	if c.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			Devices []*probeReport `json:"devices"`
		}{reports}); err != nil {
			return fmt.Errorf("probe: write JSON: %w", err)
		}
	} else {
		for i, r := range reports {
			if i > 0 {
				fmt.Fprintln(out)
			}
			if err := r.writeText(out); err != nil {
				return fmt.Errorf("probe: write: %w", err)
			}
		}
	}
	var errs []error
	for _, r := range reports {
		switch {
		case r.unreachable:
			errs = append(errs, fmt.Errorf("cannot reach EC %s over %s: %w", r.Device, r.Transport, r.helloFailure))
		case r.failed > 0:
			errs = append(errs, fmt.Errorf("EC %s: %d of %d commands failed (see the output above)", r.Device, r.failed, len(r.Commands)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("probe: %w", errors.Join(errs...))
	}
	return nil
}

// step runs f as one timed command and records its outcome.
func (r *probeReport) step(d *ec.Device, command string, f func() (string, error)) bool {
	start := time.Now()
	summary, err := f()
	s := probeStep{Command: command, Seconds: time.Since(start).Seconds(), Retries: d.LastRetries(), Summary: summary}
	switch {
	case err == nil:
		s.OK = true
	case ec.IsUnsupported(err):
		s.Unsupported = true
		s.Error = err.Error()
		s.Summary = "not supported by this EC"
	default:
		s.Cause = ec.CauseOf(err).String()
		s.Error = err.Error()
		r.failed++
	}
	r.Commands = append(r.Commands, s)
	return err == nil
}

func probeDevice(d *ec.Device) *probeReport {
	r := &probeReport{Device: d.Name(), Transport: d.Transport().String()}
	if !r.step(d, "HELLO", func() (string, error) {
		err := d.Hello()
		r.helloFailure = err
		return "out_data = in_data + 0x01020304", err
	}) {
		// Without HELLO nothing else will answer; report and stop.
		r.unreachable = true
		return r
	}
	r.step(d, "GET_PROTOCOL_INFO", func() (string, error) {
		p, err := d.ProtocolInfo()
		if err != nil {
			return "", err
		}
		r.Protocol = &probeProtocol{Versions: p.Versions, ProtocolVersion: p.ProtocolVersion(), MaxRequestPacket: p.MaxRequestPacket,
			MaxResponsePacket: p.MaxResponsePacket, Flags: p.Flags, InProgressSupported: p.InProgressSupported()}
		return fmt.Sprintf("protocol v%d, max request %d B, max response %d B, in-progress %v",
			p.ProtocolVersion(), p.MaxRequestPacket, p.MaxResponsePacket, p.InProgressSupported()), nil
	})
	getVersionVer := uint8(0)
	r.step(d, "GET_CMD_VERSIONS", func() (string, error) {
		m, err := d.CmdVersions(ec.CmdGetVersion)
		if err != nil {
			return "", err
		}
		r.VersionMask = &m
		if m&(1<<1) != 0 {
			getVersionVer = 1
		}
		return fmt.Sprintf("GET_VERSION versions mask %#x", m), nil
	})
	r.step(d, "GET_VERSION", func() (string, error) {
		v, err := d.VersionV(getVersionVer)
		if err != nil {
			return "", err
		}
		r.Version = &probeVersion{RO: v.RO, RW: v.RW, Image: v.Image.String(), CrosFWIDRO: v.CrosFWIDRO, CrosFWIDRW: v.CrosFWIDRW, CommandVersion: v.CmdVersion}
		s := fmt.Sprintf("RO %s, RW %s, running %s", v.RO, v.RW, v.Image)
		if v.CmdVersion >= 1 {
			s += fmt.Sprintf(", fwid RO %s RW %s", v.CrosFWIDRO, v.CrosFWIDRW)
		}
		return s, nil
	})
	r.step(d, "GET_CHIP_INFO", func() (string, error) {
		c, err := d.ChipInfo()
		if err != nil {
			return "", err
		}
		r.Chip = &probeChip{Vendor: c.Vendor, Name: c.Name, Revision: c.Revision}
		return fmt.Sprintf("%s %s rev %q", c.Vendor, c.Name, c.Revision), nil
	})
	r.step(d, "GET_BUILD_INFO", func() (string, error) {
		b, err := d.BuildInfo()
		if err != nil {
			return "", err
		}
		r.Build = &b
		return b, nil
	})
	r.step(d, "GET_FEATURES", func() (string, error) {
		f, err := d.Features()
		if err != nil {
			return "", err
		}
		names := f.Names()
		if names == nil {
			names = []string{}
		}
		r.Features = &probeFeatures{Mask: f, Names: names}
		return fmt.Sprintf("%#08x %#08x: %s", f[0], f[1], strings.Join(names, " ")), nil
	})
	r.step(d, "GET_UPTIME_INFO", func() (string, error) {
		u, err := d.UptimeInfo()
		if err != nil {
			return "", err
		}
		flags := u.ResetFlagNames()
		if flags == nil {
			flags = []string{}
		}
		pu := &probeUptime{Seconds: u.SinceBoot.Seconds(), APResets: u.APResets, ResetFlags: u.ResetFlags, ResetFlagNames: flags, RecentAPResets: []probeReset{}}
		for _, e := range u.RecentResets {
			if !e.Empty() {
				pu.RecentAPResets = append(pu.RecentAPResets, probeReset{Cause: e.Cause, Seconds: e.Time.Seconds()})
			}
		}
		r.Uptime = pu
		return fmt.Sprintf("up %v, %d AP resets, reset flags %#x (%s), %d recent AP resets logged",
			u.SinceBoot, u.APResets, u.ResetFlags, strings.Join(flags, " "), len(pu.RecentAPResets)), nil
	})
	r.step(d, "GET_COMMS_STATUS", func() (string, error) {
		s, err := d.CommsStatus()
		if err != nil {
			return "", err
		}
		r.CommsStatus = &s
		return fmt.Sprintf("flags %#x (processing %v)", s, s&ec.CommsStatusProcessing != 0), nil
	})
	r.OK = r.failed == 0
	return r
}

func (r *probeReport) writeText(out io.Writer) error {
	fmt.Fprintf(out, "EC %s via %s\n", r.Device, r.Transport)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, s := range r.Commands {
		status := "ok"
		detail := s.Summary
		switch {
		case s.Unsupported:
			status = "n/a"
		case !s.OK:
			status = "FAIL " + s.Cause
			detail = s.Error
		}
		retries := ""
		switch {
		case s.Retries == 1:
			retries = "1 retry"
		case s.Retries > 1:
			retries = fmt.Sprintf("%d retries", s.Retries)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Command, status, fmtSeconds(s.Seconds), retries, detail)
	}
	return tw.Flush()
}

// fmtSeconds prints a round-trip time with a unit that suits it.
func fmtSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case d < time.Second:
		return fmt.Sprintf("%.3fms", s*1e3)
	}
	return fmt.Sprintf("%.3fs", s)
}
