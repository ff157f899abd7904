package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ec-exporter/ec_exporter/rt"
)

// stressPlan is the validated form of the flags.
type stressPlan struct {
	policies []stressPolicy
	cpu, io  bool
	cpus     []int         // the process's CPUs, read once: an rt worker may narrow this thread's affinity later
	worker   int           // rt.WorkerCPU(cpus): the confined worker's CPU, chosen once for every policy
	interval time.Duration // 0 = max
	rate     string
}

func (c *StressCmd) plan() (stressPlan, error) {
	var p stressPlan
	if c.Duration <= 0 {
		return p, fmt.Errorf("stress: --duration must be positive, got %v", c.Duration)
	}
	if c.Settle < 0 {
		return p, fmt.Errorf("stress: --settle must not be negative, got %v", c.Settle)
	}
	if len(c.Policies) == 0 {
		return p, errors.New("stress: --policies is empty: give at least one of other, highpri, fifo, rr")
	}
	for _, s := range c.Policies {
		pol, err := parseStressPolicy(s)
		if err != nil {
			return p, err
		}
		p.policies = append(p.policies, pol)
	}
	for _, l := range c.Load {
		switch strings.ToLower(strings.TrimSpace(l)) {
		case "cpu":
			p.cpu = true
		case "io":
			p.io = true
		case "none", "":
		default:
			return p, fmt.Errorf("stress: --load: unknown load %q: use cpu, io, both (cpu,io) or none", l)
		}
	}
	if p.io && c.LoadIOSize < 1<<20 {
		return p, fmt.Errorf("stress: --load.io-size must be at least 1 MiB, got %d", c.LoadIOSize)
	}
	r := strings.ToLower(strings.TrimSpace(c.Rate))
	p.rate = r
	if r != "max" {
		n, err := strconv.ParseFloat(strings.TrimSuffix(r, "/s"), 64)
		if err != nil || n <= 0 || n > 1e6 {
			return p, fmt.Errorf("stress: --rate %q: use max or a number of commands per second such as 500/s", c.Rate)
		}
		p.interval = time.Duration(float64(time.Second) / n)
		p.rate = strconv.FormatFloat(n, 'f', -1, 64) + "/s"
	}
	if c.VersionEvery < 0 {
		return p, fmt.Errorf("stress: --version-every must be 0 or more, got %d", c.VersionEvery)
	}
	if c.MaxFailureRatio < 0 || c.MaxFailureRatio > 1 {
		return p, fmt.Errorf("stress: --max-failure-ratio must be between 0 and 1, got %v", c.MaxFailureRatio)
	}
	if c.RT.Nice < -20 || c.RT.Nice > 19 || c.LoadCPUNice < -20 || c.LoadCPUNice > 19 {
		return p, errors.New("stress: nice values must be between -20 and 19")
	}
	return p, nil
}

// highpriNice is MIN_NICE, the nice value of the kernel's system_highpri_wq workers
// (kernel/workqueue.c: "kworker/%u:%dH", HIGHPRI_NICE_LEVEL = MIN_NICE) that ran
// cros_ec_spi's transfers before the realtime change, and of dm-crypt's and loop's.
const highpriNice = -20

// stressPolicy is one worker set-up: a scheduling policy, or highpri (SCHED_OTHER at
// nice -20: the seed's kernel before the patch, competing with nice -20 hogs).
type stressPolicy struct {
	policy  rt.Policy
	highpri bool
}

func (p stressPolicy) String() string {
	if p.highpri {
		return "highpri"
	}
	return p.policy.String()
}

func parseStressPolicy(s string) (stressPolicy, error) {
	if strings.EqualFold(strings.TrimSpace(s), "highpri") {
		return stressPolicy{policy: rt.Other, highpri: true}, nil
	}
	pol, err := rt.ParsePolicy(s)
	if err != nil {
		return stressPolicy{}, fmt.Errorf("stress: --policies: %w (or highpri: other at nice -20)", err)
	}
	return stressPolicy{policy: pol}, nil
}
