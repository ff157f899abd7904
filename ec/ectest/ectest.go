// Package ectest is the EC device fake the tests of the layers above ec share: a
// simulated EC (ecsim) behind a transport whose commands a test can intercept, to fail,
// block, answer differently or advance a clock.
package ectest

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
)

// Hook intercepts one command before the simulated EC sees it. handled false passes
// the command on; otherwise n and err are the transfer's outcome.
type Hook func(m *ec.Msg) (n int, handled bool, err error)

// Transport is an ec.Transport answered by a simulated EC (or the transport it wraps)
// unless the hook handles the command.
type Transport struct {
	sim ec.Transport

	mu    sync.Mutex
	hook  Hook
	calls map[uint16]int
}

// New returns a transport over a simulated EC with the firmware's answers and no wire,
// processing or budget time, so tests run as fast as the host goes.
func New() *Transport {
	return Wrap(ecsim.NewTransport(ecsim.New(ecsim.InstantConfig())))
}

// Wrap returns a Transport that counts and can intercept the commands sent to t.
func Wrap(t ec.Transport) *Transport { return &Transport{sim: t, calls: map[uint16]int{}} }

// Total returns how many commands were sent.
func (t *Transport) Total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.calls {
		n += c
	}
	return n
}

// Device returns an ec.Device named name over a new Transport, and the Transport.
func Device(name string) (*ec.Device, *Transport) {
	t := New()
	return ec.NewDevice(name, t), t
}

// SetHook replaces the hook (nil: the simulated EC answers everything).
func (t *Transport) SetHook(h Hook) {
	t.mu.Lock()
	t.hook = h
	t.mu.Unlock()
}

// Calls returns how many times cmd was sent.
func (t *Transport) Calls(cmd uint16) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.calls[cmd]
}

// Xfer counts the command, then lets the hook or the simulated EC answer it.
func (t *Transport) Xfer(m *ec.Msg) (int, error) {
	t.mu.Lock()
	t.calls[m.Command]++
	h := t.hook
	t.mu.Unlock()
	if h != nil {
		if n, ok, err := h(m); ok {
			return n, err
		}
	}
	return t.sim.Xfer(m)
}

// Limits returns the wrapped transport's limits.
func (t *Transport) Limits() (maxOut, maxIn int) { return t.sim.Limits() }

// Close does nothing.
func (t *Transport) Close() error { return nil }

// String names the wrapped transport.
func (t *Transport) String() string { return t.sim.String() }

// Uptime answers m (a GET_UPTIME_INFO) with the given uptime, AP reset count and reset
// flags, laid out as struct ec_response_uptime_info.
func Uptime(m *ec.Msg, up time.Duration, apResets, resetFlags uint32) (int, bool, error) {
	b := m.In[:ec.UptimeInfoSize]
	clear(b)
	binary.LittleEndian.PutUint32(b[0:], uint32(up/time.Millisecond))
	binary.LittleEndian.PutUint32(b[4:], apResets)
	binary.LittleEndian.PutUint32(b[8:], resetFlags)
	m.Result = ec.ResSuccess
	return ec.UptimeInfoSize, true, nil
}

// Fail answers m with err.
func Fail(err error) (int, bool, error) { return 0, true, err }
