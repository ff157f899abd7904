package rt

import "sync/atomic"

// queue is a bounded multi-producer single-consumer ring (Vyukov's bounded queue). Producers
// never block and the consumer never waits for a producer: a slot whose producer has not yet
// published reads as empty, and that producer wakes the worker after publishing.
type queue struct {
	slots []slot
	mask  uint64
	_     [64]byte // keep the producers' cursor off the slots' cache line
	enq   atomic.Uint64
	_     [56]byte
	deq   uint64 // consumer only
}

type slot struct {
	seq   atomic.Uint64
	job   Job
	stamp int64 // CLOCK_MONOTONIC ns at Submit
}

func newQueue(size int) *queue {
	n := 1
	for n < size {
		n <<= 1
	}
	q := &queue{slots: make([]slot, n), mask: uint64(n - 1)}
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	return q
}

// push appends j; it reports false when the queue is full.
func (q *queue) push(j Job, stamp int64) bool {
	pos := q.enq.Load()
	for {
		s := &q.slots[pos&q.mask]
		switch dif := int64(s.seq.Load() - pos); {
		case dif == 0:
			if q.enq.CompareAndSwap(pos, pos+1) {
				s.job, s.stamp = j, stamp
				s.seq.Store(pos + 1)
				return true
			}
			pos = q.enq.Load()
		case dif < 0:
			return false
		default:
			pos = q.enq.Load()
		}
	}
}

// pop removes the oldest published job (consumer only).
func (q *queue) pop() (Job, int64, bool) {
	pos := q.deq
	s := &q.slots[pos&q.mask]
	if int64(s.seq.Load()-(pos+1)) < 0 {
		return nil, 0, false
	}
	j, st := s.job, s.stamp
	s.job = nil
	s.seq.Store(pos + q.mask + 1)
	q.deq = pos + 1
	return j, st, true
}
