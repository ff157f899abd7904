package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ec-exporter/ec_exporter/collector"
	"github.com/ec-exporter/ec_exporter/prober"
	"github.com/ec-exporter/ec_exporter/rt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
)

// DefaultPort is the exporter's default TCP port: 9100-9999 is fully allocated on the
// Prometheus wiki's default-port list; 10236 (236 = 0xEC) is outside it and unlisted.
const DefaultPort = 10236

// WebFlags configure the HTTP server (prefix "web.").
type WebFlags struct {
	ListenAddress          []string `name:"listen-address" default:":10236" help:"Address to listen on for metrics, repeatable (e.g. :10236, 127.0.0.1:10236, vsock://:10236)."`
	ConfigFile             string   `name:"config.file" default:"" help:"Path to an exporter-toolkit web config file enabling TLS and/or basic auth (https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md)."`
	SystemdSocket          bool     `name:"systemd-socket" default:"false" help:"Use systemd socket activation listeners instead of --web.listen-address."`
	TelemetryPath          string   `name:"telemetry-path" default:"/metrics" help:"Path under which to expose metrics."`
	MaxRequests            int      `name:"max-requests" default:"40" help:"Maximum number of parallel scrape requests (0 = no limit)."`
	DisableExporterMetrics bool     `name:"disable-exporter-metrics" default:"false" help:"Leave out the exporter's own go_*, process_* and promhttp_* metrics."`
	EnablePprof            bool     `name:"enable-pprof" default:"false" help:"Serve Go profiling under /debug/pprof/ (off by default: it exposes internals)."`
}

// ProbeFlags configure the background probes (prefix "probe.").
type ProbeFlags struct {
	Interval         time.Duration `name:"interval" default:"1s" help:"How often to send HELLO to each EC (on the real-time worker)."`
	Timeout          time.Duration `name:"timeout" default:"500ms" help:"A host command (or device open) still running after this long counts as a timeout and marks the EC down; must be below --probe.interval."`
	IdentityInterval time.Duration `name:"identity-interval" default:"5m" help:"How often to re-read version, protocol, build, chip and uptime (also read at start; uptime also after the EC recovers, the rest after a detected EC reset)."`
}

// CollectorFlags switch collectors on and off (prefix "collector.").
type CollectorFlags struct {
	Kmsg              bool   `name:"kmsg" default:"true" negatable:"" help:"Count cros-ec driver errors from the kernel log (/dev/kmsg; needs CAP_SYSLOG when kernel.dmesg_restrict=1)."`
	KernelTrace       bool   `name:"kernel-trace" default:"true" negatable:"" help:"Count every EC command the kernel sends, from the cros_ec trace events in a private tracefs instance (root, or see docs/privileges.md)."`
	KernelTraceReplay string `name:"kernel-trace.replay" hidden:"" help:"Tests: replay recorded trace_pipe lines from this file every second instead of reading tracefs."`
	KernelThreads     bool   `name:"kernel-threads" default:"true" negatable:"" help:"Report the kernel's cros_ec_spi real-time worker and SPI pump threads and their policy (/proc, /sys)."`
	KernelThreadsRoot string `name:"kernel-threads.root" hidden:"" help:"Tests: read proc/ and sys/ under this directory instead of /."`
}

// ServeCmd probes the ECs in the background and serves the metrics.
type ServeCmd struct {
	Web       WebFlags       `embed:"" prefix:"web." group:"HTTP server"`
	Probe     ProbeFlags     `embed:"" prefix:"probe." group:"Probes"`
	Collector CollectorFlags `embed:"" prefix:"collector." group:"Collectors"`
	Conn      ConnFlags      `embed:""`
	RT        RTFlags        `embed:"" prefix:"rt." group:"Real-time worker"`
}

