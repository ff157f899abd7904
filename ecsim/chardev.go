package ecsim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ec-exporter/ec_exporter/ec"
)

// ABI of include/uapi/linux/cros_ec_chardev.h, as the Node serves it.
const (
	iocXcmdV2     = 0xC014EC00 // CROS_EC_DEV_IOCXCMD_V2
	chardevHeader = 20         // struct cros_ec_command_v2 without data[]
	chardevBanner = "1.0.0"    // CROS_EC_DEV_VERSION
)

// Node is the simulated EC as the kernel's character device /dev/cros_ec shows it
// (drivers/platform/chrome/cros_ec_chardev.c): read() returns the version banner once,
// the CROS_EC_DEV_IOCXCMD_V2 ioctl runs one command through the kernel model
// (Transport: IN_PROGRESS polled inside, the 4-byte/SUCCESS answer, EAGAIN after 50
// polls). It has the Read/Ioctl/Close methods of chardev.Node. One caller at a time.
type Node struct {
	tr     *Transport
	data   []byte // the kernel's zeroed copy of the command's data, reused
	msg    ec.Msg
	banner bool // read() already returned the banner (offset != 0)
}

// NewNode returns the chardev face of e.
func NewNode(e *EC) *Node {
	tr := NewTransport(e)
	maxOut, maxIn := tr.Limits() // Ioctl refuses or clamps anything larger before using data
	return &Node{tr: tr, data: make([]byte, max(maxOut, maxIn))}
}

// Read is read() on the node: the first call returns
// "1.0.0\n<RO version>\n<RW version>\n<image>\n" from GET_VERSION, later calls 0 (EOF).
// A failed GET_VERSION returns its errno, as ec_device_read → ec_get_version →
// cros_ec_cmd_xfer_status does: the transport's (ETIMEDOUT, EAGAIN, ...) or the EC
// result's (cros_ec_map_error: EOPNOTSUPP, EACCES, ENOPROTOOPT, ...).
func (n *Node) Read(p []byte) (int, error) {
	if n.banner {
		return 0, nil
	}
	var resp [ec.VersionV0Size]byte
	m := ec.Msg{Command: cmdGetVersion, In: resp[:]}
	got, err := n.tr.Xfer(&m)
	if err != nil {
		return 0, errnoOf(err)
	}
	if m.Result != ec.ResSuccess {
		return 0, resultErrno(m.Result)
	}
	if got < ec.VersionV0Size {
		return 0, unix.EPROTO
	}
	image := [...]string{"unknown", "read-only", "read-write", "invalid"}[min(binary.LittleEndian.Uint32(resp[96:]), 3)]
	s := fmt.Sprintf("%s\n%s\n%s\n%s\n", chardevBanner, cString(resp[0:32]), cString(resp[32:64]), image)
	n.banner = true
	return copy(p, s), nil
}

// Ioctl is ioctl(fd, req, buf) on the node, buf being struct cros_ec_command_v2
// (20-byte header, then data) in host byte order, as cros_ec_chardev.c
// ec_device_ioctl_xcmd handles it: EINVAL for sizes above EC_MAX_MSG_BYTES, insize
// clamped to the EC's max response, EMSGSIZE for a request above its max request, then
// the command through the kernel model; on success the header (result, clamped
// insize) and insize bytes of data are copied back and the data length is returned.
// Any other req is ENOTTY.
func (n *Node) Ioctl(req uint, buf []byte) (int, error) {
	if req != iocXcmdV2 {
		return -1, unix.ENOTTY
	}
	if len(buf) < chardevHeader {
		return -1, unix.EFAULT
	}
	ne := binary.NativeEndian
	version, command := ne.Uint32(buf[0:]), ne.Uint32(buf[4:])
	outsize, insize := ne.Uint32(buf[8:]), ne.Uint32(buf[12:])
	if outsize > ec.MaxMsgBytes || insize > ec.MaxMsgBytes {
		return -1, unix.EINVAL
	}
	if len(buf) < chardevHeader+int(max(outsize, insize)) {
		return -1, unix.EFAULT
	}
	maxOut, maxIn := n.tr.Limits()
	insize = min(insize, uint32(maxIn)) // cros_ec_cmd_xfer clamps insize silently
	if int(outsize) > maxOut {
		return -1, unix.EMSGSIZE // "request of size %u is too big"
	}
	d := n.data[:max(outsize, insize)]
	clear(d) // kzalloc
	copy(d, buf[chardevHeader:chardevHeader+outsize])
	n.msg = ec.Msg{Command: uint16(command), Version: uint8(version), Out: d[:outsize], In: d[:insize], Result: 0xff}
	got, err := n.tr.Xfer(&n.msg)
	if err != nil {
		return -1, errnoOf(err)
	}
	ne.PutUint32(buf[12:], insize)
	ne.PutUint32(buf[16:], uint32(n.msg.Result))
	copy(buf[chardevHeader:], d[:insize])
	return got, nil
}

// Close releases nothing.
func (n *Node) Close() error { return nil }

// errnoOf returns the errno the kernel model's error carries (EIO if none).
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

// resultErrno maps an EC result to the errno cros_ec_cmd_xfer_status returns for it
// (cros_ec_proto.c cros_ec_map_error); 0 for success.
func resultErrno(r ec.Result) unix.Errno {
	switch r {
	case ec.ResSuccess:
		return 0
	case ec.ResInvalidCommand:
		return unix.EOPNOTSUPP
	case ec.ResError:
		return unix.EIO
	case ec.ResInvalidParam:
		return unix.EINVAL
	case ec.ResAccessDenied:
		return unix.EACCES
	case ec.ResInvalidResponse:
		return unix.EPROTO
	case ec.ResInvalidVersion:
		return unix.ENOPROTOOPT
	case ec.ResInvalidChecksum, ec.ResInvalidHeaderVersion, ec.ResInvalidHeaderCRC, ec.ResInvalidDataCRC:
		return unix.EBADMSG
	case ec.ResInProgress:
		return unix.EINPROGRESS
	case ec.ResUnavailable, ec.ResDupUnavailable:
		return unix.ENODATA
	case ec.ResTimeout:
		return unix.ETIMEDOUT
	case ec.ResOverflow:
		return unix.EOVERFLOW
	case ec.ResInvalidHeader, ec.ResRequestTruncated:
		return unix.EBADR
	case ec.ResResponseTooBig:
		return unix.EFBIG
	case ec.ResBusError:
		return unix.EFAULT
	case ec.ResBusy:
		return unix.EBUSY
	}
	return unix.EPROTO
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\x00")
	return s
}
