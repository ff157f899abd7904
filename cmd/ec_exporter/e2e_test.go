package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"golang.org/x/crypto/bcrypt"
)

// exporterBinary builds ec_exporter into the test's temp dir (the build cache makes
// the second build cheap).
func exporterBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped with -short")
	}
	bin := filepath.Join(t.TempDir(), "ec_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// start runs a program until the test ends; its output is logged if the test fails.
func start(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	out := &testkit.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), tail(out.String(), 4000))
		}
	})
	return cmd
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func httpOK(c *http.Client, u string) bool {
	resp, err := c.Get(u)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == 200
}

// startExporter runs ec_exporter serve with args and waits until it answers.
func startExporter(t *testing.T, client *http.Client, scheme string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	bin := exporterBinary(t)
	port := testkit.FreePort(t)
	base := fmt.Sprintf("%s://127.0.0.1:%d", scheme, port)
	cmd := start(t, bin, append([]string{"serve", "--web.listen-address=127.0.0.1:" + strconv.Itoa(port)}, args...)...)
	testkit.Eventually(t, "the exporter to answer", 15*time.Second, func() bool { return httpOK(client, base+"/-/healthy") })
	return cmd, base
}

// startPrometheus runs the real prometheus with one scrape job.
func startPrometheus(t *testing.T, job string, flags ...string) string {
	t.Helper()
	bin := testkit.NeedTool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"+job), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testkit.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	start(t, bin, append([]string{"--config.file=" + cfg, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(port), "--log.level=warn"}, flags...)...)
	testkit.Eventually(t, "prometheus to be ready", 20*time.Second, func() bool { return httpOK(http.DefaultClient, base+"/-/ready") })
	return base
}

// promValue returns the value of a PromQL query with exactly one result, or NaN-ish false.
func promValue(t *testing.T, prom, query string) (float64, bool) {
	t.Helper()
	resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" || len(r.Data.Result) != 1 {
		return 0, false
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

func waitValue(t *testing.T, prom, query string, timeout time.Duration, ok func(float64) bool) float64 {
	t.Helper()
	var v float64
	testkit.Eventually(t, query, timeout, func() bool {
		var found bool
		v, found = promValue(t, prom, query)
		return found && ok(v)
	})
	return v
}

func scrapeJob(target string, extra string) string {
	return "  - job_name: ec\n" + extra + "    static_configs:\n      - targets: ['" + target + "']\n"
}

// TestE2EPrometheus: a real Prometheus scrapes the exporter on the simulated EC.
func TestE2EPrometheus(t *testing.T) {
	testkit.NeedTool(t, "prometheus", "prometheus")
	promtool := testkit.NeedTool(t, "promtool", "prometheus")
	cmd, base := startExporter(t, http.DefaultClient, "http", "--ec.transport=sim", "--rt.policy=fifo", "--rt.priority=37", "--probe.interval=200ms", "--probe.timeout=150ms")
	prom := startPrometheus(t, scrapeJob(strings.TrimPrefix(base, "http://"), ""))

	waitValue(t, prom, `cros_ec_up{device="sim"}`, 20*time.Second, func(v float64) bool { return v == 1 })
	first := waitValue(t, prom, `cros_ec_transfer_duration_seconds_count{device="sim",command="hello"}`, 10*time.Second, func(v float64) bool { return v > 0 })
	waitValue(t, prom, `cros_ec_transfer_duration_seconds_count{device="sim",command="hello"}`, 10*time.Second, func(v float64) bool { return v > first })
	waitValue(t, prom, `cros_ec_worker_wakeup_latency_seconds_count`, 10*time.Second, func(v float64) bool { return v > 0 })
	waitValue(t, prom, `sum(cros_ec_schedule_delay_seconds_bucket{device="sim",le="+Inf"})`, 10*time.Second, func(v float64) bool { return v > 0 })
	waitValue(t, prom, `up{job="ec"}`, 5*time.Second, func(v float64) bool { return v == 1 })

	// promtool lints a live scrape.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = bytes.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}

	// One thread of the exporter runs SCHED_FIFO at the configured priority.
	if !threadAt(t, cmd.Process.Pid, 1, 37) {
		if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
			t.Skip("not root: cannot get SCHED_FIFO")
		}
		t.Fatal("no thread of the exporter is SCHED_FIFO priority 37")
	}
}

var statRe = regexp.MustCompile(`\) (.*)$`)

// threadAt reports whether a thread of pid has the given policy (1 = SCHED_FIFO) and
// rt_priority, from /proc/<pid>/task/*/stat fields 40 and 41.
func threadAt(t *testing.T, pid, policy, prio int) bool {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		m := statRe.FindSubmatch(bytes.TrimSpace(b))
		if m == nil {
			continue
		}
		fields := strings.Fields(string(m[1])) // fields[0] is field 3 (state)
		if len(fields) < 39 {
			continue
		}
		rp, _ := strconv.Atoi(fields[40-3])
		pol, _ := strconv.Atoi(fields[41-3])
		if pol == policy && rp == prio {
			return true
		}
	}
	return false
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ec_exporter test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestE2ETLSBasicAuth: TLS and basic auth from an exporter-toolkit web config, scraped
// by a real Prometheus with tls_config and basic_auth.
func TestE2ETLSBasicAuth(t *testing.T) {
	testkit.NeedTool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prom: %s\n", cert, key, hash)), 0o600); err != nil {
		t.Fatal(err)
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second}
	bin := exporterBinary(t)
	port := testkit.FreePort(t)
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	cmd := start(t, bin, "serve", "--ec.transport=sim", "--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--web.config.file="+webCfg, "--no-collector.kmsg", "--log.format=json")
	testkit.Eventually(t, "the TLS listener", 15*time.Second, func() bool {
		resp, err := insecure.Get(base + "/-/healthy")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized
	})
	if resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP served metrics with TLS configured")
	}
	// The HTTP server's own errors (here the TLS handshake the plain request failed) go
	// through the JSON logger like every other line.
	logs := cmd.Stdout.(*testkit.LockedBuffer)
	testkit.Eventually(t, "the TLS handshake error in the log", 5*time.Second, func() bool { return strings.Contains(logs.String(), "TLS handshake error") })
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.SetBasicAuth("prom", "wrong")
	if resp, err := insecure.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %v %v", resp, err)
	}
	prom := startPrometheus(t, scrapeJob("127.0.0.1:"+strconv.Itoa(port),
		"    scheme: https\n    tls_config:\n      insecure_skip_verify: true\n    basic_auth:\n      username: prom\n      password: s3cret\n"))
	waitValue(t, prom, `cros_ec_up{device="sim"}`, 20*time.Second, func(v float64) bool { return v == 1 })
	waitValue(t, prom, `up{job="ec"}`, 5*time.Second, func(v float64) bool { return v == 1 })
}

