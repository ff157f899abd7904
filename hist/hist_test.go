package hist

import (
	"math"
	"testing"
	"time"
)

func TestNativeKey(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want int
	}{
		{1, 0}, {2, 8}, {0.5, -8}, {1.0001, 1}, {math.Exp2(1.0 / 8), 1}, {math.Exp2(1.0/8) * 1.0001, 2},
		{1.9, 8}, {1e-6, int(math.Ceil(math.Log2(1e-6) * 8))}, {1e-3, int(math.Ceil(math.Log2(1e-3) * 8))},
	} {
		if got := nativeKey(tc.v); got != tc.want {
			t.Errorf("nativeKey(%v) = %d, want %d", tc.v, got, tc.want)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{0, time.Microsecond, 1500 * time.Nanosecond, time.Millisecond, 2 * time.Second, time.Hour} {
		h.Observe(d)
	}
	h.ObserveSeconds(-1)
	h.ObserveSeconds(math.NaN())
	if h.Count() != 8 {
		t.Fatalf("count %d", h.Count())
	}
	cum := h.Cumulative()
	// 0, -1 and NaN count as 0; 1 µs is in the first bucket (upper bound inclusive).
	if cum[0] != 4 || cum[1] != 5 || cum[9] != 6 || cum[len(cum)-1] != 6 {
		t.Fatalf("cumulative %v", cum)
	}
	if h.ZeroCount() != 3 {
		t.Fatalf("zero %d", h.ZeroCount())
	}
	var keys []int
	var total uint64
	h.NativeBuckets(func(k int, c uint64) { keys = append(keys, k); total += c })
	if total+h.ZeroCount() != h.Count() {
		t.Fatalf("native buckets %d + zero %d != count %d", total, h.ZeroCount(), h.Count())
	}
	if keys[len(keys)-1] != nativeMaxKey {
		t.Fatalf("one hour not clamped to the top bucket: keys %v", keys)
	}
	want := 1e-6 + 1.5e-6 + 1e-3 + 2 + 3600
	if math.Abs(h.Sum()-want) > 1e-9 {
		t.Fatalf("sum %v want %v", h.Sum(), want)
	}
}
