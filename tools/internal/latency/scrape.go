package latency

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Scrape fetches url in the delimited protobuf format (the one that carries native buckets)
// and returns the histogram of the metric family name (the one without labels, or the first).
func Scrape(url, name string) (*dto.Histogram, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w (is the exporter running?)", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("scrape %s: no metric %s", url, name)
			}
			return nil, fmt.Errorf("scrape %s: decode: %w", url, err)
		}
		if mf.GetName() != name {
			continue
		}
		if len(mf.Metric) == 0 || mf.Metric[0].GetHistogram() == nil {
			return nil, fmt.Errorf("scrape %s: %s is not a histogram", url, name)
		}
		return mf.Metric[0].GetHistogram(), nil
	}
}
