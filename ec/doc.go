// Package ec speaks the ChromeOS Embedded Controller host-command protocol:
// v3 request/response packets and their checksums, EC result codes as Go
// errors, typed read-only commands, and the Transport interface that the
// chardev (/dev/cros_ec*, package ec/chardev), SPI (package ecspi) and
// simulated (package ecsim) transports implement.
//
// A Device runs commands over a Transport with the kernel's IN_PROGRESS rule
// (bounded GET_COMMS_STATUS polling, cros_ec_proto.c cros_ec_send_command; over
// /dev/cros_ec the kernel does it and the Device does not poll on top) and with
// bounded re-sends when the transport finds the EC not ready (ours: the kernel
// returns -EAGAIN to the caller; see RetryPolicy), counts every retry, and decodes
// the typed answers (Hello, Version, BuildInfo, ChipInfo, ProtocolInfo,
// CmdVersions, CommsStatus, Features, UptimeInfo). A Device belongs to one
// worker thread: it is not safe for concurrent use. Hello allocates nothing.
//
// An EC that does not implement a command answers EC_RES_INVALID_COMMAND;
// IsUnsupported tells that normal answer from a failure. Failures carry a
// bounded Cause (CauseOf) for metrics.
//
// Facts come from include/ec_commands.h (chrome-ec) and the Linux drivers
// drivers/platform/chrome/cros_ec_{proto,spi,chardev}.c; see
// shared/reference/ec-protocol.md for the byte-level rules.
package ec
