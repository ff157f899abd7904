package rt

import (
	"strings"
	"testing"
)

func TestQuietestCPU(t *testing.T) {
	const vm = `           CPU0       CPU1       
 24:          1          0  IO-APIC   5-edge      ACPI:Ged
 36:          0    9406759  PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0
 32:        771          0  PCI-MSIX-0000:00:01.0   4-edge      virtio0-reporting_vq
NMI:          0          0   Non-maskable interrupts
LOC:   34483418   28817736   Local timer interrupts
RES:    8099933    1026535   Rescheduling interrupts
`
	const even = `           CPU0       CPU1       CPU2       CPU3
  1:         10         10         10         10  GICv3  27 Level  arch_timer
 LOC:       500        400        300        200  Local timer interrupts
`
	const arm = `           CPU0       CPU1       CPU2       CPU3
 11:     123456          0          0          0  GICv3  30 Level  arch_timer
 62:       9000          0          0          0  GICv3  68 Level  spi-rockchip
 63:          0         50          0          0  GICv3  69 Level  mmc0
`
	const offline = `           CPU0       CPU2
 36:        100          5  PCI-MSI  virtio
`
	for _, tc := range []struct {
		name    string
		text    string
		allowed []int
		want    int
	}{
		{"block IRQs on CPU 1 (this VM)", vm, []int{0, 1}, 0},
		{"per-CPU lines do not count, ties go last", even, []int{0, 1, 2, 3}, 3},
		{"all on CPU 0, two quiet CPUs: the last", arm, []int{0, 1, 2, 3}, 3},
		{"only some CPUs allowed", arm, []int{0, 1}, 1},
		{"CPU 1 offline (no column): skipped", offline, []int{0, 1, 2}, 2},
		{"no column for the last CPU, others counted", offline, []int{0, 2, 5}, 2},
	} {
		got, err := quietestCPU(tc.allowed, strings.NewReader(tc.text))
		if err != nil || got != tc.want {
			t.Errorf("%s: quietestCPU(%v) = %d, %v; want %d", tc.name, tc.allowed, got, err, tc.want)
		}
	}
	if _, err := quietestCPU([]int{0, 1}, strings.NewReader("")); err == nil {
		t.Error("empty /proc/interrupts accepted")
	}
	if _, err := quietestCPU([]int{0, 1}, strings.NewReader("garbage here\n")); err == nil {
		t.Error("a header without CPUs accepted")
	}
}
