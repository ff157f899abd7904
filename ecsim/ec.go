package ecsim

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/spi"
)

// SPI status bytes (ec_commands.h EC_SPI_*).
const (
	FrameStart = 0xEC
	PastEnd    = 0xED
	RxReady    = 0x78
	Receiving  = 0xF9
	Processing = 0xFA
	RxBadData  = 0xFB
	NotReady   = 0xFC
	Idle       = 0xFF // MISO while the EC is rebooting (SPI block off, line pulled up)
)

type state uint8

const (
	stIdle     state = iota // CS high
	stRecv                  // receiving the request
	stProc                  // processing, 0xFA until readyAt
	stResp                  // sending 0xEC + packet, then 0xED
	stBad                   // RX_BAD_DATA until CS deasserts
	stNotReady              // NOT_READY until CS deasserts
	stSilent                // rebooting
)

const never = math.MaxInt64

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

var (
	_ spi.Conn    = (*EC)(nil)
	_ conn.Limits = (*EC)(nil)
)

// EC is a simulated EC. It implements spi.Conn (and conn.Limits); one caller
// at a time, state is guarded by a mutex that is never held during wire time.
type EC struct {
	mu  sync.Mutex
	cfg Config
	clk clock
	rng *rand.Rand

	// transaction
	cs           bool
	st           state
	csAt         int64
	stageAt      int64
	lastUp       int64
	pendingUntil int64
	readyAt      int64
	req          []byte
	reqN         int
	reqWant      int
	frame        []byte // 0xEC + response packet
	frameN       int
	frameI       int
	cur          uint16 // faults of this transaction
	txn          uint64

	// EC state
	bootAt       int64
	silentUntil  int64
	nextReboot   int64
	reboots      int
	resetFlags   uint32
	apResets     uint32
	apResetTimes [4]uint32
	commsBusy    int
	saved        ec.Result
	savedValid   bool
	savedHadData bool
	scratch      []byte // handler output, zeroed before each handler
	memmap       [memmapSize]byte
	name         string
}

// Reset flags (EC_RESET_FLAG_*).
const (
	ResetFlagPowerOn  = 1 << 3
	ResetFlagWatchdog = 1 << 4
	ResetFlagSoft     = 1 << 5
	ResetFlagSysjump  = 1 << 10
)

const memmapSize = 255

// New returns a simulated EC; invalid sizes are replaced by the defaults.
func New(cfg Config) *EC {
	if cfg.MaxRequest < ec.HeaderSize || cfg.MaxRequest > 0xffff {
		cfg.MaxRequest = DefaultMaxPacket
	}
	if cfg.MaxResponse < ec.HeaderSize || cfg.MaxResponse > 0xffff {
		cfg.MaxResponse = DefaultMaxPacket
	}
	if cfg.Faults.Result == ec.ResSuccess {
		cfg.Faults.Result = ec.ResError
	}
	e := &EC{
		cfg:     cfg,
		clk:     newClock(),
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		req:     make([]byte, cfg.MaxRequest),
		frame:   make([]byte, 1+cfg.MaxResponse),
		scratch: make([]byte, max(cfg.MaxResponse, 1024)),
		lastUp:  -1 << 62,
		name:    "ecsim",
	}
	if cfg.Clock > 0 {
		e.name = "ecsim@" + strconv.FormatInt(cfg.Clock, 10) + "Hz/" + cfg.Wire.String()
	}
	now := e.clk.now()
	e.boot(now, ResetFlagPowerOn)
	e.silentUntil = 0
	e.apResets = 1
	e.apResetTimes[0] = 850
	if cfg.Faults.RebootEvery > 0 {
		e.nextReboot = now + int64(cfg.Faults.RebootEvery)
	} else {
		e.nextReboot = never
	}
	return e
}

