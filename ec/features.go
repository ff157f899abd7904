package ec

import (
	"encoding/binary"
	"strconv"
)

// Feature is a bit number of GET_FEATURES (enum ec_feature_code).
type Feature uint8

// Features named in this package; see ec_commands.h for the full list (FeatureNames).
const (
	FeatureLimited     Feature = 0
	FeatureFlash       Feature = 1
	FeatureUSBPD       Feature = 22
	FeatureFingerprint Feature = 28
	FeatureTouchpad    Feature = 29
	FeatureSCP         Feature = 39
	FeatureISH         Feature = 40
)

var featureNames = [...]string{
	"LIMITED", "FLASH", "PWM_FAN", "PWM_KEYB", "LIGHTBAR", "LED", "MOTION_SENSE", "KEYB",
	"PSTORE", "PORT80", "THERMAL", "BKLIGHT_SWITCH", "WIFI_SWITCH", "HOST_EVENTS", "GPIO", "I2C",
	"CHARGER", "BATTERY", "SMART_BATTERY", "HANG_DETECT", "PMU", "SUB_MCU", "USB_PD", "USB_MUX",
	"MOTION_SENSE_FIFO", "VSTORE", "USBC_SS_MUX_VIRTUAL", "RTC", "FINGERPRINT", "TOUCHPAD", "RWSIG",
	"DEVICE_EVENT", "UNIFIED_WAKE_MASKS", "HOST_EVENT64", "EXEC_IN_RAM", "CEC",
	"MOTION_SENSE_TIGHT_TIMESTAMPS", "REFINED_TABLET_MODE_HYSTERESIS", "EFS2", "SCP", "ISH",
	"TYPEC_CMD", "TYPEC_REQUIRE_AP_MODE_ENTRY", "TYPEC_MUX_REQUIRE_AP_ACK", "S4_RESIDENCY",
	"TYPEC_AP_MUX_SET", "TYPEC_AP_VDM_SEND",
}

// String returns the ec_commands.h name without EC_FEATURE_, or "FEATURE_<n>".
func (f Feature) String() string {
	if int(f) < len(featureNames) {
		return featureNames[f]
	}
	return "FEATURE_" + strconv.Itoa(int(f))
}

// Features is the answer to GET_FEATURES: a 64-bit feature mask.
type Features [2]uint32

// DecodeFeatures decodes a GET_FEATURES response (8 bytes).
func DecodeFeatures(b []byte) (Features, error) {
	if err := needLen("GET_FEATURES", b, FeaturesSize); err != nil {
		return Features{}, err
	}
	return Features{binary.LittleEndian.Uint32(b[0:]), binary.LittleEndian.Uint32(b[4:])}, nil
}

// Has reports whether feature bit f is set.
func (fs Features) Has(f Feature) bool {
	if f >= 64 {
		return false
	}
	return fs[f/32]&(1<<(f%32)) != 0
}

// List returns the set features in bit order.
func (fs Features) List() []Feature {
	var out []Feature
	for f := Feature(0); f < 64; f++ {
		if fs.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// Names returns the names of the set features in bit order.
func (fs Features) Names() []string {
	var out []string
	for _, f := range fs.List() {
		out = append(out, f.String())
	}
	return out
}
