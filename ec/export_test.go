package ec

import "time"

// SetSleep replaces the Device's sleep, so tests record the retry delays instead of sleeping.
func SetSleep(d *Device, f func(time.Duration)) { d.sleep = f }
