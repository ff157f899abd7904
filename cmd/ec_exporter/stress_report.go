package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
	"github.com/ec-exporter/ec_exporter/load"
	"github.com/ec-exporter/ec_exporter/rt"
)

// stressReport is the result of a stress run; the table and --json are both
// rendered from it.
type stressReport struct {
	Transport    string         `json:"transport"`
	Device       string         `json:"device"`
	Duration     float64        `json:"duration_seconds"` // per policy, as asked
	Rate         string         `json:"rate"`
	VersionEvery int            `json:"version_every"`
	Load         []string       `json:"load"`
	Sim          *simReport     `json:"sim,omitempty"`
	Host         hostReport     `json:"host"`
	Interrupted  bool           `json:"interrupted"`
	Policies     []policyReport `json:"policies"`
}

type simReport struct {
	Clock             int64   `json:"clock_hz"`
	Wire              string  `json:"wire"`
	ProcessingSeconds float64 `json:"processing_seconds"`
	RxBudgetSeconds   float64 `json:"rx_budget_seconds"`
	CSBudgetSeconds   float64 `json:"cs_budget_seconds"`
	Timing            string  `json:"timing"`
}

type hostReport struct {
	Kernel      string `json:"kernel"`
	Preempt     string `json:"preempt,omitempty"`
	PreemptRT   bool   `json:"preempt_rt"`
	RTRuntimeUS int    `json:"sched_rt_runtime_us"`
	CPUs        int    `json:"cpus"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	GoVersion   string `json:"go_version"`
}

// workerReport is what the worker thread actually obtained (read back).
type workerReport struct {
	Policy       string `json:"policy"`
	Priority     int    `json:"priority"`
	Nice         int    `json:"nice"`
	CPUs         string `json:"cpus"`
	MemoryLocked bool   `json:"memory_locked"`
	RealTime     bool   `json:"real_time"`
	TID          int    `json:"tid"`
}

type commandReport struct {
	Transfers uint64 `json:"transfers"`
	Failures  uint64 `json:"failures"`
}

type latencyReport struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
}

type loadReport struct {
	Kind string `json:"kind"`
	PID  int    `json:"pid"`
	Info string `json:"info"`
}

// policyReport is one policy's row set.
type policyReport struct {
	Policy          string                   `json:"policy"`
	Worker          workerReport             `json:"worker"`
	RuntimeThreads  string                   `json:"runtime_threads"` // policy of the process's other threads during the run
	Started         time.Time                `json:"started"`         // wall clock at the start of the measured window (events are relative to it)
	Elapsed         float64                  `json:"elapsed_seconds"`
	Transfers       uint64                   `json:"transfers"`
	Successes       uint64                   `json:"successes"`
	Failures        uint64                   `json:"failures"`
	FailuresByCause map[string]uint64        `json:"failures_by_cause"`
	FailureRatio    float64                  `json:"failure_ratio"`
	Commands        map[string]commandReport `json:"commands"`
	Retries         uint64                   `json:"retries"`
	Dropped         uint64                   `json:"dropped"`
	Missed          uint64                   `json:"missed_deadlines"`
	ScheduleDelay   latencyReport            `json:"schedule_delay_seconds"`
	TransferLatency latencyReport            `json:"transfer_latency_seconds"`
	Load            []loadReport             `json:"load"`
	Events          []eventReport            `json:"events"` // first failures, and up to 32 first commands slower than 8 ms; 64 at most
}

type eventReport struct {
	At      float64 `json:"at_seconds"`
	Command string  `json:"command"`
	Cause   string  `json:"cause"` // "none" for a slow success
	Took    float64 `json:"took_seconds"`
	Delay   float64 `json:"schedule_delay_seconds"`
}

func newLatencyReport(h *latencyHist) latencyReport {
	return latencyReport{
		Count: h.Count(),
		Mean:  h.Mean().Seconds(),
		P50:   h.Quantile(0.5).Seconds(),
		P99:   h.Quantile(0.99).Seconds(),
		P999:  h.Quantile(0.999).Seconds(),
		Max:   h.Max().Seconds(),
	}
}

// newPolicyReport snapshots st; call it after the worker has stopped.
func newPolicyReport(pol rt.Policy, ob rt.Obtained, dropped uint64, elapsed time.Duration, st *policyStats, kids []load.Child) policyReport {
	p := policyReport{
		Policy: pol.String(),
		Worker: workerReport{
			Policy: ob.Policy.String(), Priority: ob.Priority, Nice: ob.Nice, CPUs: rt.FormatCPUList(ob.CPUs),
			MemoryLocked: ob.MemoryLocked, RealTime: ob.RealTime, TID: ob.TID,
		},
		Started:         st.start.UTC().Round(time.Microsecond),
		Elapsed:         elapsed.Seconds(),
		Transfers:       st.transfers.Load(),
		Successes:       st.successes.Load(),
		Failures:        st.failures.Load(),
		FailuresByCause: make(map[string]uint64, len(ec.Causes)),
		Commands:        make(map[string]commandReport, stressCommands),
		Retries:         st.retries.Load(),
		Dropped:         dropped,
		Missed:          st.missed.Load(),
		ScheduleDelay:   newLatencyReport(&st.sched),
		TransferLatency: newLatencyReport(&st.xfer),
		Load:            []loadReport{},
	}
	for _, c := range ec.Causes {
		p.FailuresByCause[c.String()] = st.causes[c].Load()
	}
	for i, name := range stressCommandNames {
		p.Commands[name] = commandReport{Transfers: st.commands[i].Load(), Failures: st.cmdFails[i].Load()}
	}
	if p.Transfers > 0 {
		p.FailureRatio = float64(p.Failures) / float64(p.Transfers)
	}
	p.Events = []eventReport{}
	for _, e := range st.events[:st.nEvents] {
		p.Events = append(p.Events, eventReport{At: e.at.Seconds(), Command: stressCommandNames[e.cmd], Cause: e.cause.String(), Took: e.took.Seconds(), Delay: e.delay.Seconds()})
	}
	for _, k := range kids {
		p.Load = append(p.Load, loadReport{Kind: k.Kind, PID: k.PID, Info: k.Info})
	}
	return p
}

// write renders r as JSON or as a table.
func (r *stressReport) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return r.writeTable(w)
}

// writeFile writes r as JSON to path.
func (r *stressReport) writeFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("stress: --json-file: %w", err)
	}
	if err := r.write(f, true); err != nil {
		_ = f.Close()
		return fmt.Errorf("stress: --json-file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("stress: --json-file %s: %w", path, err)
	}
	return nil
}

// fmtDur prints a duration with 3 significant digits in µs, ms or s.
func fmtDur(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < 10*time.Microsecond:
		return fmt.Sprintf("%.2f µs", sec*1e6)
	case d < 100*time.Microsecond:
		return fmt.Sprintf("%.1f µs", sec*1e6)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", sec*1e6)
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", sec*1e3)
	}
	return fmt.Sprintf("%.2f s", sec)
}

func fmtRatio(r float64) string {
	switch {
	case r == 0:
		return "0 %"
	case r < 1e-4:
		return fmt.Sprintf("%.2g %%", 100*r)
	}
	return fmt.Sprintf("%.3f %%", 100*r)
}

func (r *stressReport) writeTable(w io.Writer) error {
	var b strings.Builder
	per := time.Duration(r.Duration * float64(time.Second))
	fmt.Fprintf(&b, "ec_exporter stress: %s (device %s), %v per policy, rate %s, load %s", r.Transport, r.Device, per, r.Rate, strings.Join(orNone(r.Load), ","))
	if r.VersionEvery > 0 {
		fmt.Fprintf(&b, ", GET_VERSION every %dth command", r.VersionEvery)
	}
	b.WriteString("\n")
	if r.Sim != nil {
		csBudget := "no CS budget"
		if r.Sim.Timing != ecsim.TimingFirmware.String() {
			csBudget = fmt.Sprintf("CS budget %v", secDur(r.Sim.CSBudgetSeconds))
		}
		fmt.Fprintf(&b, "simulated EC: %s timing, %s wire at %d Hz, processing %v, receive budget %v, %s\n", r.Sim.Timing, r.Sim.Wire, r.Sim.Clock,
			secDur(r.Sim.ProcessingSeconds), secDur(r.Sim.RxBudgetSeconds), csBudget)
	}
	preempt := r.Host.Preempt
	if preempt == "" {
		preempt = "unknown"
	}
	if r.Host.PreemptRT {
		preempt += " (PREEMPT_RT)"
	}
	fmt.Fprintf(&b, "host: kernel %s, preempt %s, %d CPUs, GOMAXPROCS %d, sched_rt_runtime_us %d, %s\n",
		r.Host.Kernel, preempt, r.Host.CPUs, r.Host.GOMAXPROCS, r.Host.RTRuntimeUS, r.Host.GoVersion)
	if r.Interrupted {
		b.WriteString("INTERRUPTED: the last policy ran shorter than asked\n")
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}

	var rows [][]string
	row := func(name string, f func(p *policyReport) string) {
		cells := []string{name}
		for i := range r.Policies {
			cells = append(cells, f(&r.Policies[i]))
		}
		rows = append(rows, cells)
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	row("policy", func(p *policyReport) string { return p.Policy })
	row("worker obtained", func(p *policyReport) string {
		if p.Worker.RealTime {
			return fmt.Sprintf("%s prio %d", p.Worker.Policy, p.Worker.Priority)
		}
		return fmt.Sprintf("%s nice %d", p.Worker.Policy, p.Worker.Nice)
	})
	row("runtime threads", func(p *policyReport) string { return p.RuntimeThreads })
	row("memory locked", func(p *policyReport) string { return yesNo(p.Worker.MemoryLocked) })
	row("ran for", func(p *policyReport) string { return secDur(p.Elapsed).Round(time.Millisecond).String() })
	row("transfers", func(p *policyReport) string { return u(p.Transfers) })
	row("successes", func(p *policyReport) string { return u(p.Successes) })
	row("failures", func(p *policyReport) string { return u(p.Failures) })
	for _, c := range ec.Causes {
		name := c.String()
		row("  "+name, func(p *policyReport) string { return u(p.FailuresByCause[name]) })
	}
	row("failure ratio", func(p *policyReport) string { return fmtRatio(p.FailureRatio) })
	row("retries", func(p *policyReport) string { return u(p.Retries) })
	if r.Rate != "max" {
		row("missed deadlines", func(p *policyReport) string { return u(p.Missed) })
	}
	row("schedule delay p50", func(p *policyReport) string { return fmtDur(p.ScheduleDelay.P50) })
	row("schedule delay p99", func(p *policyReport) string { return fmtDur(p.ScheduleDelay.P99) })
	row("schedule delay p99.9", func(p *policyReport) string { return fmtDur(p.ScheduleDelay.P999) })
	row("schedule delay max", func(p *policyReport) string { return fmtDur(p.ScheduleDelay.Max) })
	row("transfer latency p50", func(p *policyReport) string { return fmtDur(p.TransferLatency.P50) })
	row("transfer latency p99", func(p *policyReport) string { return fmtDur(p.TransferLatency.P99) })
	row("transfer latency max", func(p *policyReport) string { return fmtDur(p.TransferLatency.Max) })
	return writeColumns(w, rows)
}

// writeColumns prints rows with the first column left-aligned and the others
// right-aligned, two spaces apart.
func writeColumns(w io.Writer, rows [][]string) error {
	var width []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func secDur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"none"}
	}
	return s
}
