package latency

import (
	"math"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

const cyc = `# /dev/cpu_dma_latency set to 0us
000010 000050
000020 000040
000100 000009
# Total: 000000100
# Min Latencies: 00010
# Avg Latencies: 00019
# Max Latencies: 00250
# Histogram Overflows: 00001
`

func TestParseCyclictest(t *testing.T) {
	d, err := ParseCyclictest(strings.NewReader(cyc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"count", float64(d.Count()), 100},
		{"max", d.Max, 250},
		{"avg", d.Avg, 19},
		{"overflows", float64(d.Overflows), 1},
		{"rank p50", d.Rank(0.5), 10},
		{"rank p90", d.Rank(0.9), 20},
		{"rank p99", d.Rank(0.99), 100},
		{"rank p100", d.Rank(1), 250},
		{"quantile p50", d.Quantile(0.5), 11},   // 50th of 50 values in [10, 11)
		{"quantile p70", d.Quantile(0.7), 20.5}, // 20th of 40 in [20, 21)
		{"share > 20", d.ShareAbove(20), 0.50},  // all of [20, 21) is above 20
		{"share > 100.5", d.ShareAbove(100.5), 0.055},
		{"share > 1000", d.ShareAbove(1000), 0},
	} {
		if math.Abs(tc.got-tc.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestParseCyclictestErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"no max line", "000010 000001\n", "not cyclictest -h output"},
		{"empty", "# Max Latencies: 00000\n", "empty"},
	} {
		if _, err := ParseCyclictest(strings.NewReader(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func native(zero uint64, spans [][2]int32, deltas ...int64) *dto.Histogram {
	h := &dto.Histogram{Schema: proto.Int32(3), ZeroThreshold: proto.Float64(1.0 / (1 << 30)), ZeroCount: proto.Uint64(zero), PositiveDelta: deltas}
	for _, s := range spans {
		h.PositiveSpan = append(h.PositiveSpan, &dto.BucketSpan{Offset: proto.Int32(s[0]), Length: proto.Uint32(uint32(s[1]))})
	}
	return h
}

func TestNativeDelta(t *testing.T) {
	// key -115: (2^(-116/8), 2^(-115/8)] s ≈ (43.9, 47.8] µs.
	before := native(1, [][2]int32{{-120, 2}}, 5, -2)           // -120: 5, -119: 3
	after := native(1, [][2]int32{{-120, 2}, {3, 1}}, 7, -4, 7) // -120: 7, -119: 3, -115: 10
	d, err := NativeDelta(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if d.Count() != 12 || len(d.Buckets) != 2 {
		t.Fatalf("delta %+v, want 2 buckets holding 12", d)
	}
	lo, hi := math.Exp2(-116.0/8)*1e6, math.Exp2(-115.0/8)*1e6
	if b := d.Buckets[1]; math.Abs(b.Lo-lo) > 1e-6 || math.Abs(b.Hi-hi) > 1e-6 || b.N != 10 {
		t.Fatalf("bucket %+v, want (%v, %v] with 10", b, lo, hi)
	}
	if d.MaxExact || math.Abs(d.Max-hi) > 1e-6 {
		t.Fatalf("max %v exact %v, want the top bound %v, not exact", d.Max, d.MaxExact, hi)
	}
	if s := d.ShareAbove(hi * 1.0001); s != 0 {
		t.Fatalf("share above the top %v", s)
	}
	if _, err := NativeDelta(after, before); err == nil || !strings.Contains(err.Error(), "reset") {
		t.Fatalf("a shrinking histogram: err %v, want a reset error", err)
	}
	if _, err := NativeDelta(nil, &dto.Histogram{}); err == nil || !strings.Contains(err.Error(), "not a native histogram") {
		t.Fatalf("a classic-only histogram: err %v", err)
	}
	if _, err := NativeDelta(nil, native(0, [][2]int32{{0, 3}}, 1)); err == nil || !strings.Contains(err.Error(), "fewer deltas") {
		t.Fatalf("spans longer than deltas: err %v", err)
	}
}

func FuzzParseCyclictest(f *testing.F) {
	f.Add(cyc)
	f.Add("# Max Latencies: 5\n# Histogram Overflows: 3\n")
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ParseCyclictest(strings.NewReader(in))
		if err != nil {
			return
		}
		if d.Count() == 0 {
			t.Fatal("no error for an empty histogram")
		}
		_ = d.Quantile(0.99)
		_ = d.Rank(0.99)
		_ = d.ShareAbove(50)
	})
}
