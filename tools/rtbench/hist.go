package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
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
	counts := map[int]uint64{}
	var s summary
	var total uint64
	maxSeen := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			k, v, ok := strings.Cut(rest, ":")
			if !ok {
				continue
			}
			fields := strings.Fields(v)
			if len(fields) == 0 {
				continue
			}
			n, err := strconv.ParseFloat(fields[0], 64)
			if err != nil {
				continue
			}
			switch strings.TrimSpace(k) {
			case "Max Latencies":
				s.max, maxSeen = n, true
			case "Avg Latencies":
				s.avg = n
			case "Histogram Overflows":
				s.overflows = uint64(n)
			}
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		us, err1 := strconv.Atoi(fields[0])
		n, err2 := strconv.ParseUint(fields[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue // cyclictest's summary lines ("T: 0 (...)")
		}
		counts[us] += n
		total += n
	}
	if err := sc.Err(); err != nil {
		return summary{}, err
	}
	if !maxSeen {
		return summary{}, fmt.Errorf("%s: no \"# Max Latencies\" line: not a cyclictest -h histogram", path)
	}
	s.count = total + s.overflows
	if s.count == 0 {
		return summary{}, fmt.Errorf("%s: empty histogram", path)
	}
	keys := make([]int, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	pct := func(q float64) float64 {
		rank := uint64(math.Ceil(q * float64(s.count))) // nearest rank
		if rank == 0 {
			rank = 1
		}
		var cum uint64
		for _, k := range keys {
			cum += counts[k]
			if cum >= rank {
				return float64(k)
			}
		}
		return s.max // the rank falls among the overflows
	}
	s.p50, s.p99, s.p999 = pct(0.50), pct(0.99), pct(0.999)
	return s, nil
}
