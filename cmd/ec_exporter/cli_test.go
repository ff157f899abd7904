package main

import (
	"testing"

	"github.com/alecthomas/kong"
)

// parseCLI parses a command line with the real CLI and its options (defaults, env vars
// and ${vars} included), as main does.
func parseCLI(t testing.TB, args ...string) (*CLI, *kong.Context, error) {
	t.Helper()
	var cli CLI
	p, err := kong.New(&cli, append(kongOptions(), kong.Exit(func(int) { t.Fatal("kong exited") }))...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := p.Parse(args)
	return &cli, ctx, err
}

// mustParse is parseCLI for a command line that must parse.
func mustParse(t testing.TB, args ...string) *CLI {
	t.Helper()
	cli, _, err := parseCLI(t, args...)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return cli
}
