package main

import (
	"errors"
	"log/slog"
)

// ProbeCmd is a placeholder until its owner lands it.
type ProbeCmd struct{}

// Run is not implemented yet.
func (ProbeCmd) Run(logger *slog.Logger) error { return errors.New("probe: not implemented yet") }
