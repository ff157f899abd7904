package main

import (
	"errors"
	"fmt"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
)

// Field sizes of the firmware's answers (include/ec_commands.h): struct
// ec_response_get_version carries 32-byte NUL-terminated version strings,
// struct ec_response_get_chip_info 32-byte vendor/name/revision strings.
const (
	simVersionLen = 32 - 1
	simChipLen    = 32 - 1
	// EC_CMD_GET_BUILD_INFO answers a NUL-terminated string; ectool reads it with the
	// insize it may use before GET_PROTOCOL_INFO (ec.DefaultMaxOut).
	simBuildInfoLen = ec.DefaultMaxOut - 1
)

// SimIdentityFlags set what the simulated EC says about itself (prefix "sim.identity."),
// so that simulated devices can carry different firmware.
type SimIdentityFlags struct {
	VersionRO    string `name:"version-ro" default:"sim_v2.0.1234-abcdef" help:"RO firmware version string (EC_CMD_GET_VERSION, at most 31 bytes)."`
	VersionRW    string `name:"version-rw" default:"sim_v2.0.1234-abcdef" help:"RW firmware version string (EC_CMD_GET_VERSION, at most 31 bytes)."`
	FWIDRO       string `name:"fwid-ro" default:"sim_15000.0.0" help:"RO cros_fwid (EC_CMD_GET_VERSION v1, at most 31 bytes)."`
	FWIDRW       string `name:"fwid-rw" default:"sim_15000.0.0" help:"RW cros_fwid (EC_CMD_GET_VERSION v1, at most 31 bytes)."`
	Image        string `name:"image" default:"rw" enum:"ro,rw" help:"Image the simulated EC runs (${enum})."`
	BuildInfo    string `name:"build-info" default:"sim_v2.0.1234-abcdef sim 2026-11-24 12:00:00 ec_exporter@ecsim" help:"Build string (EC_CMD_GET_BUILD_INFO, at most 243 bytes)."`
	ChipVendor   string `name:"chip-vendor" default:"ec_exporter" help:"Chip vendor (EC_CMD_GET_CHIP_INFO, at most 31 bytes)."`
	ChipName     string `name:"chip-name" default:"ecsim" help:"Chip name (EC_CMD_GET_CHIP_INFO, at most 31 bytes)."`
	ChipRevision string `name:"chip-revision" default:"1" help:"Chip revision (EC_CMD_GET_CHIP_INFO, at most 31 bytes)."`
	BoardVersion uint16 `name:"board-version" default:"1" help:"Board version (EC_CMD_GET_BOARD_VERSION, 0-65535)."`
}

// apply writes the identity flags into c.Identity (features keep the simulator's defaults).
func (f SimIdentityFlags) apply(c *ecsim.Config) {
	id := &c.Identity
	id.VersionRO, id.VersionRW = f.VersionRO, f.VersionRW
	id.CrosFWIDRO, id.CrosFWIDRW = f.FWIDRO, f.FWIDRW
	id.Image = 2 // EC_IMAGE_RW
	if f.Image == "ro" {
		id.Image = 1 // EC_IMAGE_RO
	}
	id.BuildInfo = f.BuildInfo
	id.ChipVendor, id.ChipName, id.ChipRevision = f.ChipVendor, f.ChipName, f.ChipRevision
	id.BoardVersion = f.BoardVersion
}

// validate reports identity strings that do not fit the firmware's answer, each naming its flag.
func (f SimIdentityFlags) validate() error {
	var errs []error
	for _, s := range []struct {
		flag string
		v    string
		max  int
	}{
		{"--sim.identity.version-ro", f.VersionRO, simVersionLen}, {"--sim.identity.version-rw", f.VersionRW, simVersionLen},
		{"--sim.identity.fwid-ro", f.FWIDRO, simVersionLen}, {"--sim.identity.fwid-rw", f.FWIDRW, simVersionLen},
		{"--sim.identity.build-info", f.BuildInfo, simBuildInfoLen},
		{"--sim.identity.chip-vendor", f.ChipVendor, simChipLen}, {"--sim.identity.chip-name", f.ChipName, simChipLen},
		{"--sim.identity.chip-revision", f.ChipRevision, simChipLen},
	} {
		if len(s.v) > s.max {
			errs = append(errs, fmt.Errorf("%s is %d bytes; the EC's field holds at most %d: shorten it", s.flag, len(s.v), s.max))
		}
		for _, b := range []byte(s.v) {
			if b == 0 || b >= 0x80 || b < 0x20 {
				errs = append(errs, fmt.Errorf("%s must be printable ASCII (the EC sends a NUL-terminated C string), got %q", s.flag, s.v))
				break
			}
		}
	}
	return errors.Join(errs...)
}
