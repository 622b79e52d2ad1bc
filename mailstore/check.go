package mailstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Check verifies a store offline: the server must not be running (the
// bbolt files are locked while it is, and Check then fails with
// ErrLocked). It never changes anything unless Repair is set, and then
// only what can be fixed without guessing: counters are recomputed from
// the records, stray files and entries are removed, metadata is parsed
// again from the body. A record without its body, or with a body of the
// wrong size, is reported and left alone: that is mail the admin may be
// able to restore from a backup.
func Check(dir string, opts CheckOptions) (*CheckReport, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	gpath := filepath.Join(dir, "global.db")
	if _, err := os.Stat(gpath); err != nil {
		return nil, fmt.Errorf("check %s: not a sealpost data directory: %w", dir, err)
	}
	c := &checker{dir: dir, opts: opts, rep: &CheckReport{}, bolt: &bolt.Options{
		Timeout: opts.LockTimeout, ReadOnly: !opts.Repair, FreelistType: bolt.FreelistMapType,
	}}
	gdb, err := bolt.Open(gpath, 0o600, c.bolt)
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", dir, lockErr(err))
	}
	// Held to the end, so no server can start on the store meanwhile.
	defer gdb.Close()
	users, err := c.users(gdb)
	if err != nil {
		return nil, fmt.Errorf("check %s: %w", dir, err)
	}
	if err := c.userDirs(users); err != nil {
		return nil, fmt.Errorf("check %s: %w", dir, err)
	}
	for _, u := range users {
		if err := c.account(u); err != nil {
			return nil, fmt.Errorf("check %s: user %s: %w", dir, u.Name, err)
		}
	}
	return c.rep, nil
}

// CheckOptions configure Check.
type CheckOptions struct {
	// Repair fixes what is safe to fix (see Check).
	Repair bool
	// LockTimeout is how long to wait for a running server to let go of
	// the store; zero means 1 s.
	LockTimeout time.Duration
}

// ProblemKind names one kind of inconsistency Check finds.
type ProblemKind string

const (
	ProblemUserRecord   ProblemKind = "user-record"    // global user record unreadable or inconsistent
	ProblemUserDir      ProblemKind = "orphan-user"    // users/<x> belongs to no user (repair: removed)
	ProblemAccountDB    ProblemKind = "account-db"     // mail.db unreadable or without its buckets
	ProblemMailboxName  ProblemKind = "mailbox-name"   // names and mailboxes disagree (repair: names fixed)
	ProblemNoInbox      ProblemKind = "no-inbox"       // the account has no INBOX (the server recreates it)
	ProblemRecord       ProblemKind = "record"         // a message record does not decode
	ProblemMissingBody  ProblemKind = "missing-body"   // a record's body file is gone
	ProblemBodySize     ProblemKind = "body-size"      // a body file's size differs from its record
	ProblemSharedBody   ProblemKind = "shared-body"    // two records name one body file
	ProblemMetadata     ProblemKind = "metadata"       // envelope or structure missing or undecodable (repair: parsed again)
	ProblemStrayMeta    ProblemKind = "stray-metadata" // metadata without a record (repair: removed)
	ProblemCounter      ProblemKind = "counter"        // a mailbox or account counter is wrong (repair: recomputed)
	ProblemOrphanBody   ProblemKind = "orphan-body"    // a body file no record names (repair: removed)
	ProblemMisplaced    ProblemKind = "misplaced-body" // a referenced body name in the wrong directory
	ProblemTmpFile      ProblemKind = "tmp-file"       // a partly written body in tmp/ (repair: removed)
	ProblemUserCounters ProblemKind = "user-counter"   // the global next user ID is not above every user (repair: raised)
)

// Problem is one inconsistency.
type Problem struct {
	User    string // "" for the store as a whole
	Mailbox string // "" when not about one mailbox
	UID     UID    // 0 when not about one message
	Kind    ProblemKind
	Detail  string
	// Repairable: Check with Repair fixes it. Repaired: it did.
	Repairable, Repaired bool
}

func (p *Problem) String() string {
	s := ""
	if p.User != "" {
		s = p.User + ": "
	}
	if p.Mailbox != "" {
		s += strconv.Quote(p.Mailbox) + ": "
	}
	if p.UID != 0 {
		s += fmt.Sprintf("uid %d: ", p.UID)
	}
	s += string(p.Kind) + ": " + p.Detail
	if p.Repaired {
		s += " (repaired)"
	}
	return s
}

// CheckReport is what Check found.
type CheckReport struct {
	Users, Mailboxes, Messages int
	Bytes                      int64 // sum of message sizes
	Problems                   []*Problem
	// Notes are states a crash can legitimately leave, which the server
	// completes on its own (an account not yet created on disk).
	Notes []string
}

// Repaired reports whether the check repaired anything.
func (r *CheckReport) Repaired() bool {
	for _, p := range r.Problems {
		if p.Repaired {
			return true
		}
	}
	return false
}

// Unrepaired counts the problems left as they were.
func (r *CheckReport) Unrepaired() int {
	n := 0
	for _, p := range r.Problems {
		if !p.Repaired {
			n++
		}
	}
	return n
}

type checker struct {
	dir  string
	opts CheckOptions
	rep  *CheckReport
	bolt *bolt.Options
	// badUsers: some user records do not decode, so a directory that
	// belongs to no readable user may still be someone's mail.
	badUsers bool
}

func (c *checker) add(p *Problem) { c.rep.Problems = append(c.rep.Problems, p) }

