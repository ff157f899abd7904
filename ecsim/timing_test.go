package ecsim_test

import (
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
	"github.com/ec-exporter/ec_exporter/ecspi"
)

// TestTimingModels pins the two readings of "the EC drops slow transfers" with the
// firmware's real budgets (8192 µs per receive stage, 8 ms from CS assertion):
// a command that the EC processes for 20 ms is answered under the firmware-code model
// (chip/stm32/spi.c times nothing while processing) and lost under the kernel-commit
// model; a request stalled 9 ms mid-reception is RX_BAD_DATA under both.
func TestTimingModels(t *testing.T) {
	for _, tc := range []struct {
		timing     ecsim.Timing
		slowAnswer ec.Cause // 20 ms of processing
	}{
		{ecsim.TimingFirmware, ec.CauseNone},
		{ecsim.TimingKernelCommit, ec.CauseTimeout},
	} {
		t.Run(tc.timing.String(), func(t *testing.T) {
			cfg := instant()
			cfg.Timing = tc.timing
			e := ecsim.New(cfg)
			tr, err := ecspi.New(e, ecspi.Config{Deadline: 60 * time.Millisecond})
			if err != nil {
				t.Fatalf("ecspi.New: %v", err)
			}
			e.SetFaults(ecsim.Faults{Late: ecsim.Fault{Every: 1}, LateBy: 20 * time.Millisecond})
			m := helloMsg()
			_, err = tr.Xfer(m)
			if got := ec.CauseOf(err); got != tc.slowAnswer {
				t.Errorf("20 ms of processing: cause %v (%v), want %v", got, err, tc.slowAnswer)
			}
			if tc.slowAnswer == ec.CauseNone && m.Result != ec.ResSuccess {
				t.Errorf("20 ms of processing: result %v", m.Result)
			}

			e2 := ecsim.New(cfg)
			hello := req(0x0001, 0, 1, 2, 3, 4)
			run(t, e2, []step{
				{w: hello[:4], n: 4, keep: true, want: receiving(4)},
				{gap: 9 * time.Millisecond, w: hello[4:], n: 8, want: rep(ecsim.RxBadData, 8)},
			})
		})
	}
}

func TestParseTiming(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ecsim.Timing
		ok   bool
	}{{"firmware", ecsim.TimingFirmware, true}, {"kernel-commit", ecsim.TimingKernelCommit, true}, {"", ecsim.TimingKernelCommit, true}, {"strict", ecsim.TimingKernelCommit, false}} {
		got, ok := ecsim.ParseTiming(tc.in)
		if got != tc.want || ok != tc.ok || (ok && tc.in != "" && got.String() != tc.in) {
			t.Errorf("ParseTiming(%q) = %v, %v", tc.in, got, ok)
		}
	}
	if ecsim.DefaultConfig().Timing != ecsim.TimingKernelCommit {
		t.Error("default timing is not kernel-commit (docs/benchmarks.md and --sim.timing say it is)")
	}
}