func (e *EC) boot(t int64, flags uint32) {
	e.bootAt = t
	e.resetFlags = flags
	e.apResets = 0
	e.apResetTimes = [4]uint32{}
	e.commsBusy = 0
	e.saved, e.savedValid = ec.ResUnavailable, false
	e.pendingUntil = 0
	e.memmap = [memmapSize]byte{}
	m := e.memmap[:]
	for i := 0; i < 16; i++ {
		m[i] = 0xff // not present
	}
	m[0], m[1] = 318-200, 310-200 // 45 °C, 37 °C
	for i := 0; i < 4; i++ {
		binary.LittleEndian.PutUint16(m[0x10+2*i:], 0xffff)
	}
	binary.LittleEndian.PutUint16(m[0x10:], 2400)
	for i := 0x18; i < 0x20; i++ {
		m[i] = 0xff
	}
	m[0x20], m[0x21] = 'E', 'C'
	m[0x22] = 1 // id version
	m[0x23] = 2 // thermal version
	m[0x24] = 0 // no battery
}

// reboot makes the EC silent for RebootSilence; uptime restarts and the reset
// flags alternate between WATCHDOG and SOFT.
func (e *EC) reboot(t int64) {
	e.reboots++
	flags := uint32(ResetFlagWatchdog)
	if e.reboots%2 == 0 {
		flags = ResetFlagSoft
	}
	e.boot(t, flags)
	e.silentUntil = t + int64(e.cfg.Faults.RebootSilence)
}

// Reboots returns how many times the EC rebooted.
func (e *EC) Reboots() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reboots
}

// String names the simulated device.
func (e *EC) String() string { return e.name }

// Duplex returns conn.Full.
func (e *EC) Duplex() conn.Duplex { return conn.Full }

// MaxTxSize implements conn.Limits like spidev's bufsiz.
func (e *EC) MaxTxSize() int { return e.cfg.MaxTxSize }

// Tx clocks one full-duplex transfer in its own CS-asserted transaction.
func (e *EC) Tx(w, r []byte) error {
	p := [1]spi.Packet{{W: w, R: r}}
	return e.TxPackets(p[:])
}

var (
	errEmpty    = errors.New("ecsim: empty packets")
	errSizes    = errors.New("ecsim: when both w and r are used, they must be the same size")
	errTooLarge = errors.New("ecsim: TxPackets larger than MaxTxSize (spidev bufsiz)")
)

// TxPackets clocks the packets as one spidev message: CS stays asserted between
// packets with KeepCS, blips between packets without it, and stays asserted
// after the call when the last packet has KeepCS. The caller waits for the
// wire time.
func (e *EC) TxPackets(p []spi.Packet) error {
	total := 0
	for i := range p {
		lw, lr := len(p[i].W), len(p[i].R)
		if lw != 0 && lr != 0 && lw != lr {
			return errSizes
		}
		total += max(lw, lr)
	}
	if total == 0 {
		return errEmpty
	}
	if e.cfg.MaxTxSize > 0 && total > e.cfg.MaxTxSize {
		return errTooLarge
	}
	e.mu.Lock()
	start := e.clk.now()
	if !e.cs {
		if e.roll(start) {
			e.mu.Unlock()
			e.clk.sleepFor(e.cfg.Faults.HangFor, WireSleep)
			e.mu.Lock()
			start = e.clk.now()
		}
	}
	k := int64(0)
	t := start
	for i := range p {
		if !e.cs {
			e.assert(t)
		}
		w, r := p[i].W, p[i].R
		n := max(len(w), len(r))
		for j := 0; j < n; j++ {
			k++
			t = start + e.wire(k)
			var in byte
			if j < len(w) {
				in = w[j]
			}
			out := e.clock(in, t)
			if j < len(r) {
				r[j] = out
			}
		}
		if !p[i].KeepCS {
			e.deassert(t)
		}
	}
	e.mu.Unlock()
	if t > start {
		e.clk.waitUntil(t, e.cfg.Wire)
	}
	return nil
}

// wire returns the wire time of k bytes in ns.
func (e *EC) wire(k int64) int64 {
	if e.cfg.Clock <= 0 {
		return 0
	}
	return k * 8_000_000_000 / e.cfg.Clock
}

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

// assert handles a CS falling edge at t.
func (e *EC) assert(t int64) {
	e.cs = true
	e.csAt, e.stageAt = t, t
	e.reqN, e.reqWant = 0, 0
	switch {
	case t < e.silentUntil:
		e.st = stSilent
	case t-e.lastUp < int64(e.cfg.RearmGap) || t < e.pendingUntil || e.cur&fNotReady != 0:
		e.st = stNotReady
	default:
		e.st = stRecv
	}
	e.cur &^= fNotReady // a CS blip inside one call is judged on its own
}

