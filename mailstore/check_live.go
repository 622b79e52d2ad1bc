package mailstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// maxLiveProblems caps the problems CheckLive lists (its report crosses
// the control socket); the others are counted in Omitted.
const maxLiveProblems = 100

// CheckLive runs the store check (see the top of check.go) on the open
// store while it is in use: bbolt's page checks on every database, the
// user records, and every account's mailboxes, records, counters,
// metadata and body files. It repairs nothing.
func (s *Store) CheckLive(ctx context.Context) (*CheckReport, error) {
	c := &checker{dir: s.dir, live: true, maxProblems: maxLiveProblems, rep: &CheckReport{}}
	if err := c.livePages(s.db, "", "global.db"); err != nil {
		return nil, err
	}
	var users []User
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		users, err = c.users(tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	for _, u := range users {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		gone := func() bool { return s.userGone(userRecord{ID: u.ID, Name: u.Name}) }
		a, err := s.account(u)
		if err != nil {
			if !gone() {
				c.add(&Problem{User: u.Name, Kind: ProblemAccountDB, Detail: fmt.Sprintf("account does not open: %v", err)})
			}
			continue
		}
		before := *c.rep
		c.rep.Users++
		err = c.liveAccount(a)
		if gone() {
			// Deleted meanwhile: what its vanishing files looked like
			// is no problem of the store.
			*c.rep = before
			continue
		}
		if err != nil {
			c.add(&Problem{User: u.Name, Kind: ProblemAccountDB, Detail: err.Error()})
		}
	}
	return c.rep, nil
}

// livePages runs the page checks on a database others write to, in a
// write transaction that is rolled back: it holds writers off only for
// the in-memory walk.
func (c *checker) livePages(db *bolt.DB, user, file string) error {
	tx, err := db.Begin(true)
	if err != nil {
		return fmt.Errorf("check %s: %w", file, err)
	}
	defer tx.Rollback()
	c.pages(tx, user, file)
	return nil
}

// liveAccount checks an open account: its records in one read
// transaction, with body-file removals held back until the body files
// are checked, so none the snapshot names goes missing meanwhile.
func (c *checker) liveAccount(a *Account) error {
	release := a.holdRemovals()
	defer release()
	if err := c.livePages(a.db, a.user.Name, "mail.db"); err != nil {
		return err
	}
	ac := c.newAcct(a.user, a.dir)
	if err := a.db.View(ac.db); err != nil {
		return err
	}
	return ac.blobs()
}
