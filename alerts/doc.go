// Package alerts holds the Prometheus alerting and recording rules for
// ec_exporter (mixin style) and the tests that prove them with promtool and a
// real Prometheus. The rule files are plain YAML; Rules embeds them so that Go
// programs can ship or install them.
package alerts

import "embed"

// Rules holds the rule files: alerts.yml and recording.yml.
//
//go:embed alerts.yml recording.yml
var Rules embed.FS

// RuleFiles names the rule files in Rules, recording rules first.
func RuleFiles() []string { return []string{"recording.yml", "alerts.yml"} }
