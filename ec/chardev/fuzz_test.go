package chardev

import (
	"strings"
	"testing"
)

func TestParseBanner(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Banner
		wantErr string
	}{
		{"1.0.0\nsamus_v1.1.2\nsamus_v1.7.0\nread-write\n", Banner{RO: "samus_v1.1.2", RW: "samus_v1.7.0", Image: "read-write"}, ""},
		{"1.0.0\n", Banner{}, ""},
		{"1.0.0\nUnknown EC version, returned error: -110\n", Banner{RO: "Unknown EC version, returned error: -110"}, ""},
		{"2.0.0\nx\n", Banner{}, `banner starts "2.0.0"`},
		{"", Banner{}, "banner starts"},
	} {
		got, err := ParseBanner([]byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseBanner feeds arbitrary read() text: never a panic, and a banner only after "1.0.0".
func FuzzParseBanner(f *testing.F) {
	f.Add([]byte("1.0.0\nsamus_v1.1.2\nsamus_v1.7.0\nread-write\n"))
	f.Add([]byte("1.0.0\n\n\n\n\n"))
	f.Add([]byte{0xff, 0x00, '\n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := ParseBanner(b)
		if err == nil && !strings.HasPrefix(string(b), BannerVersion) {
			t.Fatalf("accepted %q without the %s line", b, BannerVersion)
		}
	})
}
