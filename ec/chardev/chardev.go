// Package chardev is the ec.Transport over the Linux kernel's ChromeOS EC
// character devices (/dev/cros_ec, /dev/cros_fp, /dev/cros_pd, ...): one
// CROS_EC_DEV_IOCXCMD_V2 ioctl per host command, the kernel driver does the bus.
package chardev

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ec-exporter/ec_exporter/ec"
)

// ABI of include/linux/platform_data/cros_ec_chardev.h (util/cros_ec_dev.h in chrome-ec).
const (
	// IocXcmdV2 is CROS_EC_DEV_IOCXCMD_V2 = _IOWR(0xEC, 0, struct cros_ec_command_v2).
	IocXcmdV2 uint = 0xC014EC00
	// HeaderSize is sizeof(struct cros_ec_command_v2) without its data[]: five u32.
	HeaderSize = 20
	// BannerVersion is the first line read() returns (CROS_EC_DEV_VERSION).
	BannerVersion = "1.0.0"
	// DefaultDevice is the main EC's node.
	DefaultDevice = "/dev/cros_ec"
)

// commandHeader mirrors struct cros_ec_command_v2 without data[], in host byte order.
type commandHeader struct {
	Version uint32
	Command uint32
	Outsize uint32
	Insize  uint32
	Result  uint32
}

// Names lists the EC node names the kernel creates (cros_ec_dev.c / cros_ec.c).
var Names = []string{"cros_ec", "cros_fp", "cros_pd", "cros_ish", "cros_scp", "cros_tp"}

// Banner is what read() on the node returned: "1.0.0", then the RO and RW version and the image.
type Banner struct {
	RO, RW, Image string
}

// Node is an EC character device as the transport uses it once opened: the kernel's
// read() (the version banner) and CROS_EC_DEV_IOCXCMD_V2 ioctl on buf (struct
// cros_ec_command_v2: 20-byte header, then data, host byte order). ecsim.Node is one.
type Node interface {
	Read(p []byte) (int, error)
	Ioctl(req uint, buf []byte) (int, error)
	Close() error
}

// ops are the system calls the transport makes; tests replace them.
type ops struct {
	open  func(path string) (int, error)
	read  func(fd int, p []byte) (int, error)
	ioctl func(fd int, req uint, buf []byte) (int, error)
	close func(fd int) error
}

var sysOps = ops{
	open: func(path string) (int, error) {
		return unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	},
	read:  unix.Read,
	ioctl: sysIoctl,
	close: unix.Close,
}

// sysIoctl issues ioctl(fd, req, &buf[0]) and returns its non-negative result.
func sysIoctl(fd int, req uint, buf []byte) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(unsafe.Pointer(&buf[0])))
	runtime.KeepAlive(buf)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// OpenNode is Open on an already opened node (e.g. ecsim.NewNode, the simulated
// kernel), named path in errors and String.
func OpenNode(path string, n Node) (*Transport, error) {
	return open(path, ops{
		open:  func(string) (int, error) { return 0, nil },
		read:  func(_ int, p []byte) (int, error) { return n.Read(p) },
		ioctl: func(_ int, req uint, buf []byte) (int, error) { return n.Ioctl(req, buf) },
		close: func(int) error { return n.Close() },
	})
}

// Transport sends host commands through a cros_ec character device. Like every
// ec.Transport it is used by one goroutine at a time.
type Transport struct {
	path          string
	fd            int
	ops           ops
	buf           []byte // header + data, allocated once; passed to the kernel by address
	maxOut, maxIn int
	banner        Banner
	bannerErr     error
	proto         ec.ProtocolInfo
	protoOK       bool
}

