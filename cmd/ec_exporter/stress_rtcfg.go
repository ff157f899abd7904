package main

import (
	"log/slog"

	"github.com/ec-exporter/ec_exporter/rt"
)

// stressRTConfig maps the --rt.* flags to an rt.Config for the stress worker.
// (An adapter until flags_rt.go has RTFlags.Config; the policy is set per run.)
func stressRTConfig(f RTFlags, logger *slog.Logger) (rt.Config, error) {
	p, err := rt.ParsePolicy(f.Policy)
	if err != nil {
		return rt.Config{}, err
	}
	cpus, err := rt.ParseCPUList(f.CPUs)
	if err != nil {
		return rt.Config{}, err
	}
	return rt.Config{Policy: p, Priority: f.Priority, Nice: f.Nice, CPUs: cpus, Mlock: f.Mlock, Required: f.Required,
		WakeupInterval: f.Wakeup, Logger: logger, Name: "ec-stress"}, nil
}
