package mailstore

import (
	"context"
	"errors"
)

// UserStats are one user's totals.
type UserStats struct {
	Name      string
	Mailboxes int
	Messages  int64
	Bytes     int64
	Quota     int64 // 0 = unlimited
}

// Stats are the store's totals, with a line per user.
type Stats struct {
	Users     int
	Mailboxes int
	Messages  int64
	Bytes     int64
	PerUser   []UserStats
}

// Stats counts users, mailboxes, messages and message bytes.
func (s *Store) Stats(ctx context.Context) (*Stats, error) {
	users, err := s.Users(ctx)
	if err != nil {
		return nil, err
	}
	st := &Stats{}
	for _, u := range users {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, err := s.Account(ctx, u.Name)
		if errors.Is(err, ErrNoSuchUser) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		mbs, err := a.Mailboxes(ctx)
		if err != nil {
			return nil, err
		}
		us := UserStats{Name: u.Name, Mailboxes: len(mbs), Quota: u.Quota}
		for _, mb := range mbs {
			us.Messages += int64(mb.Messages)
			us.Bytes += mb.Size
		}
		st.Users++
		st.Mailboxes += us.Mailboxes
		st.Messages += us.Messages
		st.Bytes += us.Bytes
		st.PerUser = append(st.PerUser, us)
	}
	return st, nil
}
