module github.com/ec-exporter/ec_exporter

go 1.26.0

require (
	github.com/alecthomas/kong v1.17.0
	github.com/prometheus/common v0.73.1
)
