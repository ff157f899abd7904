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
	"github.com/ec-exporter/ec_exporter/prober"
)

// ProbeCmd runs each read-only host command once and prints the answers, like ectool.
type ProbeCmd struct {
	Conn    ConnFlags     `embed:""`
	JSON    bool          `name:"json" help:"Print JSON (stable keys) instead of text."`
	Timeout time.Duration `name:"timeout" default:"10s" help:"Give up when opening and asking the ECs takes longer than this (an EC or driver stuck in the kernel)."`
}

// Run probes every EC the flags name; it fails when an EC cannot be reached or a
// command fails (a command the EC does not implement is reported, not a failure).
func (c *ProbeCmd) Run(logger *slog.Logger) error {
	c.Conn.Log = logger
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
	Summary     string  `json:"summary,omitempty"`
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
	if c.Timeout <= 0 {
		return fmt.Errorf("probe: --timeout must be above 0, got %v", c.Timeout)
	}
	// The EC I/O runs on its own goroutine: a transfer stuck in the kernel cannot be
	// cancelled, so on timeout it is abandoned (the process exits after this returns).
	type result struct {
		reports []*probeReport
		err     error
	}
	done := make(chan result, 1)
	go func() {
		devs, err := c.Conn.openAll()
		if err != nil {
			done <- result{err: fmt.Errorf("probe: %w", err)}
			return
		}
		defer closeAll(devs)
		reports := make([]*probeReport, 0, len(devs))
		for _, d := range devs {
			reports = append(reports, probeDevice(d))
		}
		done <- result{reports: reports}
	}()
	var reports []*probeReport
	select {
	case r := <-done:
		if r.err != nil {
			return r.err
		}
		reports = r.reports
	case <-time.After(c.Timeout):
		return fmt.Errorf("probe: no answer within --timeout=%v: the EC or its driver is stuck (see dmesg | grep -i cros)", c.Timeout)
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

// probeDevice sends every command of the table once, in order; without a liveness
// answer nothing else will answer, so it stops there.
func probeDevice(d *ec.Device) *probeReport {
	r := &probeReport{Device: d.Name(), Transport: d.Transport().String()}
	var a prober.Answers
	for _, c := range prober.Commands {
		start := time.Now()
		err := c.Run(d, &a)
		s := probeStep{Command: strings.ToUpper(c.Name), Seconds: time.Since(start).Seconds(), Retries: d.LastRetries()}
		switch {
		case err == nil:
			s.OK = true
			s.Summary = c.Summary(&a)
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
		if c.Class == prober.Liveness && err != nil {
			r.unreachable, r.helloFailure = true, err
			return r
		}
	}
	r.fill(&a)
	r.OK = r.failed == 0
	return r
}

// fill copies the answers into the report's JSON fields.
func (r *probeReport) fill(a *prober.Answers) {
	if p := a.Protocol; p != nil {
		r.Protocol = &probeProtocol{Versions: p.Versions, ProtocolVersion: p.ProtocolVersion(), MaxRequestPacket: p.MaxRequestPacket,
			MaxResponsePacket: p.MaxResponsePacket, Flags: p.Flags, InProgressSupported: p.InProgressSupported()}
	}
	r.VersionMask = a.VersionMask
	if v := a.Version; v != nil {
		r.Version = &probeVersion{RO: v.RO, RW: v.RW, Image: v.Image.String(), CrosFWIDRO: v.CrosFWIDRO, CrosFWIDRW: v.CrosFWIDRW, CommandVersion: v.CmdVersion}
	}
	if c := a.Chip; c != nil {
		r.Chip = &probeChip{Vendor: c.Vendor, Name: c.Name, Revision: c.Revision}
	}
	r.Build = a.Build
	if f := a.Features; f != nil {
		names := f.Names()
		if names == nil {
			names = []string{}
		}
		r.Features = &probeFeatures{Mask: *f, Names: names}
	}
	if u := a.Uptime; u != nil {
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
	}
	r.CommsStatus = a.CommsStatus
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
