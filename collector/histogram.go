package collector

import (
	"github.com/ec-exporter/ec_exporter/hist"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// histogramMetric exposes a hist.Histogram with both its classic buckets and its
// native (schema 3) buckets; the text format shows the classic ones, protobuf carries both.
type histogramMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	h      *hist.Histogram
}

// newHistogram returns a const histogram metric of h (which must not change afterwards).
func newHistogram(desc *prometheus.Desc, h *hist.Histogram, labelValues ...string) prometheus.Metric {
	return &histogramMetric{desc: desc, labels: prometheus.MakeLabelPairs(desc, labelValues), h: h}
}

func (m *histogramMetric) Desc() *prometheus.Desc { return m.desc }

func (m *histogramMetric) Write(out *dto.Metric) error {
	h := m.h
	cum, bounds := h.Cumulative(), h.Bounds()
	buckets := make([]*dto.Bucket, len(cum))
	for i, c := range cum {
		buckets[i] = &dto.Bucket{CumulativeCount: proto.Uint64(c), UpperBound: proto.Float64(bounds[i])}
	}
	dh := &dto.Histogram{
		SampleCount:   proto.Uint64(h.Count()),
		SampleSum:     proto.Float64(h.Sum()),
		Bucket:        buckets,
		Schema:        proto.Int32(hist.NativeSchema),
		ZeroThreshold: proto.Float64(hist.NativeZeroThreshold),
		ZeroCount:     proto.Uint64(h.ZeroCount()),
	}
	// Spans of consecutive non-empty buckets, counts delta-encoded across all spans.
	var prevKey int
	var prevCount int64
	first := true
	h.NativeBuckets(func(key int, c uint64) {
		switch {
		case first:
			dh.PositiveSpan = append(dh.PositiveSpan, &dto.BucketSpan{Offset: proto.Int32(int32(key)), Length: proto.Uint32(1)})
		case key == prevKey+1:
			s := dh.PositiveSpan[len(dh.PositiveSpan)-1]
			*s.Length++
		default:
			dh.PositiveSpan = append(dh.PositiveSpan, &dto.BucketSpan{Offset: proto.Int32(int32(key - prevKey - 1)), Length: proto.Uint32(1)})
		}
		dh.PositiveDelta = append(dh.PositiveDelta, int64(c)-prevCount)
		prevKey, prevCount, first = key, int64(c), false
	})
	if first {
		// No observations yet: a no-op span keeps it recognisable as a native histogram.
		dh.PositiveSpan = []*dto.BucketSpan{{Offset: proto.Int32(0), Length: proto.Uint32(0)}}
	}
	out.Label = m.labels
	out.Histogram = dh
	return nil
}