// deassert handles a CS rising edge at t.
func (e *EC) deassert(t int64) {
	if e.st == stProc && t < e.readyAt && e.readyAt != never {
		e.pendingUntil = e.readyAt // response produced, then discarded
	}
	e.cs = false
	e.st = stIdle
	e.lastUp = t
}

// giveUp abandons the transaction at t (receive timeout or CS budget).
func (e *EC) giveUp(t int64) {
	if e.st == stProc && t < e.readyAt && e.readyAt != never {
		e.pendingUntil = e.readyAt
	}
	e.st = stBad
}

// clock exchanges one byte clocked at time t (end of the byte).
func (e *EC) clock(in byte, t int64) byte {
	switch e.st {
	case stNotReady:
		return NotReady
	case stBad:
		return RxBadData
	case stSilent:
		return Idle
	}
	if e.cfg.CSBudget > 0 && t-e.csAt > int64(e.cfg.CSBudget) {
		e.giveUp(t)
		return RxBadData
	}
	switch e.st {
	case stRecv:
		if e.cfg.RxBudget > 0 && t-e.stageAt > int64(e.cfg.RxBudget) {
			e.giveUp(t)
			return RxBadData
		}
		out := byte(Receiving)
		if e.reqN == 0 {
			out = RxReady
		}
		e.req[e.reqN] = in
		e.reqN++
		switch e.reqN {
		case 1:
			if in != ec.RequestVersion || e.cur&fBadData != 0 { // includes v2 bytes >= 0xDC
				e.st = stBad
			}
		case 3:
			e.stageAt = t
		case ec.HeaderSize:
			e.stageAt = t
			h := ec.ParseRequestHeader(e.req)
			e.reqWant = ec.HeaderSize + int(h.DataLen)
			if h.Reserved != 0 || e.reqWant > e.cfg.MaxRequest {
				e.st = stBad
			}
		}
		if e.st == stRecv && e.reqN >= ec.HeaderSize && e.reqN == e.reqWant {
			e.complete(t)
		}
		return out
	case stProc:
		if t < e.readyAt {
			return Processing
		}
		e.st = stResp
		fallthrough
	case stResp:
		if e.frameI < e.frameN {
			b := e.frame[e.frameI]
			e.frameI++
			return b
		}
		return PastEnd
	}
	return PastEnd
}

// complete runs the host command whose last byte arrived at t and prepares
// the response frame.
func (e *EC) complete(t int64) {
	h := ec.ParseRequestHeader(e.req)
	var res ec.Result
	var n int
	if ec.Sum(e.req[:e.reqWant]) != 0 {
		res = ec.ResInvalidChecksum
	} else {
		res, n = e.execute(h.Command, h.CmdVer, e.req[ec.HeaderSize:e.reqWant], t)
	}
	res, n = e.commandFaults(h.Command, res, n)
	pkt := e.frame[1:]
	m, _ := ec.EncodeResponse(pkt, res, e.scratch[:n])
	if e.cur&fBadLen != 0 {
		binary.LittleEndian.PutUint16(pkt[4:], uint16(e.cfg.MaxResponse-ec.HeaderSize+1))
		pkt[1] = 0
		pkt[1] = ec.Checksum(pkt[:m])
	}
	if e.cur&fChecksum != 0 {
		pkt[1]++
	}
	e.frame[0] = FrameStart
	e.frameN, e.frameI = 1+m, 0
	e.st = stProc
	e.readyAt = t + int64(e.cfg.Processing)
	if e.cur&fLate != 0 {
		e.readyAt += int64(e.cfg.Faults.LateBy)
	}
	if e.cur&fNoAnswer != 0 {
		e.readyAt = never
	}
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

// Transactions returns how many CS-asserted transactions (or transport
// commands) the EC has seen.
func (e *EC) Transactions() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.txn
}

// Uptime returns the EC's time since boot.
func (e *EC) Uptime() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Duration(e.clk.now() - e.bootAt)
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

// ResetFlags returns the EC_RESET_FLAG_* bits of the current boot.
func (e *EC) ResetFlags() uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.resetFlags
}
