// Package hist is the latency histogram every exporter metric uses: classic buckets
// from 1 µs to 1 s and native (schema 3) buckets, counted at once without allocating.
package hist

import (
	"math"
	"sort"
	"time"
)

// ClassicBounds are the upper bounds in seconds of the classic buckets of every
// latency histogram: 1 µs to 1 s in a 1-2-5 progression (three buckets a decade).
var ClassicBounds = []float64{
	1e-6, 2e-6, 5e-6,
	1e-5, 2e-5, 5e-5,
	1e-4, 2e-4, 5e-4,
	1e-3, 2e-3, 5e-3,
	1e-2, 2e-2, 5e-2,
	1e-1, 2e-1, 5e-1,
	1,
}

// Native histogram layout: schema 3 (bucket factor 2^(1/8) ≈ 1.09, what client_golang
// picks for NativeHistogramBucketFactor 1.1), a zero bucket up to 2^-30 s (< 1 ns) and
// a fixed key range up to 2^10 s; larger values land in the top bucket.
const (
	// NativeSchema is the schema of the native buckets.
	NativeSchema = 3
	// NativeZeroThreshold is the width of the zero bucket in seconds.
	NativeZeroThreshold = 1.0 / (1 << 30)
	nativeMinKey        = -30*8 + 1
	nativeMaxKey        = 10 * 8
	nativeBuckets       = nativeMaxKey - nativeMinKey + 1
)

var nativeBounds = func() [8]float64 {
	var b [8]float64
	for i := range b {
		b[i] = math.Exp2(-1 + float64(i)/8)
	}
	return b
}()

// nativeKey returns the schema-3 bucket key of v > 0: bucket k holds (2^((k-1)/8), 2^(k/8)].
func nativeKey(v float64) int {
	frac, exp := math.Frexp(v)
	return sort.SearchFloat64s(nativeBounds[:], frac) + (exp-1)*8
}

// Histogram counts observations in classic and native buckets at once. It is a
// plain value: the owner serialises access (the probe state holds it under a mutex),
// and Observe neither allocates nor blocks.
type Histogram struct {
	count   uint64
	sum     float64
	classic [20]uint64 // per bucket, not cumulative; the last is +Inf
	zero    uint64
	native  [nativeBuckets]uint64
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) { h.ObserveSeconds(d.Seconds()) }

// ObserveSeconds records one value in seconds; negative values count as 0.
func (h *Histogram) ObserveSeconds(v float64) {
	if v < 0 || math.IsNaN(v) {
		v = 0
	}
	h.count++
	h.sum += v
	i := sort.SearchFloat64s(ClassicBounds, v) // first bound >= v
	h.classic[i]++
	if v <= NativeZeroThreshold {
		h.zero++
		return
	}
	k := nativeKey(v)
	if k > nativeMaxKey {
		k = nativeMaxKey
	}
	if k < nativeMinKey {
		k = nativeMinKey
	}
	h.native[k-nativeMinKey]++
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count }

// Sum returns the sum of all observations in seconds.
func (h *Histogram) Sum() float64 { return h.sum }

// Cumulative returns the classic cumulative bucket counts, one per ClassicBounds entry
// (the +Inf bucket is Count).
func (h *Histogram) Cumulative() []uint64 {
	out := make([]uint64, len(ClassicBounds))
	var acc uint64
	for i := range ClassicBounds {
		acc += h.classic[i]
		out[i] = acc
	}
	return out
}

// ZeroCount returns the observations in the native zero bucket.
func (h *Histogram) ZeroCount() uint64 { return h.zero }

// NativeBuckets calls f for every non-empty native bucket in increasing key order.
func (h *Histogram) NativeBuckets(f func(key int, count uint64)) {
	for i, c := range h.native {
		if c != 0 {
			f(i+nativeMinKey, c)
		}
	}
}