// Resolve turns a device name (cros_ec, cros_fp, ...) into /dev/<name>; a value with a
// '/' is taken as a path.
func Resolve(nameOrPath string) (string, error) {
	switch {
	case nameOrPath == "":
		return DefaultDevice, nil
	case strings.Contains(nameOrPath, "/"):
		return nameOrPath, nil
	case strings.HasPrefix(nameOrPath, "cros_"):
		return "/dev/" + nameOrPath, nil
	}
	return "", fmt.Errorf("chardev: %q is neither an EC name (%s) nor a path like /dev/cros_ec",
		nameOrPath, strings.Join(Names, ", "))
}

// Open opens an EC node by name (cros_ec, cros_fp, cros_pd, cros_ish, cros_scp, cros_tp)
// or path, checks the "1.0.0" banner, and learns the EC's packet limits with
// GET_PROTOCOL_INFO (keeping ectool's 244/252-byte defaults if the EC cannot say).
func Open(nameOrPath string) (*Transport, error) {
	path, err := Resolve(nameOrPath)
	if err != nil {
		return nil, err
	}
	return open(path, sysOps)
}

func open(path string, o ops) (*Transport, error) {
	fd, err := o.open(path)
	if err != nil {
		return nil, openError(path, err)
	}
	t := &Transport{path: path, fd: fd, ops: o, maxOut: ec.DefaultMaxOut, maxIn: ec.DefaultMaxIn}
	if err := t.init(); err != nil {
		_ = o.close(fd)
		return nil, err
	}
	return t, nil
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("chardev: no %s: is the cros_ec_dev module loaded?: %w", path, err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("chardev: open %s: permission denied: run as root or grant the group access via the udev rule in examples/: %w", path, err)
	case errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV):
		return fmt.Errorf("chardev: open %s: no driver behind the node: is the cros_ec_dev module loaded and the EC probed (dmesg | grep cros)?: %w", path, err)
	}
	return fmt.Errorf("chardev: open %s: %w", path, err)
}

// init reads the banner and asks for the protocol limits.
func (t *Transport) init() error {
	var b [256]byte
	n, err := t.ops.read(t.fd, b[:])
	switch {
	case err != nil && isECErrno(err):
		// The kernel answers read() with the errno of its GET_VERSION command
		// (cros_ec_chardev.c ec_device_read → ec_get_version → cros_ec_cmd_xfer_status):
		// a real EC node whose EC did not answer, or answered an error result. The
		// banner is informational: keep the error (Banner) and go on; the ioctl
		// below tells a non-EC node.
		t.bannerErr = fmt.Errorf("chardev: read banner from %s: %w", t.path, err)
	case err != nil:
		return fmt.Errorf("chardev: read banner from %s: %w", t.path, err)
	case n == 0:
		return fmt.Errorf("chardev: %s returned no banner: not a cros_ec device node", t.path)
	default:
		banner, err := ParseBanner(b[:n])
		if err != nil {
			return fmt.Errorf("chardev: %s is not a cros_ec device: %w", t.path, err)
		}
		t.banner = banner
	}
	t.buf = make([]byte, HeaderSize+max(ec.DefaultMaxIn, ec.DefaultMaxOut))
	in := make([]byte, ec.ProtocolInfoSize)
	m := ec.Msg{Command: ec.CmdGetProtocolInfo, In: in}
	n, err = t.Xfer(&m)
	if err != nil {
		if errors.Is(err, unix.ENOTTY) {
			return fmt.Errorf("chardev: %s does not understand CROS_EC_DEV_IOCXCMD_V2: not a cros_ec node, or a kernel without the cros_ec_chardev driver (ChromeOS <= 3.18 kernels use the old v1 ioctl, not supported): %w", t.path, err)
		}
		return nil // the EC is there but not answering now; the probes will count the failures
	}
	if m.Result != ec.ResSuccess {
		return nil // protocol v2 EC: keep the defaults
	}
	p, err := ec.DecodeProtocolInfo(in[:n])
	if err != nil {
		return nil
	}
	t.proto, t.protoOK = p, true
	t.maxOut = min(max(p.MaxRequest(), 0), ec.MaxMsgBytes)
	t.maxIn = min(max(p.MaxResponse(), 0), ec.MaxMsgBytes)
	t.buf = make([]byte, HeaderSize+max(t.maxOut, t.maxIn))
	return nil
}

