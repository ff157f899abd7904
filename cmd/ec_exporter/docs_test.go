package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/internal/testkit"
	"github.com/ec-exporter/ec_exporter/prober"
)

// commandsTable renders prober.Commands for docs/metrics.md.
func commandsTable() string {
	var b strings.Builder
	b.WriteString("| `command` label | host command | sent |\n|---|---|---|\n")
	for _, c := range prober.Commands {
		label := "`" + c.Name + "`"
		if c.Class == prober.OnDemand {
			label = "(none)"
		}
		fmt.Fprintf(&b, "| %s | `EC_CMD_%s` (0x%04x) | %s |\n", label, ec.CommandName(c.Code), c.Code, c.Class)
	}
	return b.String()
}

const (
	docsMetrics  = "../../docs/metrics.md"
	commandsOpen = "<!-- commands: generated from prober.Commands by TestMetricsDocs; go test ./cmd/ec_exporter -run TestMetricsDocs -update -->\n"
	commandsEnd  = "<!-- /commands -->"
)

// TestMetricsDocs checks docs/metrics.md against the code and a live scrape of
// `ec_exporter serve --ec.transport=sim` with default flags: the command table is
// prober.Commands, every cros_ec_ metric served is documented (and every documented
// one is served, but for the kernel's own series that need a cros-ec driver), and the
// series counts per EC and per host are the ones served. README.md quotes the same.
func TestMetricsDocs(t *testing.T) {
	b, err := os.ReadFile(docsMetrics)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, commandsOpen), strings.Index(doc, commandsEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/metrics.md lacks the generated commands block (%q … %q)", commandsOpen, commandsEnd)
	}
	if want := commandsTable(); doc[i+len(commandsOpen):j] != want {
		if *updateGolden {
			doc = doc[:i+len(commandsOpen)] + want + doc[j:]
			if err := os.WriteFile(docsMetrics, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("docs/metrics.md's command table is stale: run with -update\nwant:\n%s", want)
		}
	}

	bin := exporterBinary(t)
	port := testkit.FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	start(t, bin, "serve", "--ec.transport=sim", "--web.listen-address=127.0.0.1:"+strconv.Itoa(port))
	var body string
	testkit.Eventually(t, "a scrape with the EC's identity and uptime", 20*time.Second, func() bool {
		body = get(t, base+"/metrics")
		return strings.Contains(body, "cros_ec_info{") && strings.Contains(body, "cros_ec_uptime_seconds{")
	})
	served := map[string]bool{}
	perEC, perHost := 0, 0
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "cros_ec_") {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		served[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
		if strings.Contains(line, `device="sim"`) {
			perEC++
		} else {
			perHost++
		}
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(cros_ec_[a-z_]+)`").FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = true
	}
	for name := range served {
		if !documented[name] {
			t.Errorf("%s is served but not in docs/metrics.md's tables", name)
		}
	}
	// Served only in some states: the kernel's own series need a cros-ec driver, the open
	// failure only exists while a device is not open.
	conditional := func(name string) bool {
		return strings.HasPrefix(name, "cros_ec_kernel_") || name == "cros_ec_device_open_failure_info"
	}
	for name := range documented {
		if !served[name] && !conditional(name) {
			t.Errorf("%s is documented but not served by serve --ec.transport=sim", name)
		}
	}
	for _, c := range []struct {
		what string
		want int
	}{{"per EC", perEC}, {"per host", perHost}} {
		m := regexp.MustCompile(`\| \*\*` + c.what + `[^|]*\*\* \| \*\*(\d+)\*\* \|`).FindStringSubmatch(doc)
		if m == nil {
			t.Errorf("docs/metrics.md has no **%s** row in its series table", c.what)
			continue
		}
		if got, _ := strconv.Atoi(m[1]); got != c.want {
			t.Errorf("docs/metrics.md says %d series %s, a live scrape serves %d", got, c.what, c.want)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d series per EC", perEC); !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not say %q", want)
	}
	t.Logf("live scrape: %d cros_ec_ series per EC, %d per host; metrics %v", perEC, perHost, slices.Sorted(func(yield func(string) bool) {
		for k := range served {
			if !yield(k) {
				return
			}
		}
	}))
}
