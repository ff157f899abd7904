package ecsim

import (
	"encoding/binary"
	"errors"

	"github.com/ec-exporter/ec_exporter/ec"
	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/spi"
)

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
	if b := e.cfg.csBudget(); b > 0 && t-e.csAt > int64(b) {
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
