// Command ec_exporter probes a ChromeOS Embedded Controller from a real-time
// worker thread and serves what it measures to Prometheus.
package main

import (
	"fmt"
	"os"

	"github.com/alecthomas/kong"
	"github.com/prometheus/common/version"
)

// CLI is the whole command line; each subcommand lives in its own file.
type CLI struct {
	Log         LogFlags         `embed:"" prefix:"log."`
	ShowVersion kong.VersionFlag `name:"version" help:"Print version and build information, then exit."`

	Serve   ServeCmd   `cmd:"" default:"withargs" help:"Probe the EC in the background and serve metrics (default)."`
	Probe   ProbeCmd   `cmd:"" help:"Run each read-only host command once and print what the EC says, like ectool."`
	Stress  StressCmd  `cmd:"" help:"Reproduce the starvation experiment: EC transfers under CPU and IO load, per scheduling policy."`
	Version VersionCmd `cmd:"" help:"Print version and build information."`
}

// LogFlags configure the logger.
type LogFlags struct {
	Level  string `default:"info" enum:"debug,info,warn,error" help:"Only log messages with the given severity or above (${enum})."`
	Format string `default:"logfmt" enum:"logfmt,json" help:"Output format of log messages (${enum})."`
}

// VersionCmd prints version information.
type VersionCmd struct{}

// Run prints the version.
func (VersionCmd) Run() error {
	fmt.Println(version.Print("ec_exporter"))
	return nil
}

// devVersion names builds made without release ldflags (-X .../common/version.Version=...).
const devVersion = "0.1.0-dev"

// kongOptions configure the parser; tests parse with the same options.
func kongOptions() []kong.Option {
	return []kong.Option{
		kong.Name("ec_exporter"),
		kong.Description("Prometheus exporter for ChromeOS EC communication health: host commands over /dev/cros_ec, spidev or a simulated EC, run from a SCHED_FIFO worker thread."),
		kong.DefaultEnvars("EC_EXPORTER"),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"transports": transportNames(), "version": version.Print("ec_exporter")},
	}
}

// exitUsage is the exit status of a command line (or environment) the parser refuses.
const exitUsage = 2

func main() {
	if version.Version == "" {
		version.Version = devVersion
	}
	var cli CLI
	parser, err := kong.New(&cli, kongOptions()...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ec_exporter: %v\n", err)
		os.Exit(1)
	}
	ctx, err := parser.Parse(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "ec_exporter: error: %v (see ec_exporter --help)\n", err)
		os.Exit(exitUsage)
	}
	logger := newLogger(cli.Log)
	if err := ctx.Run(logger); err != nil {
		fmt.Fprintf(os.Stderr, "ec_exporter: %v\n", err)
		os.Exit(exitCode(err))
	}
}
