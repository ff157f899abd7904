// Package dashboards builds ec_exporter's Grafana dashboards with the
// grafana-foundation-sdk and holds their generated JSON (ec-comms-*.json),
// which is committed so that users can import or provision it directly.
// Regenerate after a change with `go generate ./dashboards/...`; a test fails
// while the committed JSON differs from what the builders make.
package dashboards

//go:generate go run ./gen -dir .
