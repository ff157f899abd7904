// Package collector turns the probe state and the kernel log into Prometheus metrics.
// Every metric is built on each scrape from state the probes recorded; nothing here
// talks to the EC.
package collector

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Updater is one named part of the exporter's metrics.
type Updater interface {
	Describe(ch chan<- *prometheus.Desc)
	// Update sends the current metrics; an error marks the part unavailable in
	// cros_ec_scrape_collector_success while whatever was sent is still served.
	Update(ch chan<- prometheus.Metric) error
}

// Named pairs an Updater with its name, the "collector" label.
type Named struct {
	Name string
	U    Updater
}

// Set is a prometheus.Collector over several Updaters that reports each one's
// success and duration, like node_exporter's scrape metrics.
type Set struct {
	list     []Named
	logger   *slog.Logger
	success  *prometheus.Desc
	duration *prometheus.Desc
	now      func() time.Time
}

// NewSet returns a collector running every Updater on each scrape.
func NewSet(logger *slog.Logger, list ...Named) *Set {
	if logger == nil {
		logger = slog.Default()
	}
	return &Set{
		list:   list,
		logger: logger,
		success: prometheus.NewDesc("cros_ec_scrape_collector_success",
			"1 if the collector's data was available for this scrape, 0 if not (see the exporter's log).",
			[]string{"collector"}, nil),
		duration: prometheus.NewDesc("cros_ec_scrape_collector_duration_seconds",
			"Time the collector took to build its metrics for this scrape.",
			[]string{"collector"}, nil),
		now: time.Now,
	}
}

// Describe implements prometheus.Collector.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.success
	ch <- s.duration
	for _, n := range s.list {
		n.U.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	for _, n := range s.list {
		start := s.now()
		err := n.U.Update(ch)
		ok := 1.0
		if err != nil {
			ok = 0
			s.logger.Debug("collector unavailable", "collector", n.Name, "err", err)
		}
		ch <- prometheus.MustNewConstMetric(s.duration, prometheus.GaugeValue, s.now().Sub(start).Seconds(), n.Name)
		ch <- prometheus.MustNewConstMetric(s.success, prometheus.GaugeValue, ok, n.Name)
	}
}
