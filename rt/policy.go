package rt

import (
	"fmt"
	"strconv"
	"strings"
)

// Policy is a Linux scheduling policy for the worker thread; the values equal the kernel's.
type Policy int

// Scheduling policies the worker supports.
const (
	Other Policy = 0 // SCHED_OTHER (SCHED_NORMAL), the fair scheduler; Config.Nice applies
	FIFO  Policy = 1 // SCHED_FIFO, real time, run until blocked or preempted by a higher priority
	RR    Policy = 2 // SCHED_RR, real time, round robin among equal priorities
)

// DefaultPriority is the real-time priority used when Config.Priority is 0: the kernel's
// sched_set_fifo() value (MAX_RT_PRIO/2), which cros_ec_spi's worker and the SPI message pump get.
const DefaultPriority = 50

// String returns "other", "fifo" or "rr" (or "policy(N)" for a value the package does not know).
func (p Policy) String() string {
	switch p {
	case Other:
		return "other"
	case FIFO:
		return "fifo"
	case RR:
		return "rr"
	}
	return "policy(" + strconv.Itoa(int(p)) + ")"
}

// RealTime reports whether p is a real-time policy (FIFO or RR).
func (p Policy) RealTime() bool { return p == FIFO || p == RR }

// ParsePolicy parses "fifo", "rr" or "other" (also "normal"; case-insensitive).
func ParsePolicy(s string) (Policy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "other", "normal":
		return Other, nil
	case "fifo":
		return FIFO, nil
	case "rr":
		return RR, nil
	}
	return 0, fmt.Errorf("rt: unknown scheduling policy %q: use fifo, rr or other", s)
}

// MaxCPU bounds CPU numbers accepted in a CPU list (the size of unix.CPUSet).
const MaxCPU = 1024

// ParseCPUList parses a Linux CPU list such as "0", "0,2-3" or "" (empty = nil, all CPUs).
// The result is sorted and without duplicates.
func ParseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var seen [MaxCPU]bool
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseCPU(lo, s)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parseCPU(hi, s); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("rt: CPU list %q: range %q is backwards: write it low-high, e.g. 2-3", s, part)
			}
		}
		for c := a; c <= b; c++ {
			seen[c] = true
		}
	}
	var cpus []int
	for c, ok := range seen {
		if ok {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

func parseCPU(f, list string) (int, error) {
	f = strings.TrimSpace(f)
	n, err := strconv.Atoi(f)
	if err != nil || n < 0 || n >= MaxCPU {
		return 0, fmt.Errorf("rt: CPU list %q: %q is not a CPU number 0-%d: use a list like 0,2-3", list, f, MaxCPU-1)
	}
	return n, nil
}

// FormatCPUList formats CPUs as a compact Linux CPU list ("0,2-3"), the inverse of ParseCPUList.
func FormatCPUList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}
