package ec

import (
	"encoding/binary"
	"strconv"
	"time"
)

// EC reset flags (EC_RESET_FLAG_*), as reported in GET_UPTIME_INFO ec_reset_flags.
const (
	ResetFlagOther      uint32 = 1 << 0
	ResetFlagResetPin   uint32 = 1 << 1
	ResetFlagBrownout   uint32 = 1 << 2
	ResetFlagPowerOn    uint32 = 1 << 3
	ResetFlagWatchdog   uint32 = 1 << 4
	ResetFlagSoft       uint32 = 1 << 5
	ResetFlagHibernate  uint32 = 1 << 6
	ResetFlagRTCAlarm   uint32 = 1 << 7
	ResetFlagWakePin    uint32 = 1 << 8
	ResetFlagLowBattery uint32 = 1 << 9
	ResetFlagSysjump    uint32 = 1 << 10
	ResetFlagHard       uint32 = 1 << 11
	ResetFlagAPOff      uint32 = 1 << 12
	ResetFlagPreserved  uint32 = 1 << 13
	ResetFlagUSBResume  uint32 = 1 << 14
	ResetFlagRDD        uint32 = 1 << 15
	ResetFlagRBOX       uint32 = 1 << 16
	ResetFlagSecurity   uint32 = 1 << 17
	ResetFlagAPWatchdog uint32 = 1 << 18
	ResetFlagStayInRO   uint32 = 1 << 19
	ResetFlagEFS        uint32 = 1 << 20
	ResetFlagAPIdle     uint32 = 1 << 21
	ResetFlagInitialPwr uint32 = 1 << 22
)

var resetFlagNames = [...]string{
	"OTHER", "RESET_PIN", "BROWNOUT", "POWER_ON", "WATCHDOG", "SOFT", "HIBERNATE", "RTC_ALARM",
	"WAKE_PIN", "LOW_BATTERY", "SYSJUMP", "HARD", "AP_OFF", "PRESERVED", "USB_RESUME", "RDD",
	"RBOX", "SECURITY", "AP_WATCHDOG", "STAY_IN_RO", "EFS", "AP_IDLE", "INITIAL_PWR",
}

// ResetFlagNames returns the names (EC_RESET_FLAG_ without the prefix) of the bits set in
// flags, lowest bit first; unknown bits are named "BIT_<n>".
func ResetFlagNames(flags uint32) []string {
	var out []string
	for i := 0; i < 32; i++ {
		if flags&(1<<uint(i)) == 0 {
			continue
		}
		if i < len(resetFlagNames) {
			out = append(out, resetFlagNames[i])
		} else {
			out = append(out, "BIT_"+strconv.Itoa(i))
		}
	}
	return out
}

// ResetFlagName returns the name of reset flag bit i (0..31).
func ResetFlagName(bit int) string {
	if bit >= 0 && bit < len(resetFlagNames) {
		return resetFlagNames[bit]
	}
	return "BIT_" + strconv.Itoa(bit)
}

// APReset is one entry of the EC's log of recent AP resets.
type APReset struct {
	Cause uint16        // enum chipset_{reset,shutdown}_reason
	Time  time.Duration // since EC boot; 0 for an empty entry
}

// Empty reports whether the log entry is unused (cause and time both zero).
func (r APReset) Empty() bool { return r.Cause == 0 && r.Time == 0 }

// UptimeInfo is the answer to GET_UPTIME_INFO.
type UptimeInfo struct {
	SinceBoot    time.Duration // time_since_ec_boot_ms (wraps after ~49.7 days)
	APResets     uint32        // ap_resets_since_ec_boot
	ResetFlags   uint32        // ec_reset_flags (EC_RESET_FLAG_*)
	RecentResets [4]APReset    // recent_ap_reset
}

// ResetFlagNames returns the names of the EC's reset flags.
func (u UptimeInfo) ResetFlagNames() []string { return ResetFlagNames(u.ResetFlags) }

// DecodeUptimeInfo decodes a GET_UPTIME_INFO response (44 bytes).
func DecodeUptimeInfo(b []byte) (UptimeInfo, error) {
	if err := needLen("GET_UPTIME_INFO", b, UptimeInfoSize); err != nil {
		return UptimeInfo{}, err
	}
	u := UptimeInfo{
		SinceBoot:  time.Duration(binary.LittleEndian.Uint32(b[0:])) * time.Millisecond,
		APResets:   binary.LittleEndian.Uint32(b[4:]),
		ResetFlags: binary.LittleEndian.Uint32(b[8:]),
	}
	for i := range u.RecentResets {
		e := b[12+8*i:]
		u.RecentResets[i] = APReset{
			Cause: binary.LittleEndian.Uint16(e[0:]),
			Time:  time.Duration(binary.LittleEndian.Uint32(e[4:])) * time.Millisecond,
		}
	}
	return u, nil
}
