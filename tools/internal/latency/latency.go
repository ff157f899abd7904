// Package latency is the benchmark tools' latency distribution: cyclictest -h histograms and
// Prometheus native histograms read into the same buckets, with quantiles and tail shares.
package latency

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
)

// Bucket counts N values in (Lo, Hi] µs.
type Bucket struct {
	Lo, Hi float64
	N      uint64
}

// Dist is a latency distribution in µs: buckets in increasing order, and the maximum when the
// source knows it exactly (cyclictest); otherwise Max is the top of the highest non-empty bucket.
type Dist struct {
	Buckets   []Bucket
	Max       float64
	MaxExact  bool
	Overflows uint64  // cyclictest: values beyond its histogram (in the last bucket)
	Avg       float64 // cyclictest's "# Avg Latencies" (0 when not given)
}

// Count returns the number of values.
func (d Dist) Count() uint64 {
	var n uint64
	for _, b := range d.Buckets {
		n += b.N
	}
	return n
}

// Quantile returns the q-quantile (0 < q ≤ 1) in µs, interpolated linearly inside its bucket
// (like PromQL's histogram_quantile); NaN for an empty distribution.
func (d Dist) Quantile(q float64) float64 {
	total := d.Count()
	if total == 0 {
		return math.NaN()
	}
	rank := q * float64(total)
	var cum float64
	for _, b := range d.Buckets {
		if b.N == 0 {
			continue
		}
		if cum+float64(b.N) >= rank {
			v := b.Lo + (b.Hi-b.Lo)*(rank-cum)/float64(b.N)
			if d.MaxExact && v > d.Max {
				v = d.Max
			}
			return v
		}
		cum += float64(b.N)
	}
	return d.Max
}

// Rank returns the lower bound of the bucket holding the nearest-rank q-quantile (cyclictest's
// convention: a whole µs, never interpolated), or Max when it falls among the overflows.
func (d Dist) Rank(q float64) float64 {
	total := d.Count()
	rank := max(uint64(math.Ceil(q*float64(total))), 1)
	var cum uint64
	for i, b := range d.Buckets {
		cum += b.N
		if cum >= rank {
			if d.Overflows > 0 && i == len(d.Buckets)-1 {
				return d.Max
			}
			return b.Lo
		}
	}
	return d.Max
}

// ShareAbove returns the fraction of values above x µs, a bucket holding x counted in proportion.
func (d Dist) ShareAbove(x float64) float64 {
	total := d.Count()
	if total == 0 {
		return math.NaN()
	}
	var above float64
	for _, b := range d.Buckets {
		switch {
		case b.Lo >= x:
			above += float64(b.N)
		case b.Hi > x:
			above += float64(b.N) * (b.Hi - x) / (b.Hi - b.Lo)
		}
	}
	return above / float64(total)
}

// ParseCyclictest reads cyclictest's -h output for one thread ("%06d %06d" lines of µs and
// count, then "# Max Latencies", "# Histogram Overflows"). A value counted in line k lies in
// [k, k+1) µs (cyclictest truncates); overflows go to one bucket up to the maximum.
func ParseCyclictest(r io.Reader) (Dist, error) {
	var d Dist
	maxSeen := false
	counts := map[int]uint64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			k, v, ok := strings.Cut(rest, ":")
			fields := strings.Fields(v)
			if !ok || len(fields) == 0 {
				continue
			}
			n, err := strconv.ParseFloat(fields[0], 64)
			if err != nil {
				continue
			}
			switch strings.TrimSpace(k) {
			case "Max Latencies":
				d.Max, maxSeen = n, true
			case "Avg Latencies":
				d.Avg = n
			case "Histogram Overflows":
				d.Overflows = uint64(n)
			}
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			continue
		}
		us, err1 := strconv.Atoi(fields[0])
		n, err2 := strconv.ParseUint(fields[1], 10, 64)
		if err1 != nil || err2 != nil || us < 0 {
			continue // summary lines ("T: 0 (...)")
		}
		counts[us] += n
	}
	if err := sc.Err(); err != nil {
		return Dist{}, fmt.Errorf("latency: read cyclictest output: %w", err)
	}
	if !maxSeen {
		return Dist{}, fmt.Errorf("latency: no \"# Max Latencies\" line: not cyclictest -h output (run it with -h<N> -q)")
	}
	keys := make([]int, 0, len(counts))
	top := 0
	for k, n := range counts {
		keys = append(keys, k)
		if n > 0 {
			top = max(top, k+1)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		d.Buckets = append(d.Buckets, Bucket{Lo: float64(k), Hi: float64(k + 1), N: counts[k]})
	}
	if d.Overflows > 0 {
		d.Buckets = append(d.Buckets, Bucket{Lo: float64(top), Hi: max(d.Max+1, float64(top)+1), N: d.Overflows})
	}
	d.MaxExact = true // to the µs, truncated like the buckets
	if d.Count() == 0 {
		return Dist{}, fmt.Errorf("latency: cyclictest histogram is empty")
	}
	return d, nil
}

