package rt

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setThreadName sets the calling thread's comm (ps -L, top -H); errors are harmless and ignored.
func setThreadName(name string) {
	var b [16]byte
	copy(b[:15], name)
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
}

// stackPrefaultFrames × 4 KiB is how much goroutine stack the worker touches at start, so that the
// stack has already grown (and been copied) before the first job: 64 KiB, well above what an EC
// round trip through ecspi needs.
const stackPrefaultFrames = 16

// prefaultStack recurses n frames of 4 KiB each, writing every frame, so the goroutine's stack grows
// to hold them now rather than on the real-time path.
//
//go:noinline
func prefaultStack(n int) byte {
	var frame [4096]byte
	for i := 0; i < len(frame); i += 256 {
		frame[i] = byte(n + i)
	}
	if n <= 1 {
		return frame[n&255]
	}
	return frame[(n*7)&4095] + prefaultStack(n-1)
}

// lockedMemory returns VmLck from /proc/self/status in KiB (0 if unreadable).
func lockedMemory() int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmLck:")); ok {
			n, _ := strconv.Atoi(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))))
			return n
		}
	}
	return 0
}
