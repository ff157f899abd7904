package collector

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeKthreadTree writes a /proc and /sys with one cros-ec-spi device (spi2.0),
// its SPI pump at SCHED_FIFO 50 and, if fixed, the worker at SCHED_FIFO 50; plus a
// user process named like the worker.
func fakeKthreadTree(t testing.TB, fixed bool) (proc, sys string) {
	t.Helper()
	root := t.TempDir()
	proc, sys = filepath.Join(root, "proc"), filepath.Join(root, "sys")
	stat := func(pid, comm string, flags, prio, policy string) {
		f := strings.Fields(strings.Repeat("0 ", 52))
		f[0], f[1], f[2], f[8], f[39], f[40] = pid, "("+comm+")", "S", flags, prio, policy
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "stat"), []byte(strings.Join(f, " ")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stat("2", "kthreadd", "2129984", "0", "0")
	stat("310", "spi2", "2129984", "50", "1")
	if fixed {
		stat("311", "cros_ec_spi_hig", "2129984", "50", "1")
	}
	stat("4000", "cros_ec_spi_hig", "4194560", "60", "1") // a user process at SCHED_FIFO
	if err := os.MkdirAll(filepath.Join(sys, "bus", "spi", "drivers", "cros-ec-spi", "spi2.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	return proc, sys
}

func TestKernelThreadsCollector(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fixed bool
		want  string
	}{
		{"fixed kernel", true, `
cros_ec_kernel_worker_info{device="spi2.0",found="true",policy="fifo",priority="50",thread="cros_ec_spi_high_pri"} 1
cros_ec_kernel_worker_info{device="spi2.0",found="true",policy="fifo",priority="50",thread="spi_message_pump"} 1
`},
		{"kernel without the fix", false, `
cros_ec_kernel_worker_info{device="spi2.0",found="false",policy="",priority="",thread="cros_ec_spi_high_pri"} 1
cros_ec_kernel_worker_info{device="spi2.0",found="true",policy="fifo",priority="50",thread="spi_message_pump"} 1
`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proc, sys := fakeKthreadTree(t, tt.fixed)
			k := NewKernelThreads(KernelThreadsOptions{ProcRoot: proc, SysRoot: sys, Logger: slog.New(slog.DiscardHandler)})
			k.Scan()
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(NewSet(nil, Named{Name: "kernel_threads", U: k}))
			want := `
# HELP cros_ec_kernel_spi_devices Devices bound to the cros-ec-spi driver (/sys/bus/spi/drivers/cros-ec-spi).
# TYPE cros_ec_kernel_spi_devices gauge
cros_ec_kernel_spi_devices 1
# HELP cros_ec_kernel_worker_info The kernel threads carrying cros_ec SPI traffic, per bound cros-ec-spi device: the cros_ec_spi_high_pri worker (the real-time fix) and the SPI controller's message pump; found, policy and rt priority as /proc shows them (kernel threads only).
# TYPE cros_ec_kernel_worker_info gauge
` + strings.TrimPrefix(tt.want, "\n") + `# HELP cros_ec_scrape_collector_success 1 if the collector's data was available for this scrape, 0 if not (see the exporter's log).
# TYPE cros_ec_scrape_collector_success gauge
cros_ec_scrape_collector_success{collector="kernel_threads"} 1
`
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "cros_ec_kernel_spi_devices", "cros_ec_kernel_worker_info", "cros_ec_scrape_collector_success"); err != nil {
				t.Fatal(err)
			}
			if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
				t.Fatalf("lint: %v %v", problems, err)
			}
		})
	}
}

func TestKernelThreadsUnavailable(t *testing.T) {
	var logs strings.Builder
	_, sys := fakeKthreadTree(t, true)
	k := NewKernelThreads(KernelThreadsOptions{ProcRoot: filepath.Join(t.TempDir(), "none"), SysRoot: sys, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for i := 0; i < 3; i++ {
		k.Scan()
		if err := k.Update(make(chan prometheus.Metric, 10)); err == nil {
			t.Fatal("no error with /proc missing")
		}
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", n, logs.String())
	}
	// A host without cros-ec-spi: the device count only, 0.
	k = NewKernelThreads(KernelThreadsOptions{ProcRoot: "/proc", SysRoot: t.TempDir()})
	k.Scan()
	if n := testutil.CollectAndCount(NewSet(nil, Named{Name: "kernel_threads", U: k}), "cros_ec_kernel_worker_info", "cros_ec_kernel_spi_devices"); n != 1 {
		t.Fatalf("%d series on a host without cros-ec-spi, want 1", n)
	}
}