// validate checks the serve flags that are not the EC's, saying what to change.
func (s *ServeCmd) validate() error {
	var errs []error
	p := s.Probe
	if p.Interval < time.Millisecond {
		errs = append(errs, fmt.Errorf("--probe.interval must be at least 1ms (default 1s), got %v", p.Interval))
	}
	if p.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--probe.timeout must be above 0 (default 500ms), got %v", p.Timeout))
	} else if p.Timeout >= p.Interval {
		errs = append(errs, fmt.Errorf("--probe.timeout (%v) must be below --probe.interval (%v): a probe may not outlast its period", p.Timeout, p.Interval))
	}
	if p.IdentityInterval < p.Interval {
		errs = append(errs, fmt.Errorf("--probe.identity-interval (%v) must not be shorter than --probe.interval (%v)", p.IdentityInterval, p.Interval))
	}
	w := s.Web
	if !strings.HasPrefix(w.TelemetryPath, "/") {
		errs = append(errs, fmt.Errorf("--web.telemetry-path must start with /, got %q", w.TelemetryPath))
	} else if w.TelemetryPath == "/-/healthy" {
		errs = append(errs, errors.New("--web.telemetry-path must not be /-/healthy (the health check lives there)"))
	}
	if w.MaxRequests < 0 {
		errs = append(errs, fmt.Errorf("--web.max-requests must be 0 (no limit) or more, got %d", w.MaxRequests))
	}
	if !w.SystemdSocket && len(w.ListenAddress) == 0 {
		errs = append(errs, errors.New("--web.listen-address: give at least one address (e.g. :10236) or use --web.systemd-socket"))
	}
	if w.ConfigFile != "" {
		if err := web.Validate(w.ConfigFile); err != nil {
			errs = append(errs, fmt.Errorf("--web.config.file %s: %w", w.ConfigFile, err))
		}
	}
	return errors.Join(errs...)
}

// Run starts the worker, the probes and the HTTP server, until SIGINT or SIGTERM.
func (s *ServeCmd) Run(logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return s.serve(ctx, logger)
}

func (s *ServeCmd) serve(ctx context.Context, logger *slog.Logger) error {
	if err := s.validate(); err != nil {
		return err
	}
	s.Conn.Log = logger
	targets, err := s.Conn.targets()
	if err != nil {
		return err
	}
	logger.Info("Starting ec_exporter", "version", version.Info())
	logger.Info("Build context", "build_context", version.BuildContext())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	rcfg, err := s.RT.Config(logger)
	if err != nil {
		return err
	}
	if rcfg.Name == "" {
		rcfg.Name = "ec-worker"
	}
	w, err := rt.Start(rcfg)
	if err != nil {
		return fmt.Errorf("start the EC worker thread: %w", err)
	}
	ob := w.Obtained()
	logger.Info("EC worker thread", "policy", ob.Policy.String(), "priority", ob.Priority, "nice", ob.Nice,
		"cpus", rt.FormatCPUList(ob.CPUs), "memory_locked", ob.MemoryLocked, "tid", ob.TID)

	p, err := prober.New(prober.Config{
		Interval:         s.Probe.Interval,
		Timeout:          s.Probe.Timeout,
		IdentityInterval: s.Probe.IdentityInterval,
		Logger:           logger,
	}, w)
	if err != nil {
		_ = w.Close()
		return err
	}
	for _, t := range targets {
		p.Add(t.label, t.open)
	}

	parts := []collector.Named{{Name: "ec", U: collector.NewEC(p, collector.ECOptions{
		Worker:  func() collector.WorkerInfo { return workerInfo(w.Obtained()) },
		Dropped: w.Dropped,
		Wakeup:  w.Wakeups,
		Runtime: w.RuntimeDelays,
	})}}
	if s.Collector.Kmsg {
		k := collector.NewKmsg(collector.KmsgOptions{Logger: logger})
		k.Start(ctx)
		parts = append(parts, collector.Named{Name: "kmsg", U: k})
	}
	if s.Collector.KernelTrace {
		kt := collector.NewKernelTrace(collector.KernelTraceOptions{Replay: s.Collector.KernelTraceReplay, Logger: logger})
		kt.Start(ctx)
		defer kt.Close()
		parts = append(parts, collector.Named{Name: "kernel_trace", U: kt})
	}
	if s.Collector.KernelThreads {
		kth := collector.NewKernelThreads(collector.KernelThreadsOptions{Root: s.Collector.KernelThreadsRoot, Logger: logger})
		kth.Start(ctx)
		parts = append(parts, collector.Named{Name: "kernel_threads", U: kth})
	}
	handler := s.handler(logger, collector.NewSet(logger, parts...))

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)}
	errc := make(chan error, 1)
	go func() {
		errc <- web.ListenAndServe(srv, &web.FlagConfig{
			WebListenAddresses: &s.Web.ListenAddress,
			WebSystemdSocket:   &s.Web.SystemdSocket,
			WebConfigFile:      &s.Web.ConfigFile,
		}, logger)
	}()
	// Opening the ECs is the worker's first job: no EC I/O on this goroutine, so the
	// listener answers while an EC is stuck.
	if err := p.Start(ctx); err != nil {
		_ = w.Close()
		return err
	}
	var serveErr error
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr = fmt.Errorf("http server: %w", err)
		}
	case <-ctx.Done():
		logger.Info("Shutting down")
		sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}
	cancel()
	if !closeWorker(w, logger) {
		return errors.Join(serveErr, &exitError{code: exitAbandoned,
			err: errors.New("exited with an EC transfer stuck in the worker thread (abandoned; see the log)")})
	}
	return serveErr
}

