package main

import (
	"errors"
	"log/slog"
)

// ServeCmd is a placeholder until its owner lands it.
type ServeCmd struct{}

// Run is not implemented yet.
func (ServeCmd) Run(logger *slog.Logger) error { return errors.New("serve: not implemented yet") }
