package ec

import "strconv"

// Result is an EC status code (enum ec_status) returned in a response header.
type Result uint16

// EC result codes, named as in ec_commands.h.
const (
	ResSuccess              Result = 0
	ResInvalidCommand       Result = 1
	ResError                Result = 2
	ResInvalidParam         Result = 3
	ResAccessDenied         Result = 4
	ResInvalidResponse      Result = 5
	ResInvalidVersion       Result = 6
	ResInvalidChecksum      Result = 7
	ResInProgress           Result = 8
	ResUnavailable          Result = 9
	ResTimeout              Result = 10
	ResOverflow             Result = 11
	ResInvalidHeader        Result = 12
	ResRequestTruncated     Result = 13
	ResResponseTooBig       Result = 14
	ResBusError             Result = 15
	ResBusy                 Result = 16
	ResInvalidHeaderVersion Result = 17
	ResInvalidHeaderCRC     Result = 18
	ResInvalidDataCRC       Result = 19
	ResDupUnavailable       Result = 20
)

var resultNames = [...]string{
	"SUCCESS", "INVALID_COMMAND", "ERROR", "INVALID_PARAM", "ACCESS_DENIED",
	"INVALID_RESPONSE", "INVALID_VERSION", "INVALID_CHECKSUM", "IN_PROGRESS",
	"UNAVAILABLE", "TIMEOUT", "OVERFLOW", "INVALID_HEADER", "REQUEST_TRUNCATED",
	"RESPONSE_TOO_BIG", "BUS_ERROR", "BUSY", "INVALID_HEADER_VERSION",
	"INVALID_HEADER_CRC", "INVALID_DATA_CRC", "DUP_UNAVAILABLE",
}

// Name returns the ec_commands.h name without the EC_RES_ prefix, or "UNKNOWN_<n>".
func (r Result) Name() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "UNKNOWN_" + strconv.Itoa(int(r))
}

// Error describes the result as the EC named it.
func (r Result) Error() string {
	return "ec: EC returned EC_RES_" + r.Name() + " (" + strconv.Itoa(int(r)) + ")"
}

// Cause classifies every EC result as CauseECResult.
func (r Result) Cause() Cause { return CauseECResult }