// NativeDelta returns the distribution of the values a Prometheus native histogram (positive
// buckets only, as latencies have) gained from before to after, in µs. before may be nil (all
// of after). It fails when after is not a native histogram or has fewer counts than before
// (the exporter restarted).
func NativeDelta(before, after *dto.Histogram) (Dist, error) {
	a, err := nativeCounts(after)
	if err != nil {
		return Dist{}, err
	}
	b := map[int]int64{}
	if before != nil {
		if b, err = nativeCounts(before); err != nil {
			return Dist{}, err
		}
		if before.GetSchema() != after.GetSchema() {
			return Dist{}, fmt.Errorf("latency: schema changed from %d to %d", before.GetSchema(), after.GetSchema())
		}
	}
	base := math.Exp2(math.Exp2(-float64(after.GetSchema())))
	zt := after.GetZeroThreshold() * 1e6
	var d Dist
	if z := int64(after.GetZeroCount()) - int64(before.GetZeroCount()); z < 0 {
		return Dist{}, fmt.Errorf("latency: zero bucket went down: the histogram was reset")
	} else if z > 0 {
		d.Buckets = append(d.Buckets, Bucket{Lo: 0, Hi: zt, N: uint64(z)})
	}
	keys := make([]int, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		n := a[k] - b[k]
		if n < 0 {
			return Dist{}, fmt.Errorf("latency: bucket %d went down: the histogram was reset", k)
		}
		if n == 0 {
			continue
		}
		hi := math.Pow(base, float64(k)) * 1e6
		d.Buckets = append(d.Buckets, Bucket{Lo: hi / base, Hi: hi, N: uint64(n)})
		d.Max = hi
	}
	for k := range b {
		if _, ok := a[k]; !ok && b[k] > 0 {
			return Dist{}, fmt.Errorf("latency: bucket %d vanished: the histogram was reset", k)
		}
	}
	return d, nil
}

// nativeCounts decodes the positive spans and delta-encoded counts of h into absolute counts.
func nativeCounts(h *dto.Histogram) (map[int]int64, error) {
	if h == nil || (len(h.GetPositiveSpan()) == 0 && h.GetZeroThreshold() == 0 && h.Schema == nil) {
		return nil, fmt.Errorf("latency: not a native histogram: scrape with the protobuf format from an exporter that exposes native buckets")
	}
	out := map[int]int64{}
	key := 0
	var count int64
	i := 0
	deltas := h.GetPositiveDelta()
	for si, s := range h.GetPositiveSpan() {
		if si == 0 {
			key = int(s.GetOffset())
		} else {
			key += int(s.GetOffset())
		}
		for range s.GetLength() {
			if i >= len(deltas) {
				return nil, fmt.Errorf("latency: native histogram has fewer deltas (%d) than its spans say", len(deltas))
			}
			count += deltas[i]
			i++
			if count < 0 {
				return nil, fmt.Errorf("latency: native histogram bucket %d has a negative count", key)
			}
			out[key] = count
			key++
		}
	}
	return out, nil
}
