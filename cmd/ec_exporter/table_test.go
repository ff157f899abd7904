package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ec-exporter/ec_exporter/collector"
	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/internal/testkit"
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

	s, err := parseServe(t, robustSim...)
	if err != nil {
		t.Fatal(err)
	}
	targets, err := s.Conn.targets()
	if err != nil {
		t.Fatal(err)
	}
	sched := &testkit.Sched{}
	p, err := prober.New(prober.Config{Interval: time.Second, Timeout: 500 * time.Millisecond, IdentityInterval: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, sched)
	if err != nil {
		t.Fatal(err)
	}
	p.Add(targets[0].label, targets[0].open)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sched.Drain(time.Now(), 0) // open and the identity refresh
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