// TestE2EHang: the simulated EC hangs transfers for 2 s. /metrics keeps answering at
// once, cros_ec_up drops to 0, the timeout and the skipped probes are counted, and the
// exporter recovers when the transfer returns.
func TestE2EHang(t *testing.T) {
	client := &http.Client{Timeout: 5 * time.Second}
	_, base := startExporter(t, client, "http", "--ec.transport=sim", "--no-collector.kmsg",
		"--probe.interval=250ms", "--probe.timeout=200ms", "--sim.fault.hang=0.15", "--sim.fault.hang-for=2s")
	scrape := func() (map[string]float64, time.Duration) {
		t0 := time.Now()
		resp, err := client.Get(base + "/metrics")
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		m := map[string]float64{}
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "cros_ec_") {
				if i := strings.LastIndexByte(line, ' '); i > 0 {
					v, _ := strconv.ParseFloat(line[i+1:], 64)
					m[line[:i]] = v
				}
			}
		}
		return m, d
	}
	const (
		up      = `cros_ec_up{device="sim"}`
		timeout = `cros_ec_command_failures_total{cause="timeout",command="hello",device="sim"}`
		busy    = `cros_ec_command_failures_total{cause="busy",command="hello",device="sim"}`
	)
	var during []time.Duration
	sawDown, recovered := false, false
	var last map[string]float64
	deadline := time.Now().Add(25 * time.Second)
	for time.Now().Before(deadline) && !recovered {
		m, d := scrape()
		last = m
		if m[up] == 0 && m[timeout] > 0 {
			sawDown = true
			during = append(during, d)
		} else if sawDown && m[up] == 1 {
			recovered = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawDown {
		t.Fatalf("cros_ec_up never dropped to 0 with a counted timeout: %v", last)
	}
	if !recovered {
		t.Fatalf("the exporter did not recover after the hang: up=%v", last[up])
	}
	if last[busy] == 0 {
		t.Errorf("HELLO deadlines skipped during a 2 s hang were not counted as busy: %v", last[busy])
	}
	sort.Slice(during, func(i, j int) bool { return during[i] < during[j] })
	med, worst := during[len(during)/2], during[len(during)-1]
	t.Logf("/metrics during the hang: %d scrapes, median %v, max %v", len(during), med, worst)
	if med > 100*time.Millisecond || worst > time.Second {
		t.Fatalf("/metrics slowed down during the hang: median %v, max %v (want < 100ms)", med, worst)
	}
}

// TestE2EMissingDevice: an EC node that does not exist at start is not fatal: the exporter
// serves, reports the EC down and not open, and keeps retrying.
func TestE2EMissingDevice(t *testing.T) {
	node := filepath.Join(t.TempDir(), "cros_ec")
	client := &http.Client{Timeout: 5 * time.Second}
	_, base := startExporter(t, client, "http", "--ec.transport=chardev", "--ec.device="+node, "--no-collector.kmsg")
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`cros_ec_up{device="cros_ec"} 0`, `cros_ec_device_open{device="cros_ec"} 0`,
		`cros_ec_command_failures_total{cause="busy",command="hello",device="cros_ec"} 0`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestE2ENativeHistograms: a Prometheus with native histograms enabled negotiates
// protobuf and ingests the exporter's native buckets (schema 3).
func TestE2ENativeHistograms(t *testing.T) {
	testkit.NeedTool(t, "prometheus", "prometheus")
	_, base := startExporter(t, http.DefaultClient, "http", "--ec.transport=sim", "--no-collector.kmsg", "--probe.interval=100ms", "--probe.timeout=80ms")
	prom := startPrometheus(t, scrapeJob(strings.TrimPrefix(base, "http://"), ""), "--enable-feature=native-histograms")
	q := `histogram_count(cros_ec_transfer_duration_seconds{device="sim",command="hello"})`
	first := waitValue(t, prom, q, 20*time.Second, func(v float64) bool { return v > 0 })
	waitValue(t, prom, q, 10*time.Second, func(v float64) bool { return v > first })
	// A median HELLO over the simulated SPI bus takes well under a second and over a microsecond.
	med := waitValue(t, prom, `histogram_quantile(0.5, cros_ec_transfer_duration_seconds{device="sim",command="hello"})`, 10*time.Second,
		func(v float64) bool { return v > 0 })
	if med < 1e-6 || med > 1 {
		t.Fatalf("native median HELLO %v s", med)
	}
	t.Logf("native-histogram median HELLO: %.3g s", med)
}
