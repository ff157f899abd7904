package ec

// Msg is one host command and its answer. Callers own it and reuse it, so a
// round trip allocates nothing.
type Msg struct {
	Command uint16 // EC_CMD_* including any passthru offset the transport does not add
	Version uint8  // command version
	Out     []byte // request parameters
	In      []byte // response buffer; len(In) is the insize asked for
	Result  Result // EC result from the response header, set by Xfer
	Retries int    // retries spent inside this command, set by Device
}

// Transport moves one host command to an EC and its answer back.
// It is called from a single worker thread and must not allocate per call.
type Transport interface {
	// Xfer sends m and fills m.In[:n] and m.Result. A non-nil error is a transport
	// failure (classified by CauseOf); an EC error result is reported in m.Result
	// with a nil error, as the kernel does.
	Xfer(m *Msg) (n int, err error)
	// Limits returns the largest request and response payloads, without headers.
	Limits() (maxOut, maxIn int)
	// Close releases the transport.
	Close() error
	// String names the transport and its device, e.g. "chardev:/dev/cros_ec".
	String() string
}
