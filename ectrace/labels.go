package ectrace

import "bytes"

// Commands are the command label values with their own series, the host commands the
// kernel sends most on a Chromebook (keyboard/MKBP events, sensors, charger, USB-PD)
// and the ones ectool and this exporter send; everything else is "other".
var Commands = []string{
	"hello", "get_version", "get_protocol_info", "get_comms_status", "get_next_event",
	"motion_sense_cmd", "charge_state", "usb_pd_control", "pd_host_event_status", "other",
}

// CommandOther is the index of "other" in Commands.
var CommandOther = len(Commands) - 1

var commandIndex = func() map[string]int {
	m := map[string]int{}
	for i, c := range Commands[:CommandOther] {
		m["EC_CMD_"+string(bytes.ToUpper([]byte(c)))] = i
	}
	return m
}()

// CommandLabel returns the index in Commands of a kernel command symbol such as
// "EC_CMD_GET_NEXT_EVENT"; unknown names and hex codes are CommandOther.
func CommandLabel(sym []byte) int {
	if i, ok := commandIndex[string(sym)]; ok {
		return i
	}
	return CommandOther
}

// Class is what kind of outcome a transport call had.
type Class uint8

// Classes of outcomes, the "class" label.
const (
	ClassOK        Class = iota // EC_RES_SUCCESS, or EC_RES_IN_PROGRESS (the core then polls GET_COMMS_STATUS)
	ClassECResult               // the EC answered with an error result: the link worked
	ClassTransport              // the transport failed: negative retval (timeout, checksum, bus error)
	NumClasses
)

var classNames = [...]string{"ok", "ec_result", "transport"}

func (c Class) String() string { return classNames[c] }

// Results are the result label values: EC_RES_* names without the prefix in lower
// case (cros_ec_trace.c EC_RESULT, enum ec_status), the errno names a transport
// returns (as asm-generic numbers them, x86/arm/arm64), and the catch-alls.
var Results = []string{
	// EC results, index = enum ec_status value.
	"success", "invalid_command", "error", "invalid_param", "access_denied",
	"invalid_response", "invalid_version", "invalid_checksum", "in_progress",
	"unavailable", "timeout", "overflow", "invalid_header", "request_truncated",
	"response_too_big", "bus_error", "busy", "invalid_header_version",
	"invalid_header_crc", "invalid_data_crc", "dup_unavailable",
	"ec_result_other",
	// Transport errnos (negative retval).
	"etimedout", "ebadmsg", "eio", "eagain", "emsgsize", "enospc", "eproto",
	"einval", "enomem", "eopnotsupp", "errno_other",
}

const (
	resultInProgress = 8
	resultECOther    = 21
	firstErrno       = 22
	resultErrnoOther = 32
	errnoTimedOut    = 110
	errnoBadMsg      = 74
	errnoIO          = 5
	errnoAgain       = 11
	errnoMsgSize     = 90
	errnoNoSpc       = 28
	errnoProto       = 71
	errnoInval       = 22
	errnoNoMem       = 12
	errnoNotSupp     = 95
)

var errnos = [...]int32{errnoTimedOut, errnoBadMsg, errnoIO, errnoAgain, errnoMsgSize, errnoNoSpc, errnoProto, errnoInval, errnoNoMem, errnoNotSupp}

var resultIndex = func() map[string]int {
	m := map[string]int{}
	for i, r := range Results[:resultECOther] {
		m["EC_RES_"+string(bytes.ToUpper([]byte(r)))] = i
	}
	return m
}()

// Outcome classifies a done event: its class and its index in Results.
func Outcome(result []byte, retval int32) (Class, int) {
	if retval < 0 {
		for i, e := range errnos {
			if -retval == e {
				return ClassTransport, firstErrno + i
			}
		}
		return ClassTransport, resultErrnoOther
	}
	i, ok := resultIndex[string(result)]
	switch {
	case !ok:
		return ClassECResult, resultECOther
	case i == 0 || i == resultInProgress:
		return ClassOK, i
	}
	return ClassECResult, i
}
