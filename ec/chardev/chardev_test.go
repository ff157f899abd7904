package chardev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/ec-exporter/ec_exporter/ec"
)

// _IOWR from <asm-generic/ioctl.h>: dir<<30 | size<<16 | type<<8 | nr, dir = read|write = 3.
func iowr(typ, nr, size uint) uint { return 3<<30 | size<<16 | typ<<8 | nr }

func TestABI(t *testing.T) {
	if got := iowr(0xEC, 0, uint(unsafe.Sizeof(commandHeader{}))); got != 0xC014EC00 || IocXcmdV2 != 0xC014EC00 {
		t.Errorf("IOCXCMD_V2 = %#x (computed %#x), want 0xC014EC00", IocXcmdV2, got)
	}
	var h commandHeader
	if unsafe.Sizeof(h) != HeaderSize || HeaderSize != 20 {
		t.Errorf("header is %d bytes, want 20", unsafe.Sizeof(h))
	}
	offs := []uintptr{unsafe.Offsetof(h.Version), unsafe.Offsetof(h.Command), unsafe.Offsetof(h.Outsize), unsafe.Offsetof(h.Insize), unsafe.Offsetof(h.Result)}
	for i, o := range offs {
		if o != uintptr(4*i) {
			t.Errorf("field %d at offset %d, want %d", i, o, 4*i)
		}
	}
}

// fakeKernel plays the cros_ec_chardev driver behind an injected ioctl.
type fakeKernel struct {
	calls   int
	gotHdr  commandHeader
	gotData []byte
	req     uint
	errno   error  // returned instead of a transfer
	result  uint32 // EC result written back
	reply   []byte // response data written back
	n       int    // return value override (-1 = len(reply))
	// GET_PROTOCOL_INFO answer at open
	protoErr    error
	protoResult uint32
}

func (k *fakeKernel) ioctl(fd int, req uint, buf []byte) (int, error) {
	arg := unsafe.Pointer(&buf[0])
	k.calls++
	k.req = req
	h := (*commandHeader)(arg)
	k.gotHdr = *h
	data := unsafe.Slice((*byte)(unsafe.Add(arg, HeaderSize)), max(h.Outsize, h.Insize))
	k.gotData = append(k.gotData[:0], data[:h.Outsize]...)
	if req != IocXcmdV2 {
		return -1, unix.ENOTTY
	}
	if h.Command == uint32(ec.CmdGetProtocolInfo) {
		if k.protoErr != nil {
			return -1, k.protoErr
		}
		h.Result = k.protoResult
		if k.protoResult != 0 {
			return 0, nil
		}
		p := []byte{8, 0, 0, 0, 0x20, 0x02, 0x20, 0x02, 1, 0, 0, 0}
		return copy(data[:h.Insize], p), nil
	}
	if k.errno != nil {
		return -1, k.errno
	}
	h.Result = k.result
	n := copy(data[:h.Insize], k.reply)
	if k.n != 0 {
		n = k.n
	}
	return n, nil
}

func fakeOps(k *fakeKernel, banner string, readErr error) ops {
	return ops{
		open: func(path string) (int, error) { return 42, nil },
		read: func(fd int, p []byte) (int, error) {
			if readErr != nil {
				return -1, readErr
			}
			return copy(p, banner), nil
		},
		ioctl: k.ioctl,
		close: func(fd int) error { return nil },
	}
}

const goodBanner = "1.0.0\nveyron_v1.1.4-ro\nveyron_v1.1.4-rw\nread-write\n"

