package collector

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// coarseHistogram keeps only the classic buckets in kernelHistBounds of a hist
// histogram metric (native buckets untouched), to stay inside the series budget.
type coarseHistogram struct{ prometheus.Metric }

func (c coarseHistogram) Write(out *dto.Metric) error {
	if err := c.Metric.Write(out); err != nil {
		return err
	}
	h := out.Histogram
	kept := h.Bucket[:0]
	for _, b := range h.Bucket {
		if slices.Contains(kernelHistBounds, b.GetUpperBound()) {
			kept = append(kept, b)
		}
	}
	h.Bucket = kept
	return nil
}
