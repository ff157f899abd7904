package main

import (
	"bytes"
	"encoding/json"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
)

// robustSim turns off the simulated EC's wall-clock budgets (8 ms CS rule, 8192 µs receive
// stages) so that a loaded test machine cannot starve a transfer into a failure; wire and
// processing time stay real.
var robustSim = []string{"--ec.transport=sim", "--sim.cs-budget=0s", "--sim.rx-budget=0s"}

// parseProbe parses a probe command line with the real CLI, defaults included.
func parseProbe(t *testing.T, args ...string) *ProbeCmd {
	t.Helper()
	return &mustParse(t, append([]string{"probe"}, args...)...).Probe
}

var allProbeCommands = []string{"HELLO", "GET_PROTOCOL_INFO", "GET_CMD_VERSIONS", "GET_VERSION", "GET_CHIP_INFO",
	"GET_BUILD_INFO", "GET_FEATURES", "GET_UPTIME_INFO", "GET_COMMS_STATUS"}

func TestProbeSimText(t *testing.T) {
	var out bytes.Buffer
	if err := parseProbe(t, robustSim...).run(&out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	id := ecsim.DefaultIdentity()
	if !strings.HasPrefix(s, "EC sim via spi:") {
		t.Errorf("header: %q", s)
	}
	for _, cmd := range allProbeCommands {
		re := regexp.MustCompile(`(?m)^  ` + cmd + `\s+ok\s+[0-9.]+(µs|ms|s)\s`)
		if !re.MatchString(s) {
			t.Errorf("no timed ok line for %s", cmd)
		}
	}
	for _, want := range []string{id.VersionRO, id.VersionRW, "running RW", id.BuildInfo, id.ChipName,
		"protocol v3, max request 544 B", "POWER_ON", "FLASH"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(s)
	}
}

func TestProbeSimJSON(t *testing.T) {
	var out bytes.Buffer
	if err := parseProbe(t, append(robustSim, "--ec.device=bench", "--json")...).run(&out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var doc struct {
		Devices []map[string]json.RawMessage `json:"devices"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(doc.Devices) != 1 {
		t.Fatalf("%d devices", len(doc.Devices))
	}
	dev := doc.Devices[0]
	var keys []string
	for k := range dev {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	wantKeys := []string{"build", "chip", "commands", "comms_status", "device", "features", "get_version_versions",
		"ok", "protocol", "transport", "uptime", "version"}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("keys %v, want %v (scripts depend on them)", keys, wantKeys)
	}
	var r struct {
		Device   string `json:"device"`
		OK       bool   `json:"ok"`
		Commands []struct {
			Command string  `json:"command"`
			OK      bool    `json:"ok"`
			Seconds float64 `json:"seconds"`
			Retries int     `json:"retries"`
		} `json:"commands"`
		Protocol struct {
			ProtocolVersion   int    `json:"protocol_version"`
			MaxRequestPacket  uint16 `json:"max_request_packet"`
			MaxResponsePacket uint16 `json:"max_response_packet"`
		} `json:"protocol"`
		Version struct {
			RO, RW, Image  string
			CrosFWIDRO     string `json:"cros_fwid_ro"`
			CommandVersion int    `json:"command_version"`
		} `json:"version"`
		Build    string `json:"build"`
		Chip     struct{ Vendor, Name string }
		Features struct {
			Names []string `json:"names"`
		} `json:"features"`
		Uptime struct {
			Seconds        float64  `json:"seconds"`
			ResetFlagNames []string `json:"reset_flag_names"`
		} `json:"uptime"`
	}
	raw, _ := json.Marshal(dev)
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	id := ecsim.DefaultIdentity()
	if r.Device != "bench" || !r.OK || len(r.Commands) != len(allProbeCommands) {
		t.Errorf("device %q ok %v commands %d", r.Device, r.OK, len(r.Commands))
	}
	for i, c := range r.Commands {
		// Each round trip over the 3 MHz sim takes real wire and processing time.
		if c.Command != allProbeCommands[i] || !c.OK || c.Seconds <= 0 || c.Seconds > 5 {
			t.Errorf("command %d: %+v", i, c)
		}
	}
	if r.Protocol.ProtocolVersion != 3 || r.Protocol.MaxRequestPacket != 0x220 || r.Protocol.MaxResponsePacket != 0x220 {
		t.Errorf("protocol %+v", r.Protocol)
	}
	if r.Version.RO != id.VersionRO || r.Version.RW != id.VersionRW || r.Version.Image != "RW" ||
		r.Version.CommandVersion != 1 || r.Version.CrosFWIDRO != id.CrosFWIDRO {
		t.Errorf("version %+v", r.Version)
	}
	if r.Build != id.BuildInfo || r.Chip.Vendor != id.ChipVendor || r.Chip.Name != id.ChipName {
		t.Errorf("build %q chip %+v", r.Build, r.Chip)
	}
	if !slices.Contains(r.Features.Names, "FLASH") || !slices.Contains(r.Uptime.ResetFlagNames, "POWER_ON") ||
		r.Uptime.Seconds < 0 || r.Uptime.Seconds > 3600 {
		t.Errorf("features %v uptime %+v", r.Features.Names, r.Uptime)
	}
}

func TestProbeChardevMissing(t *testing.T) {
	node := filepath.Join(t.TempDir(), "cros_ec")
	var out bytes.Buffer
	err := parseProbe(t, "--ec.transport=chardev", "--ec.device="+node).run(&out)
	if err == nil || exitCode(err) == 0 {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{node, "is the cros_ec_dev module loaded?", "try --ec.transport=sim"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("printed %q before failing", out.String())
	}
}

// An EC that answers every command with an error: the probe reports it and fails.
func TestProbeUnreachable(t *testing.T) {
	cfg := ecsim.DefaultConfig()
	cfg.Clock = 0
	cfg.Faults.ECResult.P = 1
	cfg.Faults.Result = ec.ResError
	d := ec.NewDevice("sim", ecsim.NewTransport(ecsim.New(cfg)))
	r := probeDevice(d)
	if !r.unreachable || r.OK || len(r.Commands) != 1 || r.Commands[0].Cause != "ec_result" {
		t.Fatalf("report %+v", r)
	}
	var out bytes.Buffer
	if err := r.writeText(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "HELLO") || !strings.Contains(out.String(), "FAIL ec_result") {
		t.Errorf("text %q", out.String())
	}
}

// A failing command other than HELLO is a failure; an unsupported one is not.
func TestProbePartialFailure(t *testing.T) {
	cfg := ecsim.DefaultConfig()
	cfg.Clock = 0
	d := ec.NewDevice("sim", ecsim.NewTransport(ecsim.New(cfg)))
	r := probeDevice(d)
	if !r.OK || r.failed != 0 || len(r.Commands) != len(allProbeCommands) {
		t.Fatalf("healthy sim: %+v", r.Commands)
	}
	cfg.Faults.Checksum.Every = 3 // every third transaction corrupt
	d = ec.NewDevice("sim", ecsim.NewTransport(ecsim.New(cfg)))
	r = probeDevice(d)
	if r.OK || r.failed == 0 || r.unreachable {
		t.Fatalf("faulty sim: failed %d unreachable %v", r.failed, r.unreachable)
	}
	for _, c := range r.Commands {
		if !c.OK && c.Cause != "checksum" {
			t.Errorf("%s failed with %q, want checksum", c.Command, c.Cause)
		}
	}
}

func TestOpenDevices(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		want  string // error substring; "" = opens
		label string
	}{
		{"sim default label", []string{"--ec.transport=sim"}, "", "sim"},
		{"sim own label", []string{"--ec.transport=sim", "--ec.device=bench1"}, "", "bench1"},
		{"sim two devices", []string{"--ec.transport=sim", "--ec.device=a", "--ec.device=b"}, "reaches one EC, but --ec.device was given 2 times", ""},
		{"spidev two devices", []string{"--ec.transport=spidev", "--ec.device=cros_ec", "--ec.device=cros_fp"}, "--ec.transport=spidev reaches one EC", ""},
		{"spidev path as label", []string{"--ec.transport=spidev", "--ec.device=/dev/spidev0.0"}, "the SPI node is --spi.device", ""},
		{"spidev zero speed", []string{"--ec.transport=spidev", "--spi.speed=0"}, "--spi.speed must be a clock in Hz between 1 and", ""},
		{"spidev missing node", []string{"--ec.transport=spidev", "--spi.device=/dev/spidev97.3"}, "--spi.device=/dev/spidev97.3", ""},
		{"spidev not a spidev", []string{"--ec.transport=spidev", "--spi.device=/dev/null"}, "--spi.device=/dev/null: not the right kind of device node: /dev/null is a mem device, not spidev", ""},
		{"spidev a file", []string{"--ec.transport=spidev", "--spi.device=/etc/hostname"}, "is not a character device", ""},
		{"chardev a file", []string{"--ec.device=/etc/hostname"}, "--ec.device=/etc/hostname: not the right kind of device node", ""},
		{"zero deadline", []string{"--ec.transport=sim", "--spi.deadline=0s"}, "--spi.deadline must be above 0", ""},
		{"negative polls", []string{"--ec.transport=sim", "--ec.in-progress-polls=-1"}, "--ec.in-progress-polls must be between 0 and 10000", ""},
		{"empty device", []string{"--ec.transport=sim", "--ec.device="}, "name at least one EC", ""},
		{"chardev bad name", []string{"--ec.device=spidev0.0"}, "neither an EC name", ""},
		{"chardev same label twice", []string{"--ec.device=cros_fp", "--ec.device=/dev/cros_fp"}, `would both be labelled device="cros_fp"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := parseProbe(t, append(tt.args, "--sim.cs-budget=0s", "--sim.rx-budget=0s")...)
			devs, err := c.Conn.openAll()
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeAll(devs)
			if len(devs) != 1 || devs[0].Name() != tt.label {
				t.Fatalf("devices %v", devs)
			}
			if p := devs[0].RetryPolicy(); p != ec.DefaultRetryPolicy() {
				t.Errorf("retry policy %+v", p)
			}
			if err := devs[0].Hello(); err != nil {
				t.Errorf("HELLO over the opened sim: %v", err)
			}
		})
	}
}

func TestOpenDevicesRetryFlags(t *testing.T) {
	c := parseProbe(t, "--ec.transport=sim", "--ec.in-progress-polls=7", "--ec.not-ready-retries=0", "--ec.in-progress-delay=2ms")
	devs, err := c.Conn.openAll()
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(devs)
	p := devs[0].RetryPolicy()
	if p.InProgressPolls != 7 || p.NotReadyRetries != 0 || p.InProgressDelay.Milliseconds() != 2 {
		t.Errorf("policy %+v", p)
	}
}

// TestProbeGivesUpOnAStuckEC: a transfer stuck in the kernel ends probe with an error
// after --timeout, not a hang.
func TestProbeGivesUpOnAStuckEC(t *testing.T) {
	c := parseProbe(t, "--ec.transport=sim", "--sim.fault.hang=1", "--sim.fault.hang-for=1m", "--timeout=300ms")
	start := time.Now()
	err := c.run(io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no answer within --timeout=300ms") {
		t.Fatalf("err = %v, want the timeout", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("gave up after %v", took)
	}
}
