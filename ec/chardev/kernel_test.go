package chardev

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ec-exporter/ec_exporter/ec"
	"github.com/ec-exporter/ec_exporter/ecsim"
)

// countingNode counts the ioctls that reach the simulated kernel.
type countingNode struct {
	*ecsim.Node
	ioctls int
}

func (c *countingNode) Ioctl(req uint, buf []byte) (int, error) {
	c.ioctls++
	return c.Node.Ioctl(req, buf)
}

// simKernel opens the transport over the simulated kernel's /dev/cros_ec and then sets
// the faults (so the open's own commands are clean).
func simKernel(t *testing.T, f ecsim.Faults) (*Transport, *countingNode) {
	t.Helper()
	cfg := ecsim.DefaultConfig()
	cfg.Clock, cfg.Processing, cfg.RearmGap = 0, 0, 0
	e := ecsim.New(cfg)
	n := &countingNode{Node: ecsim.NewNode(e)}
	tr, err := OpenNode("/dev/cros_ec", n)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := tr.Banner(); err != nil || b.RW != cfg.Identity.VersionRW || b.Image != "read-write" {
		t.Fatalf("banner %+v, %v", b, err)
	}
	e.SetFaults(f)
	n.ioctls = 0
	return tr, n
}

// The kernel resolves IN_PROGRESS itself and hands back GET_COMMS_STATUS's 4 bytes with
// SUCCESS: the transport counts that as in_progress, not as a malformed answer, and
// ec.Device neither polls nor re-sends on top of the kernel.
func TestKernelInProgressAnswer(t *testing.T) {
	tr, n := simKernel(t, ecsim.Faults{InProgress: ecsim.Fault{Every: 1}, InProgressPolls: 2})
	d := ec.NewDevice("cros_ec", tr)
	start := time.Now()
	_, err := d.VersionV(0)
	took := time.Since(start)
	if ec.CauseOf(err) != ec.CauseInProgress || !errors.Is(err, ErrStatusAnswer) {
		t.Fatalf("GET_VERSION after IN_PROGRESS: %v (cause %v), want the kernel's status answer counted as in_progress", err, ec.CauseOf(err))
	}
	if n.ioctls != 1 || d.LastRetries() != 0 {
		t.Errorf("%d ioctls, %d retries: ec.Device must leave IN_PROGRESS to the kernel", n.ioctls, d.LastRetries())
	}
	if took < 3*ecsim.KernelPollDelay {
		t.Errorf("took %v: the kernel polls 3 times, 10 ms apart", took)
	}
	// A 4-byte command gets its own request bytes back (the kernel's copy of the
	// command, never overwritten): HELLO's check fails, it is not a success.
	if err := d.Hello(); err == nil {
		t.Error("HELLO after IN_PROGRESS succeeded on the kernel's status answer")
	}
}

// After EC_COMMAND_RETRIES polls that all say PROCESSING the kernel returns EAGAIN;
// ec.Device does not send again (that would be ~2 s of polling per command).
func TestKernelInProgressExhausted(t *testing.T) {
	tr, n := simKernel(t, ecsim.Faults{InProgress: ecsim.Fault{Every: 1}, InProgressPolls: ecsim.KernelCommandRetries + 5})
	d := ec.NewDevice("cros_ec", tr)
	start := time.Now()
	err := d.Hello()
	took := time.Since(start)
	if ec.CauseOf(err) != ec.CauseNotReady || !errors.Is(err, ec.ErrInProgressTimeout) || !errors.Is(err, unix.EAGAIN) {
		t.Fatalf("err %v (cause %v), want EAGAIN wrapped as ec.ErrInProgressTimeout", err, ec.CauseOf(err))
	}
	if n.ioctls != 1 || d.LastRetries() != 0 {
		t.Errorf("%d ioctls, %d retries, want 1 and 0: no re-send on top of the kernel's 50 polls", n.ioctls, d.LastRetries())
	}
	if took < ecsim.KernelCommandRetries*ecsim.KernelPollDelay || took > 2*time.Second {
		t.Errorf("took %v, want the kernel's 50 x 10 ms", took)
	}
}

// An immediate EAGAIN (0xFC/0xFB during the request) is re-sent: our choice, counted.
func TestKernelNotReadyResent(t *testing.T) {
	tr, n := simKernel(t, ecsim.Faults{NotReady: ecsim.Fault{Every: 1}})
	d := ec.NewDevice("cros_ec", tr)
	err := d.Hello()
	if ec.CauseOf(err) != ec.CauseNotReady || errors.Is(err, ec.ErrInProgressTimeout) {
		t.Fatalf("err %v", err)
	}
	want := ec.DefaultRetryPolicy().NotReadyRetries
	if n.ioctls != 1+want || d.LastRetries() != want {
		t.Errorf("%d ioctls, %d retries, want %d re-sends", n.ioctls, d.LastRetries(), want)
	}
}

// A banner read() failing with an EC result's errno lets Open go on.
func TestKernelBannerErrno(t *testing.T) {
	cfg := ecsim.DefaultConfig()
	cfg.Clock, cfg.Processing = 0, 0
	e := ecsim.New(cfg)
	node := ecsim.NewNode(e)
	e.SetFaults(ecsim.Faults{ECResult: ecsim.Fault{Every: 1}, Result: ec.ResAccessDenied})
	tr, err := OpenNode("/dev/cros_ec", node)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, berr := tr.Banner(); !errors.Is(berr, unix.EACCES) {
		t.Errorf("banner error %v, want EACCES (EC_RES_ACCESS_DENIED)", berr)
	}
	e.SetFaults(ecsim.Faults{})
	if err := ec.NewDevice("cros_ec", tr).Hello(); err != nil {
		t.Errorf("HELLO after the failed banner: %v", err)
	}
}
