// Package kthread finds the kernel threads that carry cros_ec SPI traffic and reads
// their scheduling policy from /proc: the cros_ec_spi high-priority worker and the
// SPI controller's message pump of each bound cros-ec-spi device.
//
// Sources: drivers/platform/chrome/cros_ec_spi.c cros_ec_spi_devm_high_pri_alloc
// creates kthread_create_worker(0, "cros_ec_spi_high_pri") (kthread_run_worker in
// newer trees), one per device, at SCHED_FIFO MAX_RT_PRIO-1 (99) originally and
// sched_set_fifo() (50) now. Its comm is cut to 15 bytes (TASK_COMM_LEN 16):
// "cros_ec_spi_hig". The companion patch sets spi->rt, and drivers/spi/spi.c
// spi_init_queue names the pump kthread_create_worker(0, dev_name(&ctlr->dev)),
// e.g. "spi2", made SCHED_FIFO by spi_set_thread_rt. /proc/PID/stat (fs/proc/array.c
// do_task_stat): field 9 flags (PF_KTHREAD 0x00200000), 40 rt_priority, 41 policy.
package kthread

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// WorkerName is the cros_ec_spi worker's name; WorkerComm is how /proc shows it.
const (
	WorkerName = "cros_ec_spi_high_pri"
	WorkerComm = "cros_ec_spi_hig"
	// Driver is the SPI driver whose bound devices are scanned.
	Driver = "cros-ec-spi"
	// pfKthread is PF_KTHREAD in the task flags (include/linux/sched.h).
	pfKthread = 0x00200000
)

// ErrHidden is returned by Scan when /proc shows no kernel threads at all (mounted
// with hidepid=invisible, or systemd's ProtectProc=invisible for a non-root user).
var ErrHidden = errors.New("kthread: kernel threads are hidden in /proc (hidepid, or ProtectProc=invisible)")

// Thread is a kernel thread as /proc/PID/stat shows it.
type Thread struct {
	PID      int
	Comm     string
	Kernel   bool   // PF_KTHREAD set
	Policy   string // other, fifo, rr, batch, idle, deadline, or the number
	Priority int    // rt_priority: 1..99 for fifo/rr, 0 otherwise
}

// RealTime reports whether the thread runs at a real-time policy.
func (t Thread) RealTime() bool {
	return t.Policy == "fifo" || t.Policy == "rr" || t.Policy == "deadline"
}

// Device is one bound cros-ec-spi device and its two threads.
type Device struct {
	Name        string // the SPI device, e.g. "spi2.0"
	Controller  string // its controller, e.g. "spi2": the pump thread's name
	Worker      Thread
	WorkerFound bool
	Pump        Thread
	PumpFound   bool
}

var policyNames = map[int]string{0: "other", 1: "fifo", 2: "rr", 3: "batch", 5: "idle", 6: "deadline"}

// ParseStat parses the text of /proc/PID/stat.
func ParseStat(b []byte) (Thread, error) {
	var t Thread
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return t, errors.New("kthread: stat: no (comm)")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return t, fmt.Errorf("kthread: stat: pid: %w", err)
	}
	f := strings.Fields(string(b[end+1:])) // f[0] is field 3 (state)
	field := func(n int) (uint64, error) {
		if n-3 >= len(f) {
			return 0, fmt.Errorf("kthread: stat: %d fields, want at least %d", len(f)+2, n)
		}
		v, err := strconv.ParseUint(f[n-3], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("kthread: stat: field %d: %w", n, err)
		}
		return v, nil
	}
	flags, err := field(9)
	if err != nil {
		return t, err
	}
	prio, err := field(40)
	if err != nil {
		return t, err
	}
	pol, err := field(41)
	if err != nil {
		return t, err
	}
	t.PID, t.Comm, t.Kernel, t.Priority = pid, string(b[open+1:end]), flags&pfKthread != 0, int(prio)
	if name, ok := policyNames[int(pol)]; ok {
		t.Policy = name
	} else {
		t.Policy = strconv.FormatUint(pol, 10)
	}
	return t, nil
}

// KernelThreads returns the kernel threads under procRoot (a /proc) whose comm is
// in names, by comm, sorted by PID. User threads with the same name never count.
func KernelThreads(procRoot string, names map[string]bool) (map[string][]Thread, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, fmt.Errorf("kthread: %w", err)
	}
	out := map[string][]Thread{}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(procRoot, e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		t, err := ParseStat(b)
		if err != nil || !t.Kernel || !names[t.Comm] {
			continue
		}
		out[t.Comm] = append(out[t.Comm], t)
	}
	for _, ts := range out {
		sort.Slice(ts, func(i, j int) bool { return ts[i].PID < ts[j].PID })
	}
	return out, nil
}

// SPIDevices returns the devices bound to cros-ec-spi under sysRoot (a /sys), with
// their controller, sorted by name; none when the driver is not there.
func SPIDevices(sysRoot string) ([]Device, error) {
	dir := filepath.Join(sysRoot, "bus", "spi", "drivers", Driver)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kthread: %w", err)
	}
	var devs []Device
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "spi") {
			continue // bind, unbind, uevent, module
		}
		devs = append(devs, Device{Name: name, Controller: controller(filepath.Join(dir, name), name)})
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].Name < devs[j].Name })
	return devs, nil
}

// controller names the SPI controller of a device: the parent directory of the
// device in /sys/devices (…/spi_master/spi2/spi2.0), else N of a "spiN.M" name.
func controller(link, name string) string {
	if real, err := filepath.EvalSymlinks(link); err == nil {
		if p := filepath.Base(filepath.Dir(real)); strings.HasPrefix(p, "spi") && real != link {
			return p
		}
	}
	if bus, _, ok := strings.Cut(strings.TrimPrefix(name, "spi"), "."); ok {
		if _, err := strconv.Atoi(bus); err == nil {
			return "spi" + bus
		}
	}
	return ""
}

// Scan finds every bound cros-ec-spi device and its worker and pump threads.
// Workers all carry the same name, so the n-th worker by PID goes with the n-th
// device by name (they are created in probe order; their policies are the same).
func Scan(procRoot, sysRoot string) ([]Device, error) {
	devs, err := SPIDevices(sysRoot)
	if err != nil || len(devs) == 0 {
		return nil, err
	}
	names := map[string]bool{WorkerName: true, WorkerComm: true, "kthreadd": true}
	for _, d := range devs {
		if d.Controller != "" {
			names[d.Controller] = true
		}
	}
	threads, err := KernelThreads(procRoot, names)
	if err != nil {
		return nil, err
	}
	if len(threads["kthreadd"]) == 0 {
		// kthreadd (pid 2) always runs: not seeing it means /proc hides other users'
		// processes, and a missing worker would be a false alarm.
		return nil, fmt.Errorf("%w: no kthreadd in %s", ErrHidden, procRoot)
	}
	workers := append(threads[WorkerComm], threads[WorkerName]...)
	sort.Slice(workers, func(i, j int) bool { return workers[i].PID < workers[j].PID })
	for i := range devs {
		if i < len(workers) {
			devs[i].Worker, devs[i].WorkerFound = workers[i], true
		}
		if p := threads[devs[i].Controller]; len(p) > 0 {
			devs[i].Pump, devs[i].PumpFound = p[0], true
		}
	}
	return devs, nil
}
