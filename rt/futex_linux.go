package rt

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// futex(2) operations (include/uapi/linux/futex.h); x/sys/unix does not name them.
const (
	futexWake        = 1
	futexWaitBitset  = 9
	futexPrivateFlag = 128
	futexBitsetAll   = 0xffffffff
	noDeadline       = int64(-1)
)

// futexWait sleeps in the kernel while *addr == val, until woken or until the absolute
// CLOCK_MONOTONIC deadline (ns; noDeadline = none). FUTEX_WAIT_BITSET takes an absolute timeout on
// CLOCK_MONOTONIC, the same hrtimer sleep as clock_nanosleep(TIMER_ABSTIME). It goes through
// unix.Syscall6 (entersyscall/exitsyscall), never RawSyscall: a P blocked in a raw syscall would
// stall GC stop-the-world. ts must stay put during the call (it lives in the Worker).
func futexWait(addr *uint32, val uint32, deadline int64, ts *unix.Timespec) unix.Errno {
	var tsp unsafe.Pointer
	if deadline != noDeadline {
		*ts = unix.NsecToTimespec(deadline)
		tsp = unsafe.Pointer(ts)
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitBitset|futexPrivateFlag,
		uintptr(val), uintptr(tsp), 0, futexBitsetAll)
	return e
}

// futexWakeOne wakes the worker if it sleeps on addr.
func futexWakeOne(addr *uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake|futexPrivateFlag, 1, 0, 0, 0)
}
