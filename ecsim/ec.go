package ecsim

import (
	"encoding/binary"
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

// Uptime returns the EC's time since boot.
func (e *EC) Uptime() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return time.Duration(e.clk.now() - e.bootAt)
}
