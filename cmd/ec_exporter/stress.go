package main

import (
	"errors"
	"log/slog"
)

// StressCmd is a placeholder until its owner lands it.
type StressCmd struct{}

// Run is not implemented yet.
func (StressCmd) Run(logger *slog.Logger) error { return errors.New("stress: not implemented yet") }
