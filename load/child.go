package load

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// IsChild reports whether this process was started by Start as a load process.
func IsChild() bool {
	return os.Getenv(ChildEnv) == "1" && len(os.Args) > 1 && os.Args[1] == ChildArg
}

// ChildMain runs the load process described by args (os.Args[1:] of a process
// for which IsChild is true) and returns its exit status. It returns only on
// error or when the child's lifetime is over; normally the parent kills it.
func ChildMain(args []string) int {
	if len(args) < 2 || args[0] != ChildArg {
		fmt.Fprintf(os.Stderr, "load child: usage: %s cpu|io [flags]\n", ChildArg)
		return 2
	}
	ready := os.NewFile(3, "ready")
	var err error
	switch args[1] {
	case "cpu":
		err = cpuChild(args[2:], ready)
	case "io":
		err = ioChild(args[2:], ready)
	default:
		err = fmt.Errorf("unknown load %q (want cpu or io)", args[1])
	}
	if err != nil {
		if ready != nil {
			fmt.Fprintf(ready, "error %v\n", err)
		}
		fmt.Fprintf(os.Stderr, "load child: %v\n", err)
		return 1
	}
	return 0
}

// setAffinity sets the calling thread's CPU affinity.
func setAffinity(mask *[128]uint64) error {
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, 0, uintptr(len(mask)*8), uintptr(unsafe.Pointer(&mask[0])))
	if errno != 0 {
		return errno
	}
	return nil
}

// awaitStart blocks until the parent closes our stdin: every load process is
// ready (or the parent is gone).
func awaitStart() { _, _ = io.Copy(io.Discard, os.Stdin) }

// guard ends a child whose parent is gone or whose lifetime is over.
type guard struct {
	ppid  int
	until int64 // unix ns, 0 = never
}

func (g guard) over() bool {
	if os.Getppid() != g.ppid {
		return true
	}
	return g.until != 0 && time.Now().UnixNano() > g.until
}

// setNice sets the nice value of the calling thread (Linux: nice is per thread;
// a child starts with the nice of the thread that forked it, so set it always)
// and says what it obtained.
func setNice(nice int) string {
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, 0, nice); err != nil {
		return fmt.Sprintf("nice=0 warning=setpriority(%d):%v", nice, err)
	}
	return "nice=" + strconv.Itoa(nice)
}

func cpuChild(args []string, ready io.WriteCloser) error {
	fs := flag.NewFlagSet("cpu", flag.ContinueOnError)
	cpu := fs.Int("cpu", -1, "CPU to run on (-1 = any)")
	nice := fs.Int("nice", -20, "nice value")
	until := fs.Int64("until", 0, "exit after this unix time in ns")
	if err := fs.Parse(args); err != nil {
		return err
	}
	g := guard{ppid: os.Getppid(), until: *until}
	// The spinning goroutine owns this thread, so the thread's nice and
	// affinity are the hog's. It is never unlocked.
	runtime.LockOSThread()
	info := "cpu=any"
	if *cpu >= 0 {
		var mask [128]uint64
		if *cpu >= len(mask)*64 {
			return fmt.Errorf("cpu %d out of range", *cpu)
		}
		mask[*cpu/64] = 1 << (*cpu % 64)
		if err := setAffinity(&mask); err != nil {
			return fmt.Errorf("sched_setaffinity cpu %d: %w", *cpu, err)
		}
		info = "cpu=" + strconv.Itoa(*cpu)
	}
	info += " " + setNice(*nice)
	if ready != nil {
		fmt.Fprintf(ready, "ready %s\n", info)
		_ = ready.Close()
	}
	awaitStart()
	var x uint64 = 1
	for {
		for i := 0; i < 1<<22; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		runtime.KeepAlive(x)
		if g.over() {
			return nil
		}
	}
}

func ioChild(args []string, ready io.WriteCloser) error {
	fs := flag.NewFlagSet("io", flag.ContinueOnError)
	dir := fs.String("dir", os.TempDir(), "directory of the flood file")
	size := fs.Int64("size", 256<<20, "bytes before truncating")
	block := fs.Int("block", 1<<20, "bytes per write+fsync")
	nice := fs.Int("nice", 0, "nice value")
	until := fs.Int64("until", 0, "exit after this unix time in ns")
	cpus := fs.String("cpus", "", "comma-separated CPUs the flood may use (empty = inherited)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpus != "" { // the forking thread's affinity may have been narrowed
		var mask [128]uint64
		for _, f := range strings.Split(*cpus, ",") {
			c, err := strconv.Atoi(f)
			if err != nil || c < 0 || c >= maxCPU {
				return fmt.Errorf("bad -cpus %q", *cpus)
			}
			mask[c/64] |= 1 << (c % 64)
		}
		if err := setAffinity(&mask); err != nil {
			return fmt.Errorf("sched_setaffinity %s: %w", *cpus, err)
		}
	}
	if *block <= 0 || *size < int64(*block) {
		return fmt.Errorf("bad sizes: block %d, size %d", *block, *size)
	}
	g := guard{ppid: os.Getppid(), until: *until}
	runtime.LockOSThread()
	info := setNice(*nice)
	f, err := os.CreateTemp(*dir, "ec_exporter-ioflood-*")
	if err != nil {
		return fmt.Errorf("create flood file: %w", err)
	}
	// Unlinked at once: the blocks are freed when this process ends, however it ends.
	if err := os.Remove(f.Name()); err != nil {
		_ = f.Close()
		return fmt.Errorf("unlink flood file: %w", err)
	}
	defer f.Close()
	buf := make([]byte, *block)
	x := uint64(os.Getpid()) | 1
	for i := range buf { // incompressible, so no layer can skip the writes
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		buf[i] = byte(x)
	}
	if ready != nil {
		fmt.Fprintf(ready, "ready dir=%s block=%d size=%d %s\n", *dir, *block, *size, info)
		_ = ready.Close()
	}
	awaitStart()
	var written int64
	for !g.over() {
		if _, err := f.Write(buf); err != nil {
			return fmt.Errorf("write flood file in %s: %w", *dir, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync flood file in %s: %w", *dir, err)
		}
		written += int64(len(buf))
		if written+int64(len(buf)) > *size {
			if err := f.Truncate(0); err != nil {
				return fmt.Errorf("truncate flood file: %w", err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("rewind flood file: %w", err)
			}
			written = 0
		}
	}
	return nil
}
