package ec_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
	"github.com/ec-exporter/ec_exporter/ecspi"
)

// scriptedEC is the simulated EC (ecsim, through ecspi's real SPI byte path: v3 packets,
// checksums, the firmware's answers) with the misbehaviour a Device test scripts on top:
// the next N transfers not ready, the next N commands IN_PROGRESS, an old EC without some
// commands, a wrong HELLO answer. It counts what reached it and allocates nothing.
type scriptedEC struct {
	sim *ecsim.EC
	t   ec.Transport

	notReady        int       // the next N transfers fail with a not-ready transport error
	inProgress      int       // the next N non-status commands answer IN_PROGRESS (ecsim's fault)
	processingPolls int       // ... after which GET_COMMS_STATUS says PROCESSING this many times
	statusResult    ec.Result // non-zero: GET_COMMS_STATUS answers this result
	statusNotReady  int       // the next N GET_COMMS_STATUS transfers fail not ready
	badHello        bool      // HELLO's answer is off by one
	missing         [0x200]bool
	v0Only          [0x200]bool // GET_CMD_VERSIONS says v0 only; v1 answers INVALID_VERSION

	xfers      int
	perCommand [0x200]int
}

// newScriptedEC returns the simulated EC with no wire, processing or budget time
// (robust on a loaded machine) and features that name USB PD and ISH.
func newScriptedEC(t testing.TB) *scriptedEC {
	t.Helper()
	cfg := ecsim.InstantConfig()
	cfg.Identity.Features = [2]uint32{1<<ec.FeatureFlash | 1<<ec.FeatureUSBPD, 1 << (ec.FeatureISH - 32)}
	sim := ecsim.New(cfg)
	tr, err := ecspi.New(sim, ecspi.Config{Recovery: -1})
	if err != nil {
		t.Fatal(err)
	}
	return &scriptedEC{sim: sim, t: tr}
}

var errScriptNotReady = ecspi.ErrNotReady

func (s *scriptedEC) Limits() (int, int) { return s.t.Limits() }
func (s *scriptedEC) Close() error       { return s.t.Close() }
func (s *scriptedEC) String() string     { return "scripted:" + s.t.String() }

func (s *scriptedEC) Xfer(m *ec.Msg) (int, error) {
	s.xfers++
	if s.notReady > 0 {
		s.notReady--
		return 0, errScriptNotReady
	}
	if m.Command == ec.CmdGetCommsStatus && s.statusNotReady > 0 {
		s.statusNotReady--
		return 0, errScriptNotReady
	}
	if int(m.Command) < len(s.perCommand) {
		s.perCommand[m.Command]++
	}
	switch {
	case int(m.Command) < len(s.missing) && s.missing[m.Command]:
		m.Result = ec.ResInvalidCommand
		return 0, nil
	case m.Command == ec.CmdGetCmdVersions && len(m.Out) > 0 && s.v0Only[m.Out[0]] && len(m.In) >= 4:
		binary.LittleEndian.PutUint32(m.In, 1)
		m.Result = ec.ResSuccess
		return 4, nil
	case m.Command == ec.CmdGetCmdVersions && len(m.Out) > 0 && s.missing[m.Out[0]]:
		m.Result = ec.ResInvalidParam
		return 0, nil
	case int(m.Command) < len(s.v0Only) && s.v0Only[m.Command] && m.Version > 0:
		m.Result = ec.ResInvalidVersion
		return 0, nil
	case m.Command == ec.CmdGetCommsStatus && s.statusResult != 0:
		m.Result = s.statusResult
		return 0, nil
	}
	if m.Command != ec.CmdGetCommsStatus && s.inProgress > 0 {
		s.inProgress--
		s.sim.SetFaults(ecsim.Faults{InProgress: ecsim.Fault{Every: 1}, InProgressPolls: s.processingPolls})
		defer s.sim.SetFaults(ecsim.Faults{})
	}
	n, err := s.t.Xfer(m)
	if err == nil && s.badHello && m.Command == ec.CmdHello && n == 4 {
		binary.LittleEndian.PutUint32(m.In, binary.LittleEndian.Uint32(m.In)+1)
	}
	return n, err
}

// testDevice returns a Device on a fresh scriptedEC that records its sleeps instead of sleeping.
func testDevice(t testing.TB) (*ec.Device, *scriptedEC, *[]time.Duration) {
	s := newScriptedEC(t)
	d := ec.NewDevice("test", s)
	var slept []time.Duration
	ec.SetSleep(d, func(t time.Duration) { slept = append(slept, t) })
	return d, s, &slept
}
