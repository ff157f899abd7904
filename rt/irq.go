package rt

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// WorkerCPU is the CPU ConfineRuntime gives the worker when Config.CPUs is empty: of allowed
// (ascending, at least two), the one that has served the fewest device interrupts since boot
// (/proc/interrupts), or the last one where that cannot be read.
func WorkerCPU(allowed []int) int {
	last := allowed[len(allowed)-1]
	f, err := os.Open("/proc/interrupts")
	if err != nil {
		return last
	}
	defer f.Close()
	c, err := quietestCPU(allowed, f)
	if err != nil {
		return last
	}
	return c
}

// quietestCPU returns the CPU of allowed (ascending, non-empty) that has served the fewest
// device interrupts, as counted in interrupts (the text of /proc/interrupts): the numbered
// IRQ lines only, not the per-CPU ones (LOC, RES, CAL, TLB, …) that every CPU takes. Ties, and
// CPUs the file has no column for, go to the highest-numbered CPU, the old default.
//
// A real-time thread pinned where a device's interrupts land waits for their handlers and the
// softirqs they raise (on this project's 2-vCPU VM every block-device interrupt goes to CPU 1;
// under disk load the confined worker there woke up to 1.45 × later than cyclictest at p99, on
// CPU 0 within 1.2 ×: docs/benchmarks.md §1′).
func quietestCPU(allowed []int, interrupts io.Reader) (int, error) {
	sc := bufio.NewScanner(interrupts)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	if !sc.Scan() {
		return 0, fmt.Errorf("rt: /proc/interrupts: empty")
	}
	var cols []int // CPU number of each count column
	for _, h := range strings.Fields(sc.Text()) {
		n, err := strconv.Atoi(strings.TrimPrefix(h, "CPU"))
		if err != nil || !strings.HasPrefix(h, "CPU") {
			return 0, fmt.Errorf("rt: /proc/interrupts: header %q is not a CPU list", sc.Text())
		}
		cols = append(cols, n)
	}
	sum := map[int]uint64{}
	for sc.Scan() {
		irq, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if _, err := strconv.Atoi(strings.TrimSpace(irq)); err != nil {
			continue // LOC, RES, NMI, ERR, …: every CPU's own, not a device's
		}
		f := strings.Fields(rest)
		for i := 0; i < len(cols) && i < len(f); i++ {
			n, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil {
				break // the chip and name columns
			}
			sum[cols[i]] += n
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("rt: /proc/interrupts: %w", err)
	}
	known := map[int]bool{}
	for _, c := range cols {
		known[c] = true
	}
	best := allowed[len(allowed)-1]
	for i := len(allowed) - 2; i >= 0; i-- {
		c := allowed[i]
		if known[c] && (!known[best] || sum[c] < sum[best]) {
			best = c
		}
	}
	return best, nil
}
