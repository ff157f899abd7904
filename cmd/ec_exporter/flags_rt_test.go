package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/rt"
)

func TestRTFlagsConfig(t *testing.T) {
	def := RTFlags{Policy: "fifo", Priority: 50, CPUs: "", Mlock: true, Wakeup: 10 * time.Millisecond}
	tests := []struct {
		name    string
		edit    func(*RTFlags)
		check   func(rt.Config) bool
		wantErr string
	}{
		{"defaults", func(*RTFlags) {}, func(c rt.Config) bool {
			return c.Policy == rt.FIFO && c.Priority == 50 && c.CPUs == nil && c.Mlock && c.WakeupInterval == 10*time.Millisecond
		}, ""},
		{"cpu list", func(f *RTFlags) { f.CPUs = "0,2-3" }, func(c rt.Config) bool { return slices.Equal(c.CPUs, []int{0, 2, 3}) }, ""},
		{"other drops priority", func(f *RTFlags) { f.Policy = "other"; f.Nice = -5 }, func(c rt.Config) bool {
			return c.Policy == rt.Other && c.Priority == 0 && c.Nice == -5
		}, ""},
		{"rr", func(f *RTFlags) { f.Policy = "rr"; f.Priority = 99 }, func(c rt.Config) bool { return c.Policy == rt.RR && c.Priority == 99 }, ""},
		{"bad cpu list", func(f *RTFlags) { f.CPUs = "0,x" }, nil, "--rt.cpus"},
		{"backwards range", func(f *RTFlags) { f.CPUs = "3-1" }, nil, "backwards"},
		{"bad policy", func(f *RTFlags) { f.Policy = "deadline" }, nil, "--rt.policy"},
		{"priority 0", func(f *RTFlags) { f.Priority = 0 }, nil, "use 1-99"},
		{"priority 100", func(f *RTFlags) { f.Priority = 100 }, nil, "use 1-99"},
		{"nice", func(f *RTFlags) { f.Nice = 25 }, nil, "-20..19"},
		{"confine", func(f *RTFlags) { f.Confine = true; f.RTNice = -20 }, func(c rt.Config) bool { return c.ConfineRuntime && c.RuntimeNice == -20 }, ""},
		{"runtime nice", func(f *RTFlags) { f.RTNice = -21 }, nil, "--rt.runtime-nice"},
		{"negative wakeup", func(f *RTFlags) { f.Wakeup = -time.Second }, nil, "wakeup-interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := def
			tt.edit(&f)
			c, err := f.Config(nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Config() err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(c) {
				t.Fatalf("Config() = %+v, %v", c, err)
			}
		})
	}
}