// fix marks p repairable and, with Repair, runs repair and marks p
// repaired if it worked.
func (c *checker) fix(p *Problem, repair func() error) error {
	p.Repairable = true
	if !c.opts.Repair {
		return nil
	}
	if err := repair(); err != nil {
		return err
	}
	p.Repaired = true
	return nil
}

// users checks global.db and returns the users whose records are sound,
// sorted by name.
func (c *checker) users(db *bolt.DB) ([]User, error) {
	var users []User
	fn := func(tx *bolt.Tx) error {
		b := tx.Bucket(bktUsers)
		if b == nil {
			return errors.New("global.db has no users bucket")
		}
		ids := map[UserID]string{}
		var maxID UserID
		err := b.ForEach(func(k, v []byte) error {
			var rec userRecord
			switch err := json.Unmarshal(v, &rec); {
			case err != nil:
				c.badUsers = true
				c.add(&Problem{Kind: ProblemUserRecord, Detail: fmt.Sprintf("record %q does not decode: %v", k, err)})
			case rec.Name != string(k):
				c.badUsers = true
				c.add(&Problem{Kind: ProblemUserRecord, Detail: fmt.Sprintf("record %q names user %q", k, rec.Name)})
			case rec.ID == 0:
				c.add(&Problem{User: rec.Name, Kind: ProblemUserRecord, Detail: "user ID 0"})
			case ids[rec.ID] != "":
				c.add(&Problem{User: rec.Name, Kind: ProblemUserRecord, Detail: fmt.Sprintf("user ID %d also belongs to %s", rec.ID, ids[rec.ID])})
			default:
				ids[rec.ID] = rec.Name
				maxID = max(maxID, rec.ID)
				users = append(users, rec.user())
			}
			return nil
		})
		if err != nil {
			return err
		}
		meta := tx.Bucket(bktMeta)
		if meta == nil {
			return errors.New("global.db has no meta bucket")
		}
		next := uint64(1)
		if v := meta.Get(keyNext); len(v) == 8 {
			next = binary.BigEndian.Uint64(v)
		}
		if next <= uint64(maxID) {
			p := &Problem{Kind: ProblemUserCounters, Detail: fmt.Sprintf("next user ID %d is not above user ID %d", next, maxID)}
			c.add(p)
			if err := c.fix(p, func() error { return meta.Put(keyNext, idKey(uint64(maxID)+1)) }); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if c.opts.Repair {
		err = db.Update(fn)
	} else {
		err = db.View(fn)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].Name < users[j].Name })
	c.rep.Users = len(users)
	return users, err
}

// userDirs compares users/ with the user records.
func (c *checker) userDirs(users []User) error {
	live := map[string]bool{}
	for _, u := range users {
		live[strconv.FormatUint(uint64(u.ID), 10)] = true
	}
	ents, err := os.ReadDir(filepath.Join(c.dir, "users"))
	if err != nil {
		return err
	}
	present := map[string]bool{}
	for _, e := range ents {
		present[e.Name()] = true
		if live[e.Name()] && e.IsDir() {
			continue
		}
		p := &Problem{Kind: ProblemUserDir, Detail: fmt.Sprintf("users/%s belongs to no user", e.Name())}
		c.add(p)
		if c.badUsers {
			p.Detail += " (kept: some user records could not be read)"
		} else if err := c.fix(p, func() error { return os.RemoveAll(filepath.Join(c.dir, "users", e.Name())) }); err != nil {
			return err
		}
	}
	for _, u := range users {
		if !present[strconv.FormatUint(uint64(u.ID), 10)] {
			c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%s: no mail directory yet (created when the account is first used)", u.Name))
		}
	}
	return nil
}

// account checks one user's files and database.
func (c *checker) account(u User) error {
	dir := filepath.Join(c.dir, "users", strconv.FormatUint(uint64(u.ID), 10))
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil // noted by userDirs
	}
	if err := c.tmp(u, dir); err != nil {
		return err
	}
	a := &acctCheck{c: c, u: u, dir: dir, refs: map[string]bool{}, byName: map[string]bool{}}
	dbPath := filepath.Join(dir, "mail.db")
	// Empty: a crash between creating the file and bbolt's first write;
	// the server initialises it when the account is next opened.
	if fi, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) || err == nil && fi.Size() == 0 {
		c.rep.Notes = append(c.rep.Notes, fmt.Sprintf("%s: no mail.db yet (created when the account is first used)", u.Name))
		a.unsure = true // any body file would belong to records we cannot see
		return a.blobs()
	}
	db, err := bolt.Open(dbPath, 0o600, c.bolt)
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return lockErr(err)
		}
		c.add(&Problem{User: u.Name, Kind: ProblemAccountDB, Detail: fmt.Sprintf("mail.db does not open: %v", err)})
		a.unsure = true
		return a.blobs()
	}
	defer db.Close()
	if c.opts.Repair {
		err = db.Update(a.db)
	} else {
		err = db.View(a.db)
	}
	if err != nil {
		return err
	}
	return a.blobs()
}

// tmp reports (and with Repair removes) partly written bodies.
func (c *checker) tmp(u User, dir string) error {
	ents, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := &Problem{User: u.Name, Kind: ProblemTmpFile, Detail: "tmp/" + e.Name() + " left by an interrupted write"}
		c.add(p)
		if err := c.fix(p, func() error { return os.RemoveAll(filepath.Join(dir, "tmp", e.Name())) }); err != nil {
			return err
		}
	}
	return nil
}
