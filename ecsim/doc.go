// Package ecsim is a simulated ChromeOS EC that speaks the EC SPI protocol v3
// byte for byte like the STM32/NPCX firmware (chip/stm32/spi.c, chip/npcx/shi.c)
// and implements periph.io's spi.Conn, so package ecspi (and any other host
// implementation) can talk to it exactly as it talks to spidev.
//
// # Byte stream (per CS-asserted transaction)
//
// The first byte clocked out is RX_READY (0x78), then RECEIVING (0xF9) while the
// request arrives. A bad header (struct_version != 3, a v2 byte >= 0xDC,
// reserved != 0, 8+data_len > MaxRequest) or an expired receive stage
// (RxBudget, the firmware's 8192 µs per wait stage: bytes 0-2, 3-7, 8-end;
// chip/stm32/spi.c wait_for_bytes, SPI_CMD_RX_TIMEOUT_US) switches to
// RX_BAD_DATA (0xFB) until CS deasserts. Once the whole request is
// in, the EC clocks PROCESSING (0xFA) for Config.Processing measured on the wall
// clock from the last request byte, then FRAME_START (0xEC), the response
// packet, and PAST_END (0xED) for every further clock. CS re-asserted sooner
// than RearmGap after the previous deassert, or while a response dropped by an
// early CS deassert is still being produced, gets NOT_READY (0xFC) for the whole
// transaction.
//
// # Time
//
// Wire time is real: at Config.Clock Hz a transfer of n bytes takes n*8/Clock,
// byte i being clocked at start+(i+1)*8/Clock, and the caller waits for it as it
// waits for an SPI controller: WireSleep sleeps until the absolute end with
// clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) on the calling thread (which
// must then be scheduled again: that is where starvation strikes), WirePIO
// busy-waits. Clock 0 is instantaneous.
//
// # Two timing models (Config.Timing), because two sources disagree
//
// TimingKernelCommit (the default): the commit message of "platform/chrome:
// cros_ec_spi: Request the SPI thread be realtime" says known ECs drop a
// transfer if more than 8 ms pass from CS assertion until the transfer
// finishes. Every byte clocked later than CSBudget after CS assertion is
// answered 0xFB: the EC has abandoned the transaction (a response still being
// produced is produced and discarded, as on a CS deassert during processing,
// so the next transaction may see 0xFC). The host fails as Linux would: EAGAIN
// if it was still sending the request, "EC failed to respond in time"
// (ETIMEDOUT) if it was polling for 0xEC, a checksum or size error if it was
// reading the response.
//
// TimingFirmware: the firmware code we can read (chip/stm32/spi.c
// wait_for_bytes, chip/npcx/shi.c) times only the receive stages of the
// request; while the EC processes and sends, nothing times it, and the kernel
// polls for 0xEC with CS held for up to 200 ms. A host starved between its
// request and its polls is then late, not failed.
//
// The kernel-commit model is the default: it is the only published account of
// the failure the real-time change fixed, observed on real boards, and it is
// the stricter rule (a host that meets it meets the firmware-code rule too).
// Both apply the receive-stage budget.
//
// # The kernel's side of /dev/cros_ec
//
// NewTransport puts the EC behind a model of the kernel's cros_ec_cmd_xfer
// (cros_ec_proto.c): errnos, and IN_PROGRESS resolved inside by
// cros_ec_wait_until_complete's GET_COMMS_STATUS polls (50, 10 ms apart) with
// its quirky answer (the status command's 4 bytes, SUCCESS). NewNode serves
// that model as the character device does (cros_ec_chardev.c): read() gives
// the version banner, the CROS_EC_DEV_IOCXCMD_V2 ioctl runs a command; package
// ec/chardev opens it with OpenNode exactly as it opens /dev/cros_ec.
//
// # Faults
//
// Config.Faults injects, each by probability (seeded, allocation-free) and/or
// every Nth transaction: corrupted response checksum, no answer, late answer,
// RX_BAD_DATA, NOT_READY, IN_PROGRESS for N GET_COMMS_STATUS polls (with
// RESEND_RESPONSE), a chosen EC result, data_len larger than any insize, an EC
// reboot (MISO idles at 0xFF while it boots, uptime restarts, reset flags
// change) and a hang (the transfer blocks the caller, as a worker stuck in the
// kernel).
package ecsim