func openFake(t *testing.T, k *fakeKernel) *Transport {
	t.Helper()
	tr, err := open("/dev/cros_ec", fakeOps(k, goodBanner, nil))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestOpenBannerAndLimits(t *testing.T) {
	k := &fakeKernel{}
	tr := openFake(t, k)
	if b, err := tr.Banner(); b != (Banner{"veyron_v1.1.4-ro", "veyron_v1.1.4-rw", "read-write"}) || err != nil {
		t.Errorf("banner %+v, %v", b, err)
	}
	if o, i := tr.Limits(); o != 0x218 || i != 0x218 {
		t.Errorf("limits %d/%d, want 536/536 from GET_PROTOCOL_INFO", o, i)
	}
	if p, ok := tr.ProtocolInfo(); !ok || p.Flags != 1 {
		t.Errorf("protocol info %+v %v", p, ok)
	}
	if k.gotHdr.Command != uint32(ec.CmdGetProtocolInfo) || k.gotHdr.Insize != ec.ProtocolInfoSize {
		t.Errorf("probe header %+v", k.gotHdr)
	}
	if tr.String() != "chardev:/dev/cros_ec" || tr.Path() != "/dev/cros_ec" {
		t.Error(tr.String())
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Xfer(&ec.Msg{Command: ec.CmdHello}); err == nil {
		t.Error("Xfer after Close succeeded")
	}
}

func TestOpenProtocolV2EC(t *testing.T) {
	k := &fakeKernel{protoResult: uint32(ec.ResInvalidCommand)}
	tr := openFake(t, k)
	if o, i := tr.Limits(); o != 244 || i != 252 {
		t.Errorf("limits %d/%d, want ectool's 244/252", o, i)
	}
	if _, ok := tr.ProtocolInfo(); ok {
		t.Error("protocol info claimed")
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name     string
		openErr  error
		banner   string
		readErr  error
		protoErr error
		want     string // "" = opens
	}{
		{"missing node", unix.ENOENT, "", nil, nil, "no /dev/cros_ec: is the cros_ec_dev module loaded"},
		{"permission", unix.EACCES, "", nil, nil, "run as root or grant the group access via the udev rule in examples/"},
		{"no driver", unix.ENXIO, "", nil, nil, "is the cros_ec_dev module loaded"},
		{"other open error", unix.EMFILE, "", nil, nil, "chardev: open /dev/cros_ec: too many open files"},
		{"empty banner", nil, "", nil, nil, "no banner"},
		{"wrong banner", nil, "hello\n", nil, nil, `banner starts "hello", want "1.0.0"`},
		{"banner read fails oddly", nil, "", unix.EISDIR, nil, "read banner"},
		{"EC silent at read: go on", nil, "", unix.ETIMEDOUT, nil, ""},
		// cros_ec_map_error's errnos for EC results: the banner is informational, go on.
		{"INVALID_COMMAND at read: go on", nil, "", unix.EOPNOTSUPP, nil, ""},
		{"ACCESS_DENIED at read: go on", nil, "", unix.EACCES, nil, ""},
		{"INVALID_VERSION at read: go on", nil, "", unix.ENOPROTOOPT, nil, ""},
		{"UNAVAILABLE at read: go on", nil, "", unix.ENODATA, nil, ""},
		{"INVALID_HEADER at read: go on", nil, "", unix.EBADR, nil, ""},
		{"RESPONSE_TOO_BIG at read: go on", nil, "", unix.EFBIG, nil, ""},
		{"BUS_ERROR at read: go on", nil, "", unix.EFAULT, nil, ""},
		{"OVERFLOW at read: go on", nil, "", unix.EOVERFLOW, nil, ""},
		{"IN_PROGRESS at read: go on", nil, "", unix.EINPROGRESS, nil, ""},
		{"EC silent at probe: go on", nil, goodBanner, nil, unix.ETIMEDOUT, ""},
		{"kernel without driver", nil, goodBanner, nil, unix.ENOTTY, "cros_ec_chardev"},
		{"unknown EC version banner", nil, "1.0.0\nUnknown EC version: EC returned 1\n", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &fakeKernel{protoErr: tt.protoErr}
			o := fakeOps(k, tt.banner, tt.readErr)
			if tt.openErr != nil {
				o.open = func(string) (int, error) { return -1, tt.openErr }
			}
			closed := false
			o.close = func(int) error { closed = true; return nil }
			tr, err := open("/dev/cros_ec", o)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				_, berr := tr.Banner()
				if (berr != nil) != (tt.readErr != nil) || (tt.readErr != nil && !errors.Is(berr, tt.readErr)) {
					t.Errorf("Banner() error %v, want the read errno %v", berr, tt.readErr)
				}
				_ = tr.Close()
				return
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("library error names a CLI flag: %v", err)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			if tt.openErr == nil && !closed {
				t.Error("fd leaked on failure")
			}
			if tt.openErr != nil && !errors.Is(err, tt.openErr) {
				t.Error("errno not wrapped")
			}
		})
	}
}

func TestXferMarshalling(t *testing.T) {
	k := &fakeKernel{}
	tr := openFake(t, k)
	k.result, k.reply = 0, []byte{0xd4, 0xc3, 0xb2, 0xa1}
	in := make([]byte, 4)
	m := ec.Msg{Command: ec.CmdHello, Version: 0, Out: []byte{0xd0, 0xc0, 0xb0, 0xa0}, In: in}
	n, err := tr.Xfer(&m)
	if err != nil || n != 4 || m.Result != ec.ResSuccess || !bytes.Equal(in, k.reply) {
		t.Fatalf("n %d err %v result %v in % x", n, err, m.Result, in)
	}
	if k.req != IocXcmdV2 {
		t.Errorf("request %#x", k.req)
	}
	want := commandHeader{Version: 0, Command: 1, Outsize: 4, Insize: 4, Result: 0xff}
	if k.gotHdr != want || !bytes.Equal(k.gotData, m.Out) {
		t.Errorf("header %+v data % x; want %+v", k.gotHdr, k.gotData, want)
	}
	// The raw bytes are host-order u32s.
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&k.gotHdr)), HeaderSize)
	if binary.NativeEndian.Uint32(raw[4:]) != 1 || binary.NativeEndian.Uint32(raw[16:]) != 0xff {
		t.Errorf("raw header % x", raw)
	}

	// EC result passthrough: no error, result in m.Result.
	k.result, k.reply = uint32(ec.ResInvalidCommand), nil
	m = ec.Msg{Command: ec.CmdGetUptimeInfo, Version: 0, In: make([]byte, 44)}
	if n, err := tr.Xfer(&m); err != nil || n != 0 || m.Result != ec.ResInvalidCommand {
		t.Errorf("result passthrough: n %d err %v result %v", n, err, m.Result)
	}
	// Version and insize clamped to the EC's limit.
	k.result = 0
	m = ec.Msg{Command: ec.CmdGetVersion, Version: 1, In: make([]byte, 5000)}
	if _, err := tr.Xfer(&m); err != nil || k.gotHdr.Version != 1 || k.gotHdr.Insize != 0x218 {
		t.Errorf("clamp: %v %+v", err, k.gotHdr)
	}
	// Too big a request never reaches the kernel.
	calls := k.calls
	m = ec.Msg{Command: ec.CmdHello, Out: make([]byte, 0x219)}
	if _, err := tr.Xfer(&m); !errors.Is(err, ec.ErrRequestTooBig) || k.calls != calls {
		t.Errorf("too big: %v", err)
	}
	// A kernel claiming more bytes than insize is a bad response.
	k.n = 9
	m = ec.Msg{Command: ec.CmdHello, Out: make([]byte, 4), In: make([]byte, 4)}
	if _, err := tr.Xfer(&m); ec.CauseOf(err) != ec.CauseBadResponse {
		t.Errorf("n > insize: %v", err)
	}
}

