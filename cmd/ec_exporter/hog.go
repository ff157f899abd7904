package main

import (
	"os"

	"github.com/ec-exporter/ec_exporter/load"
)

// init turns this process into a load child (CPU hog or IO flood) when the
// stress command started it: load.Start re-executes /proc/self/exe with
// load.ChildEnv set and "__hog cpu|io ..." as arguments. Doing it here, before
// kong parses anything, keeps the hidden mode out of the CLI and out of
// --help, and works in test binaries of this package too.
func init() {
	if load.IsChild() {
		os.Exit(load.ChildMain(os.Args[1:]))
	}
}
