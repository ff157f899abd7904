package ecspi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ec-exporter/ec_exporter/ecspi"
)

func TestOpenErrorsSayWhatToDo(t *testing.T) {
	cases := []struct {
		dev  string
		hz   int64
		want string
	}{
		{"/dev/spidev9.7", 3_000_000, "modprobe spidev"},
		{"/dev/spidev9.7", 0, "frequency in Hz above 0"},
		{"SPI9.7", 3_000_000, "/dev/spidev"},
	}
	for _, tc := range cases {
		_, err := ecspi.Open(tc.dev, tc.hz, ecspi.Config{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q, %d) = %v; want an error mentioning %q", tc.dev, tc.hz, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "--") {
			t.Errorf("Open(%q, %d) = %v: a library error names a CLI flag (cmd adds the hint)", tc.dev, tc.hz, err)
		}
		if tc.hz <= 0 && !errors.Is(err, ecspi.ErrSpeed) {
			t.Errorf("Open(%q, %d) = %v, want ErrSpeed", tc.dev, tc.hz, err)
		}
	}
}
