package collector

import (
	"bytes"
	"errors"
	"strconv"
)

// Record is one /dev/kmsg record: "prio,seq,ts_usec,flags[,...];text\n[ KEY=value\n...]".
type Record struct {
	Facility int    // prio >> 3; 0 is the kernel
	Level    int    // prio & 7; 3 err, 4 warning
	Seq      uint64 // record sequence number
	TimeUsec uint64 // monotonic timestamp in microseconds
	Text     []byte // message text without the trailing newline and continuation lines; aliases the input
}

// errRecord is returned for bytes that are not a /dev/kmsg record.
var errRecord = errors.New("kmsg: malformed record")

// ParseRecord parses one record as read() returns it from /dev/kmsg. Unknown extra
// header fields (caller=, future ones) are ignored. Text keeps the kernel's \xNN escapes.
func ParseRecord(b []byte) (Record, error) {
	var r Record
	semi := bytes.IndexByte(b, ';')
	if semi < 0 {
		return r, errRecord
	}
	hdr, text := b[:semi], b[semi+1:]
	var fields [4][]byte
	n := 0
	for n < 4 {
		i := bytes.IndexByte(hdr, ',')
		if i < 0 {
			fields[n] = hdr
			n++
			break
		}
		fields[n] = hdr[:i]
		hdr = hdr[i+1:]
		n++
	}
	if n < 3 {
		return r, errRecord
	}
	prio, err := strconv.ParseUint(string(fields[0]), 10, 32)
	if err != nil {
		return r, errRecord
	}
	if r.Seq, err = strconv.ParseUint(string(fields[1]), 10, 64); err != nil {
		return r, errRecord
	}
	if r.TimeUsec, err = strconv.ParseUint(string(fields[2]), 10, 64); err != nil {
		return r, errRecord
	}
	r.Facility, r.Level = int(prio>>3), int(prio&7)
	if i := bytes.IndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	}
	r.Text = text
	return r, nil
}

// Kind is the bounded class of a cros-ec kernel error, the "kind" label.
type Kind uint8

// Kinds of kernel errors.
const (
	KindTimeout     Kind = iota // the EC did not answer in time
	KindChecksum                // bad packet checksum
	KindTransfer                // bus transfer failed (spi/i2c/ishtp/rpmsg/uart write)
	KindProtocol                // malformed, oversized or unexpected packet
	KindECResult                // the EC answered with an error result
	KindUnreachable             // the core could not talk to the EC at all (query failed)
	KindPanic                   // the EC reported a panic
	KindOther                   // any other cros-ec warning or error
	numKinds
)

var kindNames = [...]string{"timeout", "checksum", "transfer", "protocol", "ec_result", "unreachable", "panic", "other"}

// String returns the label value of k.
func (k Kind) String() string { return kindNames[k] }

// Drivers are the driver label values: the kernel's driver names of the cros-ec transports,
// the cros-ec-dev child, and cros_ec for core lines printed without a device prefix.
var Drivers = []string{"cros-ec-spi", "cros-ec-i2c", "cros_ec_lpcs", "cros-ec-uart", "cros-ec-rpmsg", "cros_ec_ishtp", "cros-ec-dev", "cros_ec"}

// driverCore is the label of lines without a device prefix.
var driverCore = len(Drivers) - 1

// rules map message prefixes (the text after "driver device: ") to kinds, from the
// drivers' format strings (shared/reference/kernel-log.md §2).
var rules = []struct {
	prefix string
	kind   Kind
}{
	{"EC failed to respond in time", KindTimeout},
	{"EC response timed out", KindTimeout},
	{"Timed out for response to host message", KindTimeout},
	{"rpmsg send timeout", KindTimeout},
	{"Timed out waiting for response", KindTimeout},
	{"bad packet checksum", KindChecksum},
	{"Bad packet checksum", KindChecksum},
	{"cs-deassert spi transfer failed", KindTransfer},
	{"spi transfer failed", KindTransfer},
	{"i2c transfer failed", KindTransfer},
	{"failed to get response", KindTransfer},
	{"ishtp_cl_send error", KindTransfer},
	{"rpmsg send failed", KindTransfer},
	{"Unable to write data", KindTransfer},
	{"packet too long", KindProtocol},
	{"Packet too long", KindProtocol},
	{"Resp too long", KindProtocol},
	{"response of ", KindProtocol},
	{"response data size is too large", KindProtocol},
	{"invalid buffer sizes", KindProtocol},
	{"missing EC transfer API", KindProtocol},
	{"request of size", KindProtocol},
	{"passthru rq of size", KindProtocol},
	{"EC responded to v2 hello with bad result", KindProtocol},
	{"Invalid host event size", KindProtocol},
	{"data size ", KindProtocol},
	{"Received buffer size", KindProtocol},
	{"Incoming payload size", KindProtocol},
	{"Outgoing payload size", KindProtocol},
	{"Dropping old response token", KindProtocol},
	{"Previous firmware message not yet processed", KindProtocol},
	{"Invalid channel=", KindProtocol},
	{"Receiving buffer is null", KindProtocol},
	{"rpmsg received empty response", KindProtocol},
	{"rpmsg received invalid type", KindProtocol},
	{"received length ", KindProtocol},
	{"Error response received", KindProtocol},
	{"Bytes received out of band", KindProtocol},
	{"EC responded to v2 hello with error", KindECResult},
	{"firmware returned status", KindECResult},
	{"EC version unknown and query failed", KindUnreachable},
	{"Cannot identify the EC", KindUnreachable},
	{"CrOS EC Panic Reported", KindPanic},
}

