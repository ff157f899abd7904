// Package load generates competing load for the starvation experiment: CPU hogs
// at nice −20 on every core and an fsync'ing IO flood, each a child process.
//
// The hogs are never goroutines of the measuring process: they would hold the
// Go runtime's Ps and distort the very scheduling delays being measured. Like
// dm-crypt's kworkers, they are separate tasks. Start re-executes the running
// program (/proc/self/exe) with an environment marker; the program must call
// ChildMain early (in an init function or TestMain) when IsChild reports true.
//
// Children are put into one process group, get SIGKILL when the thread that
// started them dies (Pdeathsig; that thread lives exactly as long as the Group),
// exit on their own after Config.MaxLifetime, and the IO flood's file is
// unlinked as soon as it is created, so nothing is left behind even after a
// SIGKILL of the parent.
package load

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// ChildEnv is the environment variable that marks a process as a load child.
const ChildEnv = "EC_EXPORTER_INTERNAL_LOAD_CHILD"

// ChildArg is the first argument of a load child's command line (visible in ps).
const ChildArg = "__hog"

// Config says which loads to start.
type Config struct {
	CPU      bool  // one CPU hog per allowed CPU
	CPUs     []int // CPUs to put a hog on, one each, and the CPUs the IO flood may use (nil = AllowedCPUs())
	CPUNice  int   // nice value of the CPU hogs' spinning threads (−20 = the HIGHPRI workqueues' level)
	IO       bool  // one IO flood process
	IODir    string
	IOSize   int64         // bytes written before the flood truncates its file and starts over (0 = 256 MiB)
	IOBlock  int           // bytes per write, each followed by fsync (0 = 1 MiB)
	IONice   int           // nice value of the IO flood
	Exe      string        // program to re-execute ("" = /proc/self/exe)
	ReadyIn  time.Duration // how long a child may take to report ready (0 = 10 s)
	Lifetime time.Duration // children exit on their own after this long, a backstop (0 = never)
	Logger   *slog.Logger  // warnings (e.g. nice not permitted); nil = discard
}

// Child describes one started load process.
type Child struct {
	Kind string // "cpu" or "io"
	PID  int
	Info string // what the child reported at start, e.g. "cpu=1 nice=-20"
}

// Group is a set of running load processes.
type Group struct {
	children []Child
	pgid     int

	stop     chan struct{}
	stopOnce sync.Once
	stopped  chan struct{} // closed when every child has been reaped
	failed   chan struct{} // closed when a child exits before Stop
	mu       sync.Mutex
	err      error // first unexpected exit
}

// Start starts the loads described by cfg and returns once every child has
// reported that it runs. On error nothing is left running.
func Start(cfg Config) (*Group, error) {
	specs, err := cfg.specs()
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return nil, errors.New("load: nothing to start (enable CPU or IO load)")
	}
	g := &Group{stop: make(chan struct{}), stopped: make(chan struct{}), failed: make(chan struct{})}
	started := make(chan error, 1)
	go g.run(cfg, specs, started)
	if err := <-started; err != nil {
		return nil, err
	}
	logger := cfg.Logger
	for _, c := range g.children {
		if strings.Contains(c.Info, "warning") && logger != nil {
			logger.Warn("load child runs with reduced effect", "kind", c.Kind, "pid", c.PID, "info", c.Info)
		}
	}
	return g, nil
}

// Children lists the started load processes.
func (g *Group) Children() []Child { return append([]Child(nil), g.children...) }

// PGID returns the process group of the load processes.
func (g *Group) PGID() int { return g.pgid }

// Failed is closed when a load process exits before Stop (see Err).
func (g *Group) Failed() <-chan struct{} { return g.failed }

// Err returns why a load process exited early, or nil.
func (g *Group) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// Stop kills every load process (SIGKILL to the process group), waits until
// all are reaped, and returns the first early-exit error, if any. It is safe
// to call more than once and from several goroutines.
func (g *Group) Stop() error {
	g.stopOnce.Do(func() { close(g.stop) })
	<-g.stopped
	return g.Err()
}

type spec struct {
	kind string
	args []string
}

func (cfg Config) specs() ([]spec, error) {
	var out []spec
	cpus := cfg.CPUs
	if len(cpus) == 0 {
		var err error
		if cpus, err = AllowedCPUs(); err != nil {
			return nil, err
		}
	}
	var list []string
	for _, c := range cpus {
		if c < 0 || c >= maxCPU {
			return nil, fmt.Errorf("load: bad CPU number %d", c)
		}
		list = append(list, strconv.Itoa(c))
	}
	if cfg.CPU {
		for _, c := range cpus {
			out = append(out, spec{"cpu", []string{"-cpu=" + strconv.Itoa(c), "-nice=" + strconv.Itoa(cfg.CPUNice)}})
		}
	}
	if cfg.IO {
		dir := cfg.IODir
		if dir == "" {
			dir = os.TempDir()
		}
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("load: IO flood directory: %w (choose an existing, writable directory on the disk to flood)", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("load: IO flood directory %s is not a directory", dir)
		}
		size, block := cfg.IOSize, cfg.IOBlock
		if size <= 0 {
			size = 256 << 20
		}
		if block <= 0 {
			block = 1 << 20
		}
		if int64(block) > size {
			return nil, fmt.Errorf("load: IO block %d bytes is larger than the file size %d", block, size)
		}
		out = append(out, spec{"io", []string{"-dir=" + dir, "-size=" + strconv.FormatInt(size, 10),
			"-block=" + strconv.Itoa(block), "-nice=" + strconv.Itoa(cfg.IONice), "-cpus=" + strings.Join(list, ",")}})
	}
	return out, nil
}

