package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ec-exporter/ec_exporter/collector"
	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/prober"
)

// TestNewCommandIsOneTableEntry adds a command to prober.Commands, and nothing else, and
// finds it in `probe`'s output, in serve's identity refresh and in /metrics.
func TestNewCommandIsOneTableEntry(t *testing.T) {
	saved := prober.Commands
	t.Cleanup(func() { prober.Commands = saved })
	prober.Commands = append(append([]prober.Command{}, saved...), prober.Command{
		Name: "get_features_again", Code: ec.CmdGetFeatures, Class: prober.Identity,
		Run: func(d *ec.Device, a *prober.Answers) error {
			f, err := d.Features()
			a.Features = &f
			return err
		},
		Summary: func(a *prober.Answers) string { return "features seen again: " + strings.Join(a.Features.Names(), ",") },
	})

	var out bytes.Buffer
	if err := parseProbe(t, robustSim...).run(&out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "GET_FEATURES_AGAIN") || !strings.Contains(out.String(), "features seen again: FLASH") {
		t.Errorf("probe output lacks the new command:\n%s", out.String())
	}

	p, _ := simProber(t, robustSim...)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.NewSet(nil, collector.Named{Name: "ec", U: collector.NewEC(p, collector.ECOptions{})}))
	want := `
# HELP cros_ec_commands_total Host commands attempted, including those that failed or were skipped because the worker was busy.
# TYPE cros_ec_commands_total counter
cros_ec_commands_total{command="get_build_info",device="sim"} 1
cros_ec_commands_total{command="get_chip_info",device="sim"} 1
cros_ec_commands_total{command="get_features_again",device="sim"} 1
cros_ec_commands_total{command="get_protocol_info",device="sim"} 1
cros_ec_commands_total{command="get_uptime_info",device="sim"} 1
cros_ec_commands_total{command="get_version",device="sim"} 1
cros_ec_commands_total{command="hello",device="sim"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cros_ec_commands_total"); err != nil {
		t.Fatal(err)
	}
}
