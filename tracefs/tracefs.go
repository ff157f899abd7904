// Package tracefs manages a private ftrace instance: it finds (or mounts) tracefs,
// creates or reuses an instance under instances/, enables events in it and reads
// its trace_pipe. The global trace buffer is never touched.
package tracefs

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrNotMounted is returned by Find when no tracefs (nor debugfs tracing/) is mounted.
var ErrNotMounted = errors.New("tracefs: not mounted")

// ErrNoEvent is returned by Enable for an event this kernel does not have.
var ErrNoEvent = errors.New("tracefs: no such event")

// Find returns the tracefs mount point listed in mounts (a /proc/self/mounts file):
// a tracefs mount, else the tracing/ directory of a debugfs mount.
func Find(mounts string) (string, error) {
	f, err := os.Open(mounts)
	if err != nil {
		return "", fmt.Errorf("tracefs: read mounts: %w", err)
	}
	defer f.Close()
	var debugfs string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		dir := unescapeMount(fields[1])
		switch fields[2] {
		case "tracefs":
			return dir, nil
		case "debugfs":
			if _, err := os.Stat(filepath.Join(dir, "tracing", "trace_pipe")); err == nil && debugfs == "" {
				debugfs = filepath.Join(dir, "tracing")
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("tracefs: read mounts: %w", err)
	}
	if debugfs != "" {
		return debugfs, nil
	}
	return "", ErrNotMounted
}

// unescapeMount undoes the octal escapes (\040 for a space) of /proc/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}

// Supported reports whether the kernel knows the tracefs filesystem (/proc/filesystems).
func Supported() bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.TrimSpace(strings.TrimPrefix(line, "nodev")) == "tracefs" {
			return true
		}
	}
	return false
}

// Mount mounts tracefs on dir (CAP_SYS_ADMIN).
func Mount(dir string) error {
	if err := syscall.Mount("nodev", dir, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("tracefs: mount on %s: %w", dir, err)
	}
	return nil
}

// Instance is one ftrace instance (a private ring buffer) under root/instances.
type Instance struct {
	Name string // the instance's directory name
	Dir  string // Root/instances/Name
	// Reused is true when the instance was left over by an earlier run (e.g. one
	// killed with SIGKILL) and was reset rather than created.
	Reused bool
}

// Open creates the instance name under root/instances, or resets and reuses one
// left over by a run that could not remove it. bufferKB sets its per-CPU ring
// buffer size (0 keeps the kernel's default).
func Open(root, name string, bufferKB int) (*Instance, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return nil, fmt.Errorf("tracefs: bad instance name %q", name)
	}
	in := &Instance{Name: name, Dir: filepath.Join(root, "instances", name)}
	err := os.Mkdir(in.Dir, 0o700)
	switch {
	case errors.Is(err, fs.ErrExist):
		in.Reused = true
		if err := in.reset(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("tracefs: create instance: %w", err)
	}
	if bufferKB > 0 {
		if err := in.write("buffer_size_kb", fmt.Sprint(bufferKB)); err != nil {
			in.Remove()
			return nil, err
		}
	}
	if err := in.write("tracing_on", "1"); err != nil {
		in.Remove()
		return nil, err
	}
	return in, nil
}

// reset disables every event of a reused instance and empties its buffer.
func (in *Instance) reset() error {
	if err := in.write("events/enable", "0"); err != nil {
		return err
	}
	// Opening trace with O_TRUNC clears the ring buffer.
	f, err := os.OpenFile(filepath.Join(in.Dir, "trace"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("tracefs: clear instance %s: %w", in.Name, err)
	}
	return f.Close()
}

func (in *Instance) write(file, value string) error {
	p := filepath.Join(in.Dir, file)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("tracefs: %w", err)
	}
	if _, err := f.WriteString(value); err != nil {
		f.Close()
		return fmt.Errorf("tracefs: write %q to %s: %w", value, p, err)
	}
	return f.Close()
}

// HasEvent reports whether the kernel has the trace event system:event.
func (in *Instance) HasEvent(system, event string) bool {
	_, err := os.Stat(filepath.Join(in.Dir, "events", system, event, "enable"))
	return err == nil
}

// Enable turns on the event system:event in this instance only; ErrNoEvent when the
// kernel does not have it (driver not built, or tracepoints compiled out).
func (in *Instance) Enable(system, event string) error {
	if !in.HasEvent(system, event) {
		return fmt.Errorf("%w: %s:%s", ErrNoEvent, system, event)
	}
	return in.write(filepath.Join("events", system, event, "enable"), "1")
}

// SetFilter sets the event filter of system:event (e.g. "next_pid == 42").
func (in *Instance) SetFilter(system, event, filter string) error {
	return in.write(filepath.Join("events", system, event, "filter"), filter)
}

// OpenPipe opens the instance's trace_pipe, a consuming read of its ring buffer.
// Close the file before Remove: the kernel refuses to remove an instance in use.
func (in *Instance) OpenPipe() (*os.File, error) {
	f, err := os.Open(filepath.Join(in.Dir, "trace_pipe"))
	if err != nil {
		return nil, fmt.Errorf("tracefs: open trace_pipe: %w", err)
	}
	return f, nil
}

// Remove disables the instance's events and removes it (rmdir frees its buffer).
func (in *Instance) Remove() error {
	_ = in.write("events/enable", "0")
	if err := os.Remove(in.Dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tracefs: remove instance %s: %w", in.Name, err)
	}
	return nil
}

// MountPoint returns where tracefs is mounted, mounting it on a new temporary
// directory when nothing has (tests and benchmarks; needs CAP_SYS_ADMIN). The
// returned function undoes the mount, if any.
func MountPoint() (string, func(), error) {
	if root, err := Find("/proc/self/mounts"); err == nil {
		return root, func() {}, nil
	}
	if !Supported() {
		return "", nil, fmt.Errorf("%w: the kernel has no tracefs", ErrNotMounted)
	}
	dir, err := os.MkdirTemp("", "tracefs")
	if err != nil {
		return "", nil, fmt.Errorf("tracefs: %w", err)
	}
	if err := Mount(dir); err != nil {
		os.Remove(dir)
		return "", nil, err
	}
	return dir, func() {
		_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		os.Remove(dir)
	}, nil
}

// PIDName returns the instance name prefix+"<pid>" for this process.
func PIDName(prefix string) string { return prefix + strconv.Itoa(os.Getpid()) }

// RemoveStale removes the instances named prefix+"<pid>" whose process no longer
// exists (a run killed before it could remove its own) and returns their names.
func RemoveStale(root, prefix string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(root, "instances"))
	if err != nil {
		return nil, fmt.Errorf("tracefs: list instances: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), prefix))
		if !strings.HasPrefix(e.Name(), prefix) || err != nil || pid <= 0 || alive(pid) {
			continue
		}
		in := &Instance{Name: e.Name(), Dir: filepath.Join(root, "instances", e.Name())}
		if err := in.Remove(); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// alive reports whether a process with this pid exists (EPERM: it does, not ours).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
