package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// nativeHist is a native histogram's bucket counts by key, plus its zero bucket.
type nativeHist struct {
	schema int32
	zero   uint64
	count  uint64
	b      map[int]uint64
}

// scrapeWakeup reads cros_ec_worker_wakeup_latency_seconds as protobuf from addr.
func scrapeWakeup(addr string) (nativeHist, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	req.Header.Set("Accept", `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`)
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nativeHist{}, err
	}
	defer resp.Body.Close()
	dec := expfmt.NewDecoder(resp.Body, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if errors.Is(err, io.EOF) {
				return nativeHist{}, fmt.Errorf("no cros_ec_worker_wakeup_latency_seconds in the scrape")
			}
			return nativeHist{}, err
		}
		if mf.GetName() != "cros_ec_worker_wakeup_latency_seconds" || len(mf.Metric) == 0 {
			continue
		}
		h := mf.Metric[0].GetHistogram()
		n := nativeHist{schema: h.GetSchema(), zero: h.GetZeroCount(), count: h.GetSampleCount(), b: map[int]uint64{}}
		key, cnt := 0, int64(0)
		i := 0
		for _, s := range h.PositiveSpan {
			key += int(s.GetOffset())
			for j := uint32(0); j < s.GetLength(); j++ {
				cnt += h.PositiveDelta[i]
				n.b[key] = uint64(cnt)
				i++
				key++
			}
		}
		return n, nil
	}
}

// sub returns the observations between two scrapes.
func (n nativeHist) sub(o nativeHist) nativeHist {
	d := nativeHist{schema: n.schema, zero: n.zero - o.zero, count: n.count - o.count, b: map[int]uint64{}}
	for k, v := range n.b {
		if v > o.b[k] {
			d.b[k] = v - o.b[k]
		}
	}
	return d
}

// quantile interpolates linearly inside the bucket holding rank q·count (as
// Prometheus does for native buckets); buckets are 2^(2^-schema) wide (~9 % at 3).
func (n nativeHist) quantile(q float64) time.Duration {
	if n.count == 0 {
		return 0
	}
	keys := make([]int, 0, len(n.b))
	for k := range n.b {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	rank := q * float64(n.count)
	cum := float64(n.zero)
	if rank <= cum {
		return 0
	}
	base := math.Exp2(math.Exp2(-float64(n.schema)))
	for _, k := range keys {
		c := float64(n.b[k])
		if cum+c >= rank {
			lo, hi := math.Pow(base, float64(k-1)), math.Pow(base, float64(k))
			return time.Duration((lo + (hi-lo)*(rank-cum)/c) * 1e9)
		}
		cum += c
	}
	return time.Duration(math.Pow(base, float64(keys[len(keys)-1])) * 1e9)
}

var tidRE = regexp.MustCompile(`msg="EC worker thread".* tid=(\d+)`)

// workerTID finds the worker's TID in the exporter's log.
func workerTID(log string) (int, bool) {
	m := tidRE.FindStringSubmatch(log)
	if m == nil {
		return 0, false
	}
	tid, err := strconv.Atoi(m[1])
	return tid, err == nil
}