// run owns the OS thread that forks the children: Pdeathsig fires when the
// forking thread dies, so this goroutine stays locked to it (never unlocked)
// until every child is reaped, then lets the thread exit with it.
func (g *Group) run(cfg Config, specs []spec, started chan<- error) {
	runtime.LockOSThread()
	defer close(g.stopped)

	exe := cfg.Exe
	if exe == "" {
		exe = "/proc/self/exe"
	}
	readyIn := cfg.ReadyIn
	if readyIn <= 0 {
		readyIn = 10 * time.Second
	}
	var until string
	if cfg.Lifetime > 0 {
		until = "-until=" + strconv.FormatInt(time.Now().Add(cfg.Lifetime).UnixNano(), 10)
	}

	type exit struct {
		i   int
		err error
	}
	exits := make(chan exit, len(specs))
	var cmds []*exec.Cmd
	var stderrs []*tailBuffer
	// The children wait on stdin (a pipe each) after reporting ready and start
	// loading the machine only at EOF, once all are ready: so starting the last
	// one is not slowed by the hogs already spinning at nice −20.
	var gates []*os.File
	defer func() {
		for _, g := range gates {
			_ = g.Close()
		}
	}()
	killAll := func() {
		if g.pgid > 0 {
			_ = syscall.Kill(-g.pgid, syscall.SIGKILL)
		}
		for _, c := range cmds { // in case one left the group
			_ = c.Process.Kill()
		}
	}
	fail := func(err error) {
		killAll()
		for range cmds {
			<-exits
		}
		started <- err
	}

	for i, s := range specs {
		args := append([]string{ChildArg, s.kind}, s.args...)
		if until != "" {
			args = append(args, until)
		}
		cmd := exec.Command(exe, args...)
		cmd.Args[0] = os.Args[0]
		cmd.Env = append(os.Environ(), ChildEnv+"=1", "GOMAXPROCS=1", "GOGC=off")
		gateR, gateW, err := os.Pipe()
		if err != nil {
			fail(fmt.Errorf("load: pipe: %w", err))
			return
		}
		gates = append(gates, gateW)
		cmd.Stdin = gateR
		cmd.Stdout = nil
		eb := &tailBuffer{max: 4096}
		cmd.Stderr = eb
		r, w, err := os.Pipe()
		if err != nil {
			fail(fmt.Errorf("load: pipe: %w", err))
			return
		}
		cmd.ExtraFiles = []*os.File{w} // fd 3 in the child: the ready line
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: g.pgid, Pdeathsig: syscall.SIGKILL}
		err = cmd.Start()
		_ = gateR.Close()
		if err != nil {
			_ = r.Close()
			_ = w.Close()
			fail(fmt.Errorf("load: start %s load process %s: %w", s.kind, exe, err))
			return
		}
		_ = w.Close()
		if g.pgid == 0 {
			g.pgid = cmd.Process.Pid
		}
		cmds = append(cmds, cmd)
		stderrs = append(stderrs, eb)
		go func(i int, c *exec.Cmd) { exits <- exit{i, c.Wait()} }(i, cmd)

		_ = r.SetReadDeadline(time.Now().Add(readyIn))
		line, rerr := bufio.NewReader(r).ReadString('\n')
		_ = r.Close()
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "ready") {
			killAll()
			for range cmds {
				<-exits
			}
			msg := line
			if msg == "" && rerr != nil {
				msg = rerr.Error()
			}
			if t := strings.TrimSpace(eb.String()); t != "" {
				msg += ": " + t
			}
			started <- fmt.Errorf("load: %s load process did not start: %s", s.kind, msg)
			return
		}
		g.children = append(g.children, Child{Kind: s.kind, PID: cmd.Process.Pid, Info: strings.TrimSpace(strings.TrimPrefix(line, "ready"))})
	}
	for _, g := range gates { // go
		_ = g.Close()
	}
	gates = nil
	started <- nil

	remaining := len(cmds)
	for remaining > 0 {
		select {
		case e := <-exits:
			remaining--
			g.mu.Lock()
			if g.err == nil {
				msg := "exited"
				if e.err != nil {
					msg = e.err.Error()
				}
				if t := strings.TrimSpace(stderrs[e.i].String()); t != "" {
					msg += ": " + t
				}
				g.err = fmt.Errorf("load: %s load process %d stopped early: %s", specs[e.i].kind, cmds[e.i].Process.Pid, msg)
				close(g.failed)
			}
			g.mu.Unlock()
		case <-g.stop:
			killAll()
			for ; remaining > 0; remaining-- {
				<-exits
			}
		}
	}
	<-g.stop
}

// maxCPU bounds CPU numbers (the size of the affinity masks used here).
const maxCPU = 128 * 64

// AllowedCPUs lists the CPUs the calling thread may run on. Call it before
// anything narrows the thread's affinity (e.g. an rt worker that confines the
// runtime's threads) and pass the result as Config.CPUs.
func AllowedCPUs() ([]int, error) {
	var mask [128]uint64 // maxCPU CPUs
	_, _, errno := syscall.RawSyscall(syscall.SYS_SCHED_GETAFFINITY, 0, uintptr(len(mask)*8), uintptr(unsafe.Pointer(&mask[0])))
	if errno != 0 {
		return nil, fmt.Errorf("load: sched_getaffinity: %w", errno)
	}
	var cpus []int
	for i, w := range mask {
		for b := 0; b < 64; b++ {
			if w&(1<<b) != 0 {
				cpus = append(cpus, i*64+b)
			}
		}
	}
	if len(cpus) == 0 {
		return nil, errors.New("load: no CPU in this process's affinity mask")
	}
	return cpus, nil
}

// tailBuffer keeps the last max bytes written to it (a child's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

var _ io.Writer = (*tailBuffer)(nil)
