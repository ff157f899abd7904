// Command scrapebench measures /metrics latency under concurrent scrapers and prints the
// latency percentiles. Each of -c workers either GETs the URL back to back (closed loop,
// -every 0: the server's saturated throughput) or once every -every, like a Prometheus
// scraping at that interval (open loop: latency counts from the intended start, so a
// slow server cannot hide its queueing delay).
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:10236/metrics", "URL to scrape")
	conc := flag.Int("c", 50, "concurrent scrapers")
	dur := flag.Duration("d", 30*time.Second, "how long to scrape")
	every := flag.Duration("every", 0, "scrape interval per scraper (0 = back to back)")
	flag.Parse()
	if *conc < 1 || *dur <= 0 {
		fmt.Fprintln(os.Stderr, "scrapebench: -c must be >= 1 and -d > 0")
		os.Exit(2)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		mu   sync.Mutex
		lats []time.Duration
		errs int
		wg   sync.WaitGroup
	)
	end := time.Now().Add(*dur)
	start := time.Now()
	for i := 0; i < *conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			bad := 0
			// Open loop: scrapers spread evenly over the interval.
			next := start.Add(*every * time.Duration(i) / time.Duration(*conc))
			for time.Now().Before(end) {
				t0 := time.Now()
				if *every > 0 {
					time.Sleep(time.Until(next))
					t0 = next
					next = next.Add(*every)
				}
				resp, err := client.Get(*url)
				if err != nil {
					bad++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			errs += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lats) == 0 {
		fmt.Fprintf(os.Stderr, "scrapebench: no successful scrape (%d errors)\n", errs)
		os.Exit(1)
	}
	slices.Sort(lats)
	q := func(p float64) time.Duration { return lats[min(len(lats)-1, int(p*float64(len(lats))))] }
	fmt.Printf("every=%v scrapers=%d duration=%v requests=%d errors=%d rate=%.0f/s p50=%v p90=%v p99=%v max=%v\n",
		*every, *conc, *dur, len(lats), errs, float64(len(lats))/dur.Seconds(), q(0.50), q(0.90), q(0.99), lats[len(lats)-1])
}
