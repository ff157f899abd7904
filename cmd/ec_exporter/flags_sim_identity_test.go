package main

import (
	"strings"
	"testing"

	"github.com/ec-exporter/ec_exporter/ecsim"
)

func TestSimIdentityDefaultsAreTheSimulatorsIdentity(t *testing.T) {
	if got, want := parseSim(t).Identity, ecsim.DefaultIdentity(); got != want {
		t.Fatalf("--sim.identity.* defaults give\n%+v\nwant\n%+v", got, want)
	}
}

func TestSimIdentityFlagsMapEveryField(t *testing.T) {
	id := parseSim(t, "--sim.identity.version-ro=volteer_v2.0.1-ro", "--sim.identity.version-rw=volteer_v2.0.9-rw",
		"--sim.identity.fwid-ro=volteer_15001.0.0", "--sim.identity.fwid-rw=volteer_15002.0.0", "--sim.identity.image=ro",
		"--sim.identity.build-info=volteer_v2.0.9-rw 2026-11-30 builder@host", "--sim.identity.chip-vendor=nuvoton",
		"--sim.identity.chip-name=npcx796fc", "--sim.identity.chip-revision=B", "--sim.identity.board-version=7").Identity
	want := ecsim.DefaultIdentity()
	want.VersionRO, want.VersionRW = "volteer_v2.0.1-ro", "volteer_v2.0.9-rw"
	want.CrosFWIDRO, want.CrosFWIDRW = "volteer_15001.0.0", "volteer_15002.0.0"
	want.Image = 1
	want.BuildInfo = "volteer_v2.0.9-rw 2026-11-30 builder@host"
	want.ChipVendor, want.ChipName, want.ChipRevision = "nuvoton", "npcx796fc", "B"
	want.BoardVersion = 7
	if id != want {
		t.Fatalf("got\n%+v\nwant\n%+v", id, want)
	}
}

// TestSimIdentityRejectsWhatTheECCannotSend: strings longer than the firmware's fixed
// fields (or not printable) are errors naming the flag, not silently truncated.
func TestSimIdentityRejectsWhatTheECCannotSend(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"--sim.identity.version-rw=" + strings.Repeat("v", 32), "--sim.identity.version-rw is 32 bytes"},
		{"--sim.identity.version-ro=" + strings.Repeat("v", 32), "--sim.identity.version-ro"},
		{"--sim.identity.fwid-rw=" + strings.Repeat("f", 40), "--sim.identity.fwid-rw"},
		{"--sim.identity.chip-name=" + strings.Repeat("c", 32), "--sim.identity.chip-name"},
		{"--sim.identity.build-info=" + strings.Repeat("b", 244), "--sim.identity.build-info is 244 bytes"},
		{"--sim.identity.chip-vendor=caf\u00e9", "printable ASCII"},
	} {
		s, err := parseServe(t, "--ec.transport=sim", tc.arg)
		if err != nil {
			t.Fatalf("%s: parse: %v", tc.arg, err)
		}
		err = s.Conn.Sim.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.arg, err, tc.want)
		}
	}
	s, err := parseServe(t, "--ec.transport=sim", "--sim.identity.version-rw="+strings.Repeat("v", 31))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Conn.Sim.validate(); err != nil {
		t.Errorf("31-byte version rejected: %v", err)
	}
}

// TestSimIdentityReachesCrosEcInfo: the identity flags travel through the simulated
// EC's GET_VERSION / GET_BUILD_INFO / GET_CHIP_INFO answers into cros_ec_info.
func TestSimIdentityReachesCrosEcInfo(t *testing.T) {
	reg, _ := simRegistry(t, "--sim.identity.version-rw=fleet_v9.9.9-b", "--sim.identity.version-ro=fleet_v1.0.0-ro",
		"--sim.identity.build-info=fleet_v9.9.9-b build", "--sim.identity.chip-name=npcx9", "--sim.identity.chip-vendor=nuvoton",
		"--sim.identity.chip-revision=C")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"version_rw": "fleet_v9.9.9-b", "version_ro": "fleet_v1.0.0-ro", "build_info": "fleet_v9.9.9-b build",
		"chip_name": "npcx9", "chip_vendor": "nuvoton", "chip_revision": "C", "current_image": "RW"}
	for _, mf := range mfs {
		if mf.GetName() != "cros_ec_info" {
			continue
		}
		got := map[string]string{}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("cros_ec_info %s=%q, want %q (all: %v)", k, got[k], v, got)
			}
		}
		return
	}
	t.Fatal("no cros_ec_info")
}