func TestXferErrno(t *testing.T) {
	tests := []struct {
		errno unix.Errno
		cause ec.Cause
	}{
		{unix.ETIMEDOUT, ec.CauseTimeout},
		{unix.EBADMSG, ec.CauseChecksum},
		{unix.EAGAIN, ec.CauseNotReady},
		{unix.EMSGSIZE, ec.CauseBadResponse},
		{unix.ENOSPC, ec.CauseBadResponse},
		{unix.EPROTO, ec.CauseBadResponse},
		{unix.EBUSY, ec.CauseBusy},
		{unix.EIO, ec.CauseIO},
		{unix.EINVAL, ec.CauseIO},
		{unix.EFAULT, ec.CauseIO},
		{unix.ENOTTY, ec.CauseIO},
	}
	for _, tt := range tests {
		t.Run(tt.errno.Error(), func(t *testing.T) {
			k := &fakeKernel{}
			tr := openFake(t, k)
			k.errno = tt.errno
			m := ec.Msg{Command: ec.CmdHello, Out: make([]byte, 4), In: make([]byte, 4)}
			_, err := tr.Xfer(&m)
			if ec.CauseOf(err) != tt.cause || !errors.Is(err, tt.errno) {
				t.Fatalf("err %v cause %v, want %v", err, ec.CauseOf(err), tt.cause)
			}
			if !strings.Contains(err.Error(), "/dev/cros_ec") || !strings.Contains(err.Error(), "HELLO") {
				t.Errorf("no context: %v", err)
			}
			if Cause(tt.errno) != tt.cause {
				t.Errorf("Cause(%v)", tt.errno)
			}
		})
	}
}

