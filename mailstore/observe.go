package mailstore

import "time"

// Observer receives store latencies, for metrics. Set Options.Observer;
// nil observes nothing. Methods must be fast and safe for concurrent use.
type Observer interface {
	// ObserveCommit reports one write transaction: a group commit of one
	// or more writes, fsync included, or a failed attempt.
	ObserveCommit(d time.Duration)
	// ObserveFetch reports one read transaction of Fetch (up to 1024
	// message records).
	ObserveFetch(d time.Duration)
}

func (s *Store) observeCommit(start time.Time) {
	if s.opts.Observer != nil {
		s.opts.Observer.ObserveCommit(time.Since(start))
	}
}

func (s *Store) observeFetch(start time.Time) {
	if s.opts.Observer != nil {
		s.opts.Observer.ObserveFetch(time.Since(start))
	}
}
