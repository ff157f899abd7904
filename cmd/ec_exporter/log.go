package main

import (
	"errors"
	"log/slog"
	"os"

	"github.com/prometheus/common/promslog"
)

func newLogger(f LogFlags) *slog.Logger {
	cfg := &promslog.Config{Level: promslog.NewLevel(), Format: promslog.NewFormat(), Writer: os.Stderr}
	_ = cfg.Level.Set(f.Level)
	_ = cfg.Format.Set(f.Format)
	return promslog.New(cfg)
}

// exitError carries a specific process exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return 1
}