// ParseBanner reads the text the kernel returns from the first read() of a cros_ec node:
// "1.0.0", then the RO version, the RW version and the running image, one per line.
func ParseBanner(b []byte) (Banner, error) {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if lines[0] != BannerVersion {
		return Banner{}, fmt.Errorf("banner starts %q, want %q", lines[0], BannerVersion)
	}
	var bn Banner
	if len(lines) > 1 {
		bn.RO = lines[1]
	}
	if len(lines) > 2 {
		bn.RW = lines[2]
	}
	if len(lines) > 3 {
		bn.Image = lines[3]
	}
	return bn, nil
}

// isECErrno reports whether err is an errno cros_ec_cmd_xfer_status returns: one of
// the transport's, or one cros_ec_map_error (cros_ec_proto.c) makes of an EC result.
func isECErrno(err error) bool {
	var e unix.Errno
	if !errors.As(err, &e) {
		return false
	}
	switch e {
	case unix.ETIMEDOUT, unix.EBADMSG, unix.EAGAIN, unix.EMSGSIZE, unix.ENOSPC, unix.EPROTO, unix.EIO, unix.EBUSY, unix.EINVAL,
		// cros_ec_map_error: INVALID_COMMAND, ACCESS_DENIED, INVALID_VERSION, UNAVAILABLE,
		// INVALID_HEADER/REQUEST_TRUNCATED, RESPONSE_TOO_BIG, BUS_ERROR, OVERFLOW, IN_PROGRESS.
		unix.EOPNOTSUPP, unix.EACCES, unix.ENOPROTOOPT, unix.ENODATA, unix.EBADR, unix.EFBIG, unix.EFAULT, unix.EOVERFLOW, unix.EINPROGRESS:
		return true
	}
	return false
}

// Cause classifies an errno from CROS_EC_DEV_IOCXCMD_V2.
func Cause(errno unix.Errno) ec.Cause {
	switch errno {
	case unix.ETIMEDOUT:
		return ec.CauseTimeout
	case unix.EBADMSG:
		return ec.CauseChecksum
	case unix.EAGAIN:
		return ec.CauseNotReady
	case unix.EMSGSIZE, unix.ENOSPC, unix.EPROTO:
		return ec.CauseBadResponse
	case unix.EBUSY:
		return ec.CauseBusy
	}
	return ec.CauseIO
}

// Xfer sends m with one CROS_EC_DEV_IOCXCMD_V2 ioctl. The EC result comes back in
// m.Result (not as an error), the response data in m.In. Allocation-free on success.
func (t *Transport) Xfer(m *ec.Msg) (int, error) {
	if t.buf == nil {
		return 0, &ec.Error{Cause: ec.CauseIO, Op: "chardev: " + t.path + ": transport is closed"}
	}
	if len(m.Out) > t.maxOut {
		return 0, &ec.Error{Cause: ec.CauseBadResponse, Op: fmt.Sprintf("chardev: %s: %s request of %d bytes exceeds the EC's %d",
			t.path, ec.CommandName(m.Command), len(m.Out), t.maxOut), Err: ec.ErrRequestTooBig}
	}
	insize := min(len(m.In), t.maxIn) // the kernel clamps insize to max_response too
	ne := binary.NativeEndian
	ne.PutUint32(t.buf[0:], uint32(m.Version))
	ne.PutUint32(t.buf[4:], uint32(m.Command))
	ne.PutUint32(t.buf[8:], uint32(len(m.Out)))
	ne.PutUint32(t.buf[12:], uint32(insize))
	ne.PutUint32(t.buf[16:], 0xff) // as ectool: the kernel looks at result after a transport failure
	copy(t.buf[HeaderSize:], m.Out)
	start := time.Now()
	n, err := t.ops.ioctl(t.fd, IocXcmdV2, t.buf)
	if err != nil {
		return 0, t.ioctlError(m, err, time.Since(start))
	}
	m.Result = ec.Result(ne.Uint32(t.buf[16:]))
	if n < 0 || n > insize {
		return 0, &ec.Error{Cause: ec.CauseBadResponse, Op: fmt.Sprintf("chardev: %s: %s: kernel returned %d bytes for insize %d",
			t.path, ec.CommandName(m.Command), n, insize)}
	}
	if n == ec.CommsStatusSize && insize != ec.CommsStatusSize && m.Result == ec.ResSuccess && time.Since(start) >= ec.KernelPollDelay {
		return 0, &ec.Error{Cause: ec.CauseInProgress, Op: "chardev: " + t.path + ": " + ec.CommandName(m.Command), Err: ErrStatusAnswer}
	}
	return copy(m.In, t.buf[HeaderSize:HeaderSize+n]), nil
}

