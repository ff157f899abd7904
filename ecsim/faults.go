package ecsim

import "github.com/ec-exporter/ec_exporter/ec"

// fault bits rolled per transaction.
const (
	fChecksum uint16 = 1 << iota
	fNoAnswer
	fLate
	fBadData
	fNotReady
	fInProgress
	fECResult
	fBadLen
	fReboot
	fHang
)

// roll starts a transaction's bookkeeping: counts it, handles periodic
// reboots and rolls this transaction's faults. It reports a hang.
func (e *EC) roll(t int64) bool {
	e.txn++
	if t >= e.nextReboot {
		e.reboot(t)
		e.nextReboot = t + int64(e.cfg.Faults.RebootEvery)
	}
	f := &e.cfg.Faults
	var cur uint16
	for _, c := range [...]struct {
		f   *Fault
		bit uint16
	}{
		{&f.Checksum, fChecksum}, {&f.NoAnswer, fNoAnswer}, {&f.Late, fLate},
		{&f.BadData, fBadData}, {&f.NotReady, fNotReady}, {&f.InProgress, fInProgress},
		{&f.ECResult, fECResult}, {&f.BadLen, fBadLen}, {&f.Reboot, fReboot}, {&f.Hang, fHang},
	} {
		if e.fires(*c.f) {
			cur |= c.bit
		}
	}
	e.cur = cur
	if cur&fReboot != 0 {
		e.reboot(t)
	}
	return cur&fHang != 0 && e.cfg.Faults.HangFor > 0
}

func (e *EC) fires(f Fault) bool {
	if f.Every > 0 && e.txn%f.Every == 0 {
		return true
	}
	return f.P > 0 && e.rng.Float64() < f.P
}

// commandFaults applies the transport-independent faults to a result.
func (e *EC) commandFaults(cmd uint16, res ec.Result, n int) (ec.Result, int) {
	if e.cur&fInProgress != 0 && cmd != cmdGetCommsStatus && cmd != cmdResendResponse {
		e.saved, e.savedValid, e.savedHadData = res, true, n > 0
		e.commsBusy = max(e.cfg.Faults.InProgressPolls, 0)
		return ec.ResInProgress, 0
	}
	if e.cur&fECResult != 0 {
		return e.cfg.Faults.Result, 0
	}
	return res, n
}

// SetFaults replaces the fault configuration (e.g. after the host's probe).
func (e *EC) SetFaults(f Faults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if f.Result == ec.ResSuccess {
		f.Result = ec.ResError
	}
	e.cfg.Faults = f
	e.nextReboot = never
	if f.RebootEvery > 0 {
		e.nextReboot = e.clk.now() + int64(f.RebootEvery)
	}
}
