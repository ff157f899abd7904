package collector

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

var update = flag.Bool("update", false, "rewrite golden files")

// recordReader returns one record per Read, like /dev/kmsg, with injected errors.
type recordReader struct {
	items []any // []byte or error
}

func (r *recordReader) Read(p []byte) (int, error) {
	if len(r.items) == 0 {
		return 0, io.EOF
	}
	it := r.items[0]
	r.items = r.items[1:]
	if err, ok := it.(error); ok {
		return 0, err
	}
	b := it.([]byte)
	if len(b) > len(p) {
		return 0, syscall.EINVAL // the kernel consumes the record
	}
	return copy(p, b), nil
}

// splitRecords splits recorded /dev/kmsg output into records: continuation lines start with a space.
func splitRecords(t *testing.T, path string) []any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []any
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, " ") && len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1].([]byte), line...)
			continue
		}
		out = append(out, []byte(line))
	}
	return out
}

func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	return want
}

func gatherText(t *testing.T, g prometheus.Gatherer, names ...string) []byte {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if len(names) > 0 && !want[mf.GetName()] {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func TestKmsgRecorded(t *testing.T) {
	k := NewKmsg(KmsgOptions{SysfsRoot: t.TempDir()})
	items := splitRecords(t, filepath.Join("testdata", "kmsg-records.txt"))
	// An overrun before the LPC records (seq 2210-2212 overwritten) and one oversized record.
	items = append(items[:10:10], append([]any{error(&os.PathError{Op: "read", Path: "/dev/kmsg", Err: syscall.EPIPE}), bytes.Repeat([]byte("x"), KmsgBufferSize+1)}, items[10:]...)...)
	if err := k.Follow(&recordReader{items: items}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewSet(nil, Named{"kmsg", k}))
	got := gatherText(t, reg, "cros_ec_kernel_errors_total", "cros_ec_kernel_log_lost_records_total", "cros_ec_scrape_collector_success")
	want := golden(t, "kmsg.golden", got)
	if err := testutil.GatherAndCompare(reg, bytes.NewReader(want), "cros_ec_kernel_errors_total", "cros_ec_kernel_log_lost_records_total", "cros_ec_scrape_collector_success"); err != nil {
		t.Fatal(err)
	}
	// Spot checks independent of the golden file.
	for _, c := range []struct {
		driver, kind string
		want         float64
	}{
		{"cros-ec-spi", "timeout", 1}, {"cros-ec-spi", "transfer", 2}, {"cros-ec-spi", "unreachable", 2},
		{"cros-ec-spi", "ec_result", 1}, {"cros-ec-spi", "other", 2}, {"cros_ec_lpcs", "panic", 1},
		{"cros-ec-i2c", "transfer", 0}, {"cros-ec-i2c", "timeout", 1}, {"cros-ec-dev", "timeout", 1}, {"cros_ec", "other", 1},
	} {
		if got := countOf(t, reg, "cros_ec_kernel_errors_total", map[string]string{"driver": c.driver, "kind": c.kind}); got != c.want {
			t.Errorf("%s/%s = %v, want %v", c.driver, c.kind, got, c.want)
		}
	}
	// 1 oversized record (EINVAL) + seq 2210..2212 skipped.
	if got := countOf(t, reg, "cros_ec_kernel_log_lost_records_total", nil); got != 4 {
		t.Errorf("lost = %v, want 4", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

func countOf(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	return -1
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		rec    string
		driver string
		kind   string
		ok     bool
	}{
		{"4,1,1,-;cros-ec-spi spi2.0: EC failed to respond in time", "cros-ec-spi", "timeout", true},
		{"3,1,1,-;cros-ec-spi spi-PRP0001:01: bad packet checksum, expected 12, got 34", "cros-ec-spi", "checksum", true},
		{"3,1,1,-;cros_ec_lpcs cros_ec_lpcs.0: packet too long (300 bytes, expected 256)", "cros_ec_lpcs", "protocol", true},
		{"3,1,1,-;cros-ec-uart serial0-0: Bad packet checksum calculated 3", "cros-ec-uart", "checksum", true},
		{"3,1,1,-;cros-ec-spi spi2.0: Transfer error 1/3: -110", "cros-ec-spi", "timeout", true},
		{"3,1,1,-;cros-ec-spi spi2.0: Transfer error 1/3: -74", "cros-ec-spi", "checksum", true},
		{"3,1,1,-;cros-ec-spi spi2.0: failed to retrieve wake mask: -5", "cros-ec-spi", "transfer", true},
		{"3,1,1,-;cros-ec-spi spi2.0: failed to retrieve wake mask: nonsense", "cros-ec-spi", "other", true},
		{"3,1,1,-;cros_ec_ishtp x: Timed out for response to host message", "cros_ec_ishtp", "timeout", true},
		// Pre-2020 cros_ec_cmd_xfer_status: "Command xfer error (err:%d)".
		{"3,1,1,-;cros-ec-spi spi2.0: Command xfer error (err:-110)", "cros-ec-spi", "timeout", true},
		{"3,1,1,-;cros-ec-i2c 4-001e: Command xfer error (err:-74)", "cros-ec-i2c", "checksum", true},
		{"3,1,1,-;cros-ec-spi spi2.0: Command xfer error (err:-11)", "cros-ec-spi", "transfer", true},
		{"3,1,1,-;cros_ec_lpcs cros_ec_lpcs.0: Command xfer error (err:-71)", "cros_ec_lpcs", "protocol", true},
		{"3,1,1,-;cros-ec-spi spi2.0: Command xfer error (err:x)", "cros-ec-spi", "other", true},
		{"3,1,1,-;cros-ec-spi spi2.0: Command xfer error (err:-110", "cros-ec-spi", "other", true},
		{"6,1,1,-;cros-ec-spi spi2.0: EC failed to respond in time", "", "", false},  // info level
		{"12,1,1,-;cros-ec-spi spi2.0: EC failed to respond in time", "", "", false}, // userspace
		{"3,1,1,-;cros-ec-spix spi2.0: EC failed to respond in time", "", "", false},
		{"3,1,1,-;cros-ec-spi", "", "", false},
		{"3,1,1,-;cros-ec-spi spi2.0 no colon", "", "", false},
	} {
		r, err := ParseRecord([]byte(tc.rec))
		if err != nil {
			t.Fatalf("%q: %v", tc.rec, err)
		}
		d, k, ok := Classify(r)
		if ok != tc.ok || (ok && (Drivers[d] != tc.driver || k.String() != tc.kind)) {
			t.Errorf("%q: got %v %v %v, want %q %q %v", tc.rec, d, k, ok, tc.driver, tc.kind, tc.ok)
		}
	}
}

func TestParseRecord(t *testing.T) {
	r, err := ParseRecord([]byte("12,77,1234,-,caller=T9,future=1;hello \\x5c world\n KEY=v\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Facility != 1 || r.Level != 4 || r.Seq != 77 || r.TimeUsec != 1234 || string(r.Text) != `hello \x5c world` {
		t.Fatalf("%+v %q", r, r.Text)
	}
	for _, bad := range []string{"", ";", "a,b,c;x", "1,2;x", "1,x,3;y", "1,2,x;y", "no semicolon"} {
		if _, err := ParseRecord([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			return
		}
		if r.Level < 0 || r.Level > 7 || len(r.Text) > len(b) {
			t.Fatalf("bad record %+v", r)
		}
		Classify(r) // must not panic
	})
}

func TestKmsgBoundDriversStartAtZero(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bus", "spi", "drivers", "cros-ec-spi"), 0o755); err != nil {
		t.Fatal(err)
	}
	k := NewKmsg(KmsgOptions{SysfsRoot: root})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewSet(nil, Named{"kmsg", k}))
	if n := testutil.CollectAndCount(NewSet(nil, Named{"kmsg", k}), "cros_ec_kernel_errors_total"); n != int(numKinds) {
		t.Fatalf("bound driver exports %d series, want %d", n, numKinds)
	}
	if got := countOf(t, reg, "cros_ec_kernel_errors_total", map[string]string{"driver": "cros-ec-spi", "kind": "timeout"}); got != 0 {
		t.Fatalf("got %v", got)
	}
}

func TestKmsgUnavailable(t *testing.T) {
	var logs bytes.Buffer
	k := NewKmsg(KmsgOptions{Path: filepath.Join(t.TempDir(), "missing"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	k.Start(context.Background())
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewSet(nil, Named{"kmsg", k}))
	if got := countOf(t, reg, "cros_ec_scrape_collector_success", map[string]string{"collector": "kmsg"}); got != 0 {
		t.Fatalf("success = %v for a missing log, want 0", got)
	}
	if err := k.Update(make(chan prometheus.Metric, 100)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Update error %v", err)
	}
	logs.Reset()
	k.fail(&os.PathError{Op: "open", Path: "/dev/kmsg", Err: syscall.EPERM})
	if !strings.Contains(logs.String(), "CAP_SYSLOG") || strings.Count(logs.String(), "\n") != 1 {
		t.Fatalf("permission error not explained in one line: %q", logs.String())
	}
}

// TestKmsgLive writes a cros-ec-looking line into the real /dev/kmsg. The kernel stores
// userspace writes with facility LOG_USER even when the prefix asks for facility 0
// (devkmsg_write), so the collector must ignore it; with countUser the same record is
// counted, proving the follower reads the live log from its end.
func TestKmsgLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to write /dev/kmsg")
	}
	w, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("cannot write /dev/kmsg: %v", err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	plain := NewKmsg(KmsgOptions{SysfsRoot: t.TempDir()})
	plain.Start(ctx)
	user := NewKmsg(KmsgOptions{SysfsRoot: t.TempDir()})
	user.countUser = true
	user.Start(ctx)
	if plain.err != nil || user.err != nil {
		t.Skipf("cannot read /dev/kmsg: %v %v", plain.err, user.err)
	}
	if _, err := w.Write([]byte("<3>cros-ec-spi spi9.9: EC failed to respond in time\n")); err != nil {
		t.Skipf("kernel refused the write: %v", err)
	}
	count := func(k *Kmsg) float64 {
		k.mu.Lock()
		defer k.mu.Unlock()
		return float64(k.counts[0][KindTimeout])
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(user) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("live record not seen (records read: %d)", user.Records())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for plain.Records() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if count(plain) != 0 {
		t.Fatal("a userspace record was counted as a kernel error")
	}
	if plain.Records() < 1 {
		t.Fatal("the plain follower read nothing")
	}
	cancel()
}