// ErrStatusAnswer is the kernel's answer to a command the EC first answered
// EC_RES_IN_PROGRESS: after polling GET_COMMS_STATUS until the EC was done,
// cros_ec_send_command returns the status command's 4 bytes with result SUCCESS and
// none of the command's data. Xfer reports it (CauseInProgress) when a command whose
// answer is not 4 bytes gets 4 bytes and SUCCESS from an ioctl that took at least
// one poll delay (10 ms); a 4-byte command caught by it fails its own checks.
var ErrStatusAnswer = errors.New("kernel returned GET_COMMS_STATUS's 4 bytes instead of the answer (the EC was busy: EC_RES_IN_PROGRESS)")

func (t *Transport) ioctlError(m *ec.Msg, err error, took time.Duration) error {
	var errno unix.Errno
	cause := ec.CauseIO
	if errors.As(err, &errno) {
		cause = Cause(errno)
	}
	op := "chardev: " + t.path + ": CROS_EC_DEV_IOCXCMD_V2 " + ec.CommandName(m.Command)
	if errors.Is(err, unix.ENOTTY) {
		op += " (ENOTTY: not a cros_ec node or no cros_ec_chardev driver)"
	}
	if errno == unix.EAGAIN && took >= ec.KernelCommandRetries*ec.KernelPollDelay {
		// The kernel polled GET_COMMS_STATUS 50 times, 10 ms apart, before this EAGAIN:
		// ec.Device must not send the command again on top of that.
		return &ec.Error{Cause: cause, Op: op + ": EAGAIN after the kernel's IN_PROGRESS polls", Err: fmt.Errorf("%w: %w", ec.ErrInProgressTimeout, err)}
	}
	return &ec.Error{Cause: cause, Op: op, Err: err}
}

// Limits returns the largest request and response payloads (GET_PROTOCOL_INFO sizes minus
// the 8-byte header, or ectool's 244/252 defaults).
func (t *Transport) Limits() (maxOut, maxIn int) { return t.maxOut, t.maxIn }

// Banner returns what read() said about the EC when the node was opened, or why the
// kernel could not say (read() failed with an EC errno; Open went on, the caller may
// log it once).
func (t *Transport) Banner() (Banner, error) { return t.banner, t.bannerErr }

// ProtocolInfo returns the EC's GET_PROTOCOL_INFO answer from Open, if it gave one.
func (t *Transport) ProtocolInfo() (ec.ProtocolInfo, bool) { return t.proto, t.protoOK }

// Path returns the device node.
func (t *Transport) Path() string { return t.path }

// Close closes the device node.
func (t *Transport) Close() error {
	if t.buf == nil {
		return nil
	}
	t.buf = nil
	if err := t.ops.close(t.fd); err != nil {
		return fmt.Errorf("chardev: close %s: %w", t.path, err)
	}
	return nil
}

// String names the transport, e.g. "chardev:/dev/cros_ec".
func (t *Transport) String() string { return "chardev:" + t.path }

var _ ec.Transport = (*Transport)(nil)
