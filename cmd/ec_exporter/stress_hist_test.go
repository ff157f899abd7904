package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistIndexBounds(t *testing.T) {
	// Every value lands in a bucket whose bounds contain it; buckets are contiguous.
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<20 + 12345, 1<<40 - 1, 1 << 62, 1<<64 - 1} {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d out of range", v, i)
		}
		lo, hi := histBounds(i)
		if v < lo || v > hi {
			t.Errorf("value %d in bucket %d [%d,%d]", v, i, lo, hi)
		}
		if v >= histSub && float64(hi-lo+1)/float64(lo) > 1.0/histSub+1e-12 {
			t.Errorf("bucket %d [%d,%d] wider than 1/%d", i, lo, hi, histSub)
		}
	}
	for i := 1; i < histBuckets; i++ {
		_, prevHi := histBounds(i - 1)
		lo, _ := histBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("gap between bucket %d and %d: %d != %d+1", i-1, i, lo, prevHi)
		}
	}
}

func TestHistQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var h latencyHist
	vals := make([]time.Duration, 100000)
	var sum time.Duration
	for i := range vals {
		// log-uniform from 1 µs to 100 ms, like latencies
		v := time.Duration(float64(time.Microsecond) * math.Pow(10, 5*r.Float64()))
		vals[i] = v
		sum += v
		h.Record(v)
	}
	h.Record(-time.Second) // clamps to 0
	vals = append(vals, 0)
	slices.Sort(vals)
	if h.Count() != uint64(len(vals)) {
		t.Fatalf("count %d, want %d", h.Count(), len(vals))
	}
	if h.Max() != vals[len(vals)-1] {
		t.Errorf("max %v, want %v", h.Max(), vals[len(vals)-1])
	}
	if want := sum / time.Duration(len(vals)); h.Mean() < want-1 || h.Mean() > want+1 {
		t.Errorf("mean %v, want %v", h.Mean(), want)
	}
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := int(float64(len(vals))*q+0.999999) - 1
		rank = max(rank, 0)
		exact := vals[rank]
		got := h.Quantile(q)
		if got < exact || float64(got) > float64(exact)*(1+1.0/histSub)+1 {
			t.Errorf("q%v = %v, exact %v (want within +%.2f %%)", q, got, exact, 100.0/histSub)
		}
	}
	var empty latencyHist
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 || empty.Max() != 0 {
		t.Error("empty histogram reports non-zero")
	}
}

func TestHistRecordAllocatesNothing(t *testing.T) {
	var h latencyHist
	d := time.Duration(0)
	if n := testing.AllocsPerRun(1000, func() { d += 777; h.Record(d) }); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
}