// shutdownGrace bounds each shutdown step, so SIGTERM ends the process within a second
// whatever the EC does.
const shutdownGrace = 400 * time.Millisecond

// exitAbandoned is the exit status of a serve that had to abandon a stuck EC transfer.
const exitAbandoned = 4

// handler builds the HTTP routes. None of them reaches the EC: metrics are built from
// the probe state only.
func (s *ServeCmd) handler(logger *slog.Logger, ecSet prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(ecSet, versioncollector.NewCollector("ec_exporter"))
	gatherers := prometheus.Gatherers{reg}
	opts := promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: s.Web.MaxRequests,
		Timeout:             10 * time.Second,
		CoalesceGather:      true,
	}
	var metrics http.Handler
	if s.Web.DisableExporterMetrics {
		metrics = promhttp.HandlerFor(gatherers, opts)
	} else {
		exp := prometheus.NewRegistry()
		exp.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		gatherers = append(prometheus.Gatherers{exp}, gatherers...)
		opts.Registry = exp
		metrics = promhttp.InstrumentMetricHandler(exp, promhttp.HandlerFor(gatherers, opts))
	}
	mux := http.NewServeMux()
	mux.Handle(s.Web.TelemetryPath, metrics)
	if s.Web.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Healthy\n"))
	})
	if s.Web.TelemetryPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "ec_exporter",
			Description: "Prometheus exporter for ChromeOS EC communication health",
			Version:     version.Info(),
			Profiling:   strconv.FormatBool(s.Web.EnablePprof),
			Links: []web.LandingLinks{
				{Address: s.Web.TelemetryPath, Text: "Metrics"},
				{Address: "/-/healthy", Text: "Health"},
			},
		})
		if err != nil {
			logger.Error("landing page", "err", err)
		} else {
			mux.Handle("/", landing)
		}
	}
	return mux
}

// closeWorker stops the worker; it reports false when a transfer stuck in the worker
// had to be abandoned.
func closeWorker(w *rt.Worker, logger *slog.Logger) bool {
	done := make(chan error, 1)
	go func() { done <- w.Close() }()
	select {
	case err := <-done:
		if err != nil {
			logger.Warn("closing the EC worker", "err", err)
		}
		return true
	case <-time.After(shutdownGrace):
		logger.Error("the EC worker is stuck inside a transfer; exiting without it (the transfer is abandoned)")
		return false
	}
}

func workerInfo(o rt.Obtained) collector.WorkerInfo {
	return collector.WorkerInfo{Policy: o.Policy.String(), Priority: o.Priority, CPUs: rt.FormatCPUList(o.CPUs), MemoryLocked: o.MemoryLocked}
}
