// Package ec speaks the ChromeOS Embedded Controller host-command protocol:
// v3 request/response packets and their checksums, EC result codes as Go
// errors, typed read-only commands, and the Transport interface that the
// chardev (/dev/cros_ec*), SPI (package ecspi) and simulated (package ecsim)
// transports implement.
//
// Facts come from include/ec_commands.h (chrome-ec) and the Linux drivers
// drivers/platform/chrome/cros_ec_{proto,spi,chardev}.c; see
// shared/reference/ec-protocol.md for the byte-level rules.
package ec
