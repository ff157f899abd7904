package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A cyclictest -h output (shortened), as rt-tests 2.x prints it with -q.
const cyclictestOut = `# /dev/cpu_dma_latency set to 0us
# Histogram
000000 000000
000001 000000
000017 000090
000018 000005
000050 000004
000200 000000
# Total: 000000100
# Min Latencies: 00017
# Avg Latencies: 00019
# Max Latencies: 00250
# Histogram Overflows: 00001
# Histogram Overflow at cycle number:
# Thread 0: 01234
T: 0 ( 1234) P:50 I:1000 C:    100 Min:     17 Act:   18 Avg:   19 Max:     250
`

func TestReadCyclictestHist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cyc.txt")
	if err := os.WriteFile(path, []byte(cyclictestOut), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := readHist(path)
	if err != nil {
		t.Fatal(err)
	}
	// 100 samples: 90 at 17 µs, 5 at 18, 4 at 50, 1 overflow (max 250).
	want := summary{count: 100, overflows: 1, p50: 17, p99: 50, p999: 250, max: 250, avg: 19}
	if s != want {
		t.Errorf("readHist = %+v, want %+v", s, want)
	}
}

func TestHistRoundTrip(t *testing.T) {
	h := newHist()
	for i := range 1000 {
		h.record(time.Duration(i) * time.Microsecond) // 0..999 µs
	}
	h.record(-time.Microsecond)      // clamps to 0
	h.record(200 * time.Millisecond) // overflow
	path := filepath.Join(t.TempDir(), "x.hist")
	if err := h.writeFile(path, "test"); err != nil {
		t.Fatal(err)
	}
	s, err := readHist(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.count != 1002 || s.overflows != 1 || s.max != 200000 || s.p50 != 499 || s.p99 != 990 {
		t.Errorf("round trip summary %+v", s)
	}
}

func TestReadHistRejectsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"empty": "", "nomax": "000001 000002\n", "zero": "# Max Latencies: 00000\n"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readHist(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err %v, want an error naming the file", name, err)
		}
	}
}
