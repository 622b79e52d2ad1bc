package mailstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	bolt "go.etcd.io/bbolt"
)

// LiveCheckReport is the outcome of Store.Check.
type LiveCheckReport struct {
	Users     int
	Mailboxes int
	Messages  int64
	Bytes     int64
	// Problems found; empty means consistent. Capped at maxLiveProblems.
	Problems []string
}

// OK reports whether no problem was found.
func (r *LiveCheckReport) OK() bool { return len(r.Problems) == 0 }

const maxLiveProblems = 100

func (r *LiveCheckReport) problem(format string, args ...any) {
	if len(r.Problems) < maxLiveProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	} else if len(r.Problems) == maxLiveProblems {
		r.Problems = append(r.Problems, "... more problems not listed")
	}
}

// CheckLive verifies the store: bbolt's own page checks on every database,
// every mailbox's counters against its messages, every message's metadata
// and body file (present, of the recorded size), and each account's byte
// count. It is safe while the store is in use.
func (s *Store) CheckLive(ctx context.Context) (*LiveCheckReport, error) {
	rep := &LiveCheckReport{}
	if err := pageCheck(s.db, "global.db", rep); err != nil {
		return nil, err
	}
	var users []userRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktUsers).ForEach(func(k, v []byte) error {
			var rec userRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				rep.problem("user %s: bad record: %v", k, err)
				return nil
			}
			users = append(users, rec)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	for _, rec := range users {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, err := s.account(rec.user())
		if err != nil {
			if s.userGone(rec) {
				continue
			}
			rep.problem("user %s: %v", rec.Name, err)
			continue
		}
		rep.Users++
		if err := a.checkLive(rep); err != nil && !s.userGone(rec) {
			rep.problem("user %s: %v", rec.Name, err)
		}
	}
	return rep, nil
}

// pageCheck runs bbolt's page checks. They need a write transaction to be
// right while others write (a read transaction sees the live freelist and
// reports pages freed meanwhile); it is rolled back, and holds writers
// off only for the in-memory walk.
func pageCheck(db *bolt.DB, name string, rep *LiveCheckReport) error {
	tx, err := db.Begin(true)
	if err != nil {
		return fmt.Errorf("check %s: %w", name, err)
	}
	defer tx.Rollback()
	for err := range tx.Check() {
		rep.problem("%s: %v", name, err)
	}
	return nil
}

func (a *Account) checkLive(rep *LiveCheckReport) error {
	release := a.holdRemovals()
	defer release()
	user := a.user.Name
	if err := pageCheck(a.db, "user "+user+": mail.db", rep); err != nil {
		return err
	}
	return a.db.View(func(tx *bolt.Tx) error {
		var total int64
		hasInbox := false
		err := tx.Bucket(bktNames).ForEach(func(k, v []byte) error {
			rep.Mailboxes++
			if len(v) != 8 {
				rep.problem("user %s: mailbox %q: bad id", user, k)
				return nil
			}
			m, err := openMbox(tx, MailboxID(binary.BigEndian.Uint64(v)))
			if err != nil {
				rep.problem("user %s: mailbox %q: %v", user, k, err)
				return nil
			}
			if m.info.Name != string(k) {
				rep.problem("user %s: mailbox %q is named %q in its info", user, k, m.info.Name)
			}
			hasInbox = hasInbox || m.info.Name == Inbox
			var n, unseen, deleted uint32
			var size int64
			env, part := m.b.Bucket(bktEnv), m.b.Bucket(bktPart)
			err = m.msgs().ForEach(func(uk, rv []byte) error {
				uid := binary.BigEndian.Uint32(uk)
				r, err := decodeRecord(rv)
				if err != nil {
					rep.problem("user %s: mailbox %q uid %d: %v", user, k, uid, err)
					return nil
				}
				n++
				size += r.size
				if r.bits&bitSeen == 0 {
					unseen++
				}
				if r.bits&bitDeleted != 0 {
					deleted++
				}
				if uid >= m.info.UIDNext {
					rep.problem("user %s: mailbox %q: uid %d not below UIDNEXT %d", user, k, uid, m.info.UIDNext)
				}
				if env.Get(uk) == nil || part.Get(uk) == nil {
					rep.problem("user %s: mailbox %q uid %d: metadata missing", user, k, uid)
				}
				fi, err := os.Stat(a.blobPath(r.blob))
				switch {
				case errors.Is(err, fs.ErrNotExist):
					rep.problem("user %s: mailbox %q uid %d: body file missing", user, k, uid)
				case err != nil:
					rep.problem("user %s: mailbox %q uid %d: body file: %v", user, k, uid, err)
				case fi.Size() != r.size:
					rep.problem("user %s: mailbox %q uid %d: body file has %d bytes, record says %d", user, k, uid, fi.Size(), r.size)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if n != m.info.Messages || unseen != m.info.Unseen || deleted != m.info.Deleted || size != m.info.Size {
				rep.problem("user %s: mailbox %q: counters say %d messages (%d unseen, %d deleted, %d bytes), found %d (%d, %d, %d)",
					user, k, m.info.Messages, m.info.Unseen, m.info.Deleted, m.info.Size, n, unseen, deleted, size)
			}
			rep.Messages += int64(n)
			total += size
			return nil
		})
		if err != nil {
			return err
		}
		if !hasInbox {
			rep.problem("user %s: no INBOX", user)
		}
		if used := int64(getU64(tx.Bucket(bktAcctMeta), keyBytes)); used != total {
			rep.problem("user %s: byte counter says %d, messages add up to %d", user, used, total)
		}
		rep.Bytes += total
		return nil
	})
}
