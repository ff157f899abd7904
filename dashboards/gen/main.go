// Command gen writes the generated dashboards as JSON files (run by go generate).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ec-exporter/ec_exporter/dashboards"
)

func main() {
	dir := flag.String("dir", ".", "directory to write the dashboard JSON files into")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	for _, d := range dashboards.All() {
		built, err := d.Build()
		if err != nil {
			return fmt.Errorf("build %s: %w", d.File, err)
		}
		b, err := dashboards.Marshal(built)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, d.File), b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", d.File, err)
		}
	}
	return nil
}