// errnoRules are messages that end in ": <negative errno>", classified by the errno.
var errnoRules = []string{"Transfer error ", "failed to retrieve wake mask", "cannot get EC features"}

// xferErrorPrefix starts the pre-2020 core message "Command xfer error (err:-110)".
const xferErrorPrefix = "Command xfer error (err:"

// kindOfErrno classifies a negative errno the cros-ec drivers return.
func kindOfErrno(e int) Kind {
	switch -e {
	case 110: // ETIMEDOUT
		return KindTimeout
	case 74: // EBADMSG
		return KindChecksum
	case 5, 11, 14: // EIO, EAGAIN, EFAULT (bus error)
		return KindTransfer
	case 90, 28, 71, 53, 27, 75: // EMSGSIZE, ENOSPC, EPROTO, EBADR, EFBIG, EOVERFLOW
		return KindProtocol
	case 95, 22, 13, 92, 61, 16, 115: // EOPNOTSUPP, EINVAL, EACCES, ENOPROTOOPT, ENODATA, EBUSY, EINPROGRESS
		return KindECResult
	}
	return KindOther
}

// Classify returns the driver (index into Drivers) and kind of a kernel record, or
// ok=false when it is not a cros-ec warning or error. Only facility 0 (kernel) records at
// level warning or worse count: userspace can write to /dev/kmsg but never as facility 0.
func Classify(r Record) (driver int, kind Kind, ok bool) {
	if r.Facility != 0 || r.Level > 4 {
		return 0, 0, false
	}
	return classifyText(r.Text)
}

func classifyText(text []byte) (driver int, kind Kind, ok bool) {
	if bytes.HasPrefix(text, []byte("EC detected sleep transition timeout")) {
		return driverCore, KindOther, true
	}
	sp := bytes.IndexByte(text, ' ')
	if sp < 0 {
		return 0, 0, false
	}
	name := text[:sp]
	var msg []byte
	if bytes.HasSuffix(name, []byte(":")) { // pr_err("cros_ec_lpcs: ...")
		name, msg = name[:len(name)-1], text[sp+1:]
	} else {
		rest := text[sp+1:]
		i := bytes.Index(rest, []byte(": "))
		if i < 0 {
			return 0, 0, false
		}
		msg = rest[i+2:]
	}
	driver = -1
	for i, d := range Drivers[:driverCore] {
		if string(name) == d {
			driver = i
			break
		}
	}
	if driver < 0 {
		return 0, 0, false
	}
	for _, r := range rules {
		if bytes.HasPrefix(msg, []byte(r.prefix)) {
			return driver, r.kind, true
		}
	}
	// cros_ec_proto.c cros_ec_cmd_xfer_status before its 2020 rework printed every failed
	// in-kernel command as dev_err("Command xfer error (err:%d)\n", ret), errno in parentheses.
	if bytes.HasPrefix(msg, []byte(xferErrorPrefix)) {
		rest := msg[len(xferErrorPrefix):]
		if i := bytes.IndexByte(rest, ')'); i >= 0 {
			if e, err := strconv.Atoi(string(rest[:i])); err == nil && e < 0 {
				return driver, kindOfErrno(e), true
			}
		}
		return driver, KindOther, true
	}
	for _, p := range errnoRules {
		if bytes.HasPrefix(msg, []byte(p)) {
			if i := bytes.LastIndex(msg, []byte(": ")); i >= 0 {
				if e, err := strconv.Atoi(string(bytes.TrimSpace(msg[i+2:]))); err == nil && e < 0 {
					return driver, kindOfErrno(e), true
				}
			}
			return driver, KindOther, true
		}
	}
	return driver, KindOther, true
}
