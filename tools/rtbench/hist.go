package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ec-exporter/ec_exporter/tools/internal/latency"
)

// histBuckets is the number of 1 µs buckets (100 ms); larger values count as overflows.
const histBuckets = 100_000

// hist is a cyclictest-style latency histogram with 1 µs buckets. Record does not allocate; one
// goroutine records, and the histogram is read after recording stopped.
type hist struct {
	buckets   []uint64
	count     uint64
	overflows uint64
	min, max  time.Duration
	sum       time.Duration
}

func newHist() *hist { return &hist{buckets: make([]uint64, histBuckets), min: -1} }

func (h *hist) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	us := int(d / time.Microsecond)
	if us < len(h.buckets) {
		h.buckets[us]++
	} else {
		h.overflows++
	}
	h.count++
	h.sum += d
	if h.min < 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
}

// write writes the histogram in cyclictest's -h output format (non-empty buckets only).
func (h *hist) write(w io.Writer, comment string) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %s\n", comment)
	for us, n := range h.buckets {
		if n != 0 {
			fmt.Fprintf(bw, "%06d %06d\n", us, n)
		}
	}
	var avg, mn time.Duration
	if h.count > 0 {
		avg = h.sum / time.Duration(h.count)
		mn = h.min
	}
	fmt.Fprintf(bw, "# Total: %09d\n", h.count)
	fmt.Fprintf(bw, "# Min Latencies: %05d\n", mn/time.Microsecond)
	fmt.Fprintf(bw, "# Avg Latencies: %05d\n", avg/time.Microsecond)
	fmt.Fprintf(bw, "# Max Latencies: %05d\n", h.max/time.Microsecond)
	fmt.Fprintf(bw, "# Histogram Overflows: %05d\n", h.overflows)
	return bw.Flush()
}

func (h *hist) writeFile(path, comment string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := h.write(f, comment); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// summary is what report prints for one histogram (all in µs, bucket lower bounds like cyclictest).
type summary struct {
	count, overflows         uint64
	p50, p99, p999, max, avg float64
}

// readHist parses cyclictest -h output (one thread) or rtbench's own files.
func readHist(path string) (summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return summary{}, err
	}
	defer f.Close()
	d, err := latency.ParseCyclictest(f)
	if err != nil {
		return summary{}, fmt.Errorf("%s: %w", path, err)
	}
	return summary{count: d.Count(), overflows: d.Overflows, p50: d.Rank(0.50), p99: d.Rank(0.99), p999: d.Rank(0.999), max: d.Max, avg: d.Avg}, nil
}