// Through ec.Device: the chardev transport in the real command stack.
func TestDeviceOverChardev(t *testing.T) {
	k := &fakeKernel{reply: []byte{0, 0, 0, 0}}
	tr := openFake(t, k)
	d := ec.NewDevice("cros_ec", tr)
	err := d.Hello() // reply is wrong on purpose
	if ec.CauseOf(err) != ec.CauseBadResponse {
		t.Errorf("bad hello: %v", err)
	}
	k.errno = unix.EAGAIN
	d.SetRetryPolicy(ec.RetryPolicy{NotReadyRetries: 2})
	if err := d.Hello(); ec.CauseOf(err) != ec.CauseNotReady || d.LastRetries() != 2 {
		t.Errorf("EAGAIN: %v, retries %d", err, d.LastRetries())
	}
}

func TestXferZeroAllocs(t *testing.T) {
	k := &fakeKernel{reply: []byte{1, 2, 3, 4}}
	tr := openFake(t, k)
	m := ec.Msg{Command: ec.CmdHello, Out: make([]byte, 4), In: make([]byte, 4)}
	allocs := testing.AllocsPerRun(1000, func() {
		k.gotData = k.gotData[:0]
		if _, err := tr.Xfer(&m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Xfer allocates %v per call", allocs)
	}
}

func TestResolve(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"", "/dev/cros_ec", ""},
		{"cros_ec", "/dev/cros_ec", ""},
		{"cros_fp", "/dev/cros_fp", ""},
		{"cros_pd", "/dev/cros_pd", ""},
		{"cros_ish", "/dev/cros_ish", ""},
		{"cros_scp", "/dev/cros_scp", ""},
		{"cros_tp", "/dev/cros_tp", ""},
		{"/dev/cros_ec", "/dev/cros_ec", ""},
		{"./x", "./x", ""},
		{"spidev0.0", "", "neither an EC name"},
	}
	for _, tt := range tests {
		got, err := Resolve(tt.in)
		if got != tt.want || (err != nil) != (tt.err != "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("Resolve(%q) = %q, %v", tt.in, got, err)
		}
	}
}

// Real system calls: a missing node, /dev/null (no banner), and a regular file with a
// banner, where the real ioctl answers ENOTTY.
func TestOpenRealSyscalls(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "cros_ec")
	if _, err := Open(missing); err == nil || !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "cros_ec_dev module") || strings.Contains(err.Error(), "--") {
		t.Errorf("missing: %v", err)
	}
	if _, err := Open("/dev/null"); err == nil || !strings.Contains(err.Error(), "no banner") {
		t.Errorf("/dev/null: %v", err)
	}
	f := filepath.Join(t.TempDir(), "fake_cros_ec")
	if err := os.WriteFile(f, []byte(goodBanner), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(f); err == nil || !errors.Is(err, unix.ENOTTY) || !strings.Contains(err.Error(), "not a cros_ec node") {
		t.Errorf("regular file: %v", err)
	}
	if _, err := Open("bogus"); err == nil {
		t.Error("bogus name accepted")
	}
}
