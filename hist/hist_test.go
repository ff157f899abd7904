package hist

import (
	"math"
	"reflect"
	"slices"
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

func TestLayouts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		l     Layout
		first float64 // lowest bound: the fine layout leaves below 5 µs to the native buckets
		last  float64 // highest bound: the fine layout leaves beyond 100 ms to the native buckets
	}{{"coarse", Coarse, 1e-6, 1}, {"fine", Fine, 5e-6, 0.1}, {"kernel", Kernel, 1e-3, 1e-2}, {"zero", Layout{}, 1e-6, 1}} {
		h := New(tc.l)
		b := h.Bounds()
		if len(b) == 0 || len(b) > maxBounds {
			t.Fatalf("%s: %d bounds, want 1..%d", tc.name, len(b), maxBounds)
		}
		for i := 1; i < len(b); i++ {
			if b[i] <= b[i-1] {
				t.Fatalf("%s: bounds not increasing at %d: %v", tc.name, i, b)
			}
		}
		if b[0] != tc.first || b[len(b)-1] != tc.last {
			t.Fatalf("%s: spans %v..%v, want %v..%v s", tc.name, b[0], b[len(b)-1], tc.first, tc.last)
		}
	}
	// Fine: every step in 10–100 µs at most 1.2×, and 10, 20, 50, 100 µs are bounds.
	b := FineBounds
	for i := 1; i < len(b); i++ {
		if b[i-1] >= 10e-6 && b[i] <= 100e-6 && b[i]/b[i-1] > 1.2+1e-9 {
			t.Errorf("fine step %v → %v is %.3f×, want ≤ 1.2×", b[i-1], b[i], b[i]/b[i-1])
		}
	}
	for _, want := range []float64{10e-6, 20e-6, 50e-6, 100e-6} {
		if !slices.Contains(b, want) {
			t.Errorf("fine layout lacks the bound %v", want)
		}
	}
}

func TestNativeLayout(t *testing.T) {
	h := New(Native)
	h.Observe(3 * time.Microsecond)
	h.Observe(2 * time.Second)
	if len(h.Bounds()) != 0 || len(h.Cumulative()) != 0 {
		t.Fatalf("native layout has classic bounds %v", h.Bounds())
	}
	var keys []int
	h.NativeBuckets(func(k int, c uint64) { keys = append(keys, k) })
	if h.Count() != 2 || len(keys) != 2 || h.Sum() != 2.000003 {
		t.Fatalf("count %d, sum %v, native keys %v; want 2 observations in 2 buckets", h.Count(), h.Sum(), keys)
	}
}

func TestFineBuckets(t *testing.T) {
	h := New(Fine)
	h.Observe(30 * time.Microsecond) // (28, 33]
	h.Observe(36 * time.Microsecond) // (33, 39]: 1.2× apart, another bucket
	cum := h.Cumulative()
	i := slices.Index(FineBounds, 33e-6)
	if cum[i-1] != 0 || cum[i] != 1 || cum[i+1] != 2 {
		t.Fatalf("cumulative around 33 µs: %v", cum[i-1:i+2])
	}
}

func TestRecorder(t *testing.T) {
	r := NewRecorder(Fine)
	var want Histogram = New(Fine)
	for _, d := range []time.Duration{-1, 0, 3 * time.Microsecond, 45 * time.Microsecond, time.Second, time.Hour} {
		r.Observe(d)
		want.Observe(d)
	}
	if got := r.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Fatalf("snapshot %+v\nwant %+v", got.Cumulative(), want.Cumulative())
	}
	if a := testing.AllocsPerRun(1000, func() { r.Observe(17 * time.Microsecond) }); a != 0 {
		t.Fatalf("Observe allocates %v times per run", a)
	}
}

// TestRecorderConsistent reads snapshots while the writer observes: each must be
// consistent (count = classic total = native total), never torn.
func TestRecorderConsistent(t *testing.T) {
	r := NewRecorder(Fine)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200_000 {
			r.Observe(time.Duration(i%5000) * time.Microsecond)
		}
	}()
	reads := 0
	for stop := false; !stop; reads++ {
		select {
		case <-done:
			stop = true
		default:
		}
		h := r.Snapshot()
		var native uint64
		h.NativeBuckets(func(_ int, c uint64) { native += c })
		var classic uint64
		for _, c := range h.classic {
			classic += c
		}
		if classic != h.Count() || native+h.ZeroCount() != h.Count() {
			t.Fatalf("torn snapshot after %d reads: count %d, classic %d, native %d+%d", reads, h.Count(), classic, native, h.ZeroCount())
		}
	}
	if h := r.Snapshot(); h.Count() != 200_000 {
		t.Fatalf("count %d, want 200000", h.Count())
	}
}

// BenchmarkRecorderObserve is the writer's cost per wake-up.
func BenchmarkRecorderObserve(b *testing.B) {
	r := NewRecorder(Fine)
	for i := range b.N {
		r.Observe(time.Duration(i&63) * time.Microsecond)
	}
}

// BenchmarkRecorderSnapshot is a scrape's cost to copy the histogram.
func BenchmarkRecorderSnapshot(b *testing.B) {
	r := NewRecorder(Fine)
	for range b.N {
		_ = r.Snapshot()
	}
}
