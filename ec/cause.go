package ec

import (
	"context"
	"errors"
	"os"
)

// Cause is the bounded classification of a failed command, used as a metric label.
type Cause uint8

// Failure causes. CauseNone means success.
const (
	CauseNone        Cause = iota
	CauseTimeout           // no answer in time (EC silent, host deadline, ETIMEDOUT)
	CauseChecksum          // response checksum wrong (EBADMSG)
	CauseBadResponse       // malformed response: version, size, framing (EMSGSIZE, EPROTO)
	CauseECResult          // the EC answered with a non-success result
	CauseNotReady          // EC not ready: 0xFB/0xFC/0xED in the request phase, EAGAIN, IN_PROGRESS exhausted
	CauseIO                // any other I/O error from the bus or the kernel
	CauseBusy              // the worker was still busy (queue full or previous transfer hung)
	// CauseInProgress: the EC answered IN_PROGRESS, the kernel polled GET_COMMS_STATUS
	// until it was done and returned the status command's 4 bytes with result SUCCESS
	// in place of the command's answer (cros_ec_proto.c cros_ec_send_command).
	CauseInProgress
	numCauses
)

// NumCauses sizes arrays indexed by Cause (CauseNone included).
const NumCauses = int(numCauses)

// Causes lists every failure cause, in label order, so counters can start at 0.
var Causes = []Cause{CauseTimeout, CauseChecksum, CauseBadResponse, CauseECResult, CauseNotReady, CauseIO, CauseBusy, CauseInProgress}

var causeNames = [...]string{"none", "timeout", "checksum", "bad_response", "ec_result", "not_ready", "io", "busy", "in_progress"}

// String returns the metric label value of c.
func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "io"
}

// Error is a classified failure with the operation that failed.
type Error struct {
	Cause Cause
	Op    string // what failed, e.g. "ecspi: read frame"
	Err   error  // underlying error, may be nil
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Op
	}
	return e.Op + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// causer is implemented by errors that know their Cause (Result, *Error, transport errors).
type causer interface{ Cause() Cause }

// CauseOf classifies err: CauseNone for nil, the innermost-first Cause a wrapped error
// reports, CauseTimeout for deadlines, CauseIO otherwise.
func CauseOf(err error) Cause {
	if err == nil {
		return CauseNone
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Cause
	}
	var c causer
	if errors.As(err, &c) {
		return c.Cause()
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return CauseTimeout
	}
	return CauseIO
}
