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

// entersyscall and exitsyscall are the runtime's system call bracket, what syscall.Syscall6 wraps
// around RawSyscall6; the runtime keeps these linknames for external users (go.dev/issue/67401).
//
//go:linkname entersyscall runtime.entersyscall
func entersyscall()

//go:linkname exitsyscall runtime.exitsyscall
func exitsyscall()

// futexWait sleeps in the kernel while *addr == val, until woken or until the absolute
// CLOCK_MONOTONIC deadline ts (nil = none). FUTEX_WAIT_BITSET takes an absolute timeout on
// CLOCK_MONOTONIC, the same hrtimer sleep as clock_nanosleep(TIMER_ABSTIME).
//
// It is syscall.Syscall6 with one addition: back, the CLOCK_MONOTONIC time read on the thread as
// soon as the kernel returned to user space, before exitsyscall gives the goroutine a P again.
// back − deadline is cyclictest's measure (clock_nanosleep returns, clock_gettime); the time from
// back to the next Go statement is the runtime's own share. The wait is inside the runtime's
// syscall bracket, never a bare RawSyscall: a goroutine blocked in a raw syscall keeps its P
// "running", and a GC stop-the-world and sysmon's preemption would wait for it or interrupt it.
// Everything between entersyscall and exitsyscall is nosplit (RawSyscall6, nanotime).
//
//go:nosplit
func futexWait(addr *uint32, val uint32, ts *unix.Timespec) (e unix.Errno, back int64) {
	entersyscall()
	_, _, e = unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWaitBitset|futexPrivateFlag,
		uintptr(val), uintptr(unsafe.Pointer(ts)), 0, futexBitsetAll)
	back = nanotime()
	exitsyscall()
	return e, back
}

// nanosleepUntil is clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ts) with the same return
// stamp as futexWait (the fallback when futex is unusable).
//
//go:nosplit
func nanosleepUntil(ts *unix.Timespec) (back int64) {
	entersyscall()
	unix.RawSyscall6(unix.SYS_CLOCK_NANOSLEEP, unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	back = nanotime()
	exitsyscall()
	return back
}

// futexWakeOne wakes the worker if it sleeps on addr.
func futexWakeOne(addr *uint32) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake|futexPrivateFlag, 1, 0, 0, 0)
}
