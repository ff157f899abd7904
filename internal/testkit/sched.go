package testkit

import (
	"errors"
	"sync"
	"time"

	"github.com/ec-exporter/ec_exporter/rt"
)

// Sched is a scheduler fake (the rt worker's Every and Submit): it keeps periodic jobs
// and queues one-off ones until the test runs them on its own goroutine.
type Sched struct {
	mu       sync.Mutex
	Periodic []rt.Job
	Interval time.Duration // interval of the latest Every
	queue    []rt.Job
	Full     bool // Submit fails while set
}

// Every remembers j; the test runs it with Tick.
func (s *Sched) Every(iv time.Duration, j rt.Job) {
	s.mu.Lock()
	s.Periodic = append(s.Periodic, j)
	s.Interval = iv
	s.mu.Unlock()
}

// Submit queues j, or fails while Full is set.
func (s *Sched) Submit(j rt.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Full {
		return errors.New("testkit: queue full")
	}
	s.queue = append(s.queue, j)
	return nil
}

// SetFull makes Submit fail (or work again).
func (s *Sched) SetFull(full bool) {
	s.mu.Lock()
	s.Full = full
	s.mu.Unlock()
}

// Queued returns the number of jobs waiting.
func (s *Sched) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Drain runs the queued jobs (and those they queue) stamped as submitted at at and
// started delay later; it returns how many ran.
func (s *Sched) Drain(at time.Time, delay time.Duration) int {
	n := 0
	for {
		s.mu.Lock()
		q := s.queue
		s.queue = nil
		s.mu.Unlock()
		if len(q) == 0 {
			return n
		}
		for _, j := range q {
			j.Run(rt.Stamps{Intended: at, Started: at.Add(delay)})
		}
		n += len(q)
	}
}

// Tick runs periodic job i for the deadline at, started delay later, with missed
// deadlines skipped before it.
func (s *Sched) Tick(i int, at time.Time, delay time.Duration, missed int) {
	s.mu.Lock()
	j := s.Periodic[i]
	s.mu.Unlock()
	j.Run(rt.Stamps{Intended: at, Started: at.Add(delay), Missed: missed})
}
