package alerts

import (
	"os"
	"regexp"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestRemoteWriteKeepsRecordingRules checks that the example remote_write filter ships every
// recording rule output and every raw series an alert needs on the central side.
func TestRemoteWriteKeepsRecordingRules(t *testing.T) {
	b, err := os.ReadFile("../examples/prometheus/remote_write.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		RemoteWrite []struct {
			WriteRelabelConfigs []struct {
				Regex  string `yaml:"regex"`
				Action string `yaml:"action"`
			} `yaml:"write_relabel_configs"`
		} `yaml:"remote_write"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var keep *regexp.Regexp
	for _, rw := range cfg.RemoteWrite {
		for _, rc := range rw.WriteRelabelConfigs {
			if rc.Action == "keep" {
				keep = regexp.MustCompile("^(?:" + rc.Regex + ")$") // Prometheus anchors relabel regexes
			}
		}
	}
	if keep == nil {
		t.Fatal("no keep rule in remote_write.yml")
	}
	for _, r := range recordingRules(t) {
		if !keep.MatchString(r.Record) {
			t.Errorf("remote_write.yml drops recording rule %s", r.Record)
		}
	}
	for _, raw := range []string{"cros_ec_up", "cros_ec_info", "up"} {
		if !keep.MatchString(raw) {
			t.Errorf("remote_write.yml drops %s", raw)
		}
	}
}
