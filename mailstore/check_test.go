package mailstore

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// checkFixture is a closed store with two users and some history
// (deliveries, flags, a copy, an expunge), and what a corruption needs to
// find its way around it.
type checkFixture struct {
	dir  string
	ann  string // ann's account directory
	inbx MailboxID
	msgs []Message // ann's INBOX, UID order
}

// newCheckFixture returns a fresh copy of a fixture built once (building
// takes dozens of fsyncs).
func newCheckFixture(t *testing.T) *checkFixture {
	t.Helper()
	fixtureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "checkfixture-")
		if err != nil {
			t.Fatal(err)
		}
		fixture = buildCheckFixture(t, dir)
	})
	if fixture == nil {
		t.Fatal("fixture build failed")
	}
	f := *fixture
	f.dir = t.TempDir()
	if err := os.CopyFS(f.dir, os.DirFS(fixture.dir)); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(fixture.dir, fixture.ann)
	f.ann = filepath.Join(f.dir, rel)
	return &f
}

var (
	fixtureOnce sync.Once
	fixture     *checkFixture
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture != nil {
		os.RemoveAll(fixture.dir)
	}
	os.Exit(code)
}

func buildCheckFixture(t *testing.T, dir string) *checkFixture {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ann := quickUser(t, s, "ann")
	bob := quickUser(t, s, "bob")
	// "four" is too big to be kept inline: the fixture has bodies of both kinds.
	big := msg("four", strings.Repeat("more of the same\r\n", DefaultInlineBodyMax/18+1))
	for i, m := range []string{msg("one", "hello"), msg("two", "world"), msg("three", "again"), big} {
		if _, err := s.Deliver(ctx, "ann", strings.NewReader(m)); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			s.Deliver(ctx, "bob", strings.NewReader(m))
		}
	}
	info := must(ann.Mailbox(ctx, Inbox))
	must(ann.ChangeFlags(ctx, info.ID, []UID{1, 2}, FlagsAdd, []string{FlagSeen, "$Label"}))
	must(ann.ChangeFlags(ctx, info.ID, []UID{3}, FlagsAdd, []string{FlagDeleted}))
	must(ann.Copy(ctx, info.ID, []UID{1, 2}, "Archive"))
	must(ann.Expunge(ctx, info.ID, nil))
	must(bob.Append(ctx, "Sent", strings.NewReader(msg("sent", "by bob")), AppendOptions{Flags: []string{FlagSeen}}))
	f := &checkFixture{dir: dir, ann: ann.dir, inbx: info.ID}
	ann.Fetch(ctx, info.ID, nil, FetchWant{}, func(m *MessageMeta) error {
		f.msgs = append(f.msgs, m.Message)
		return nil
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// acctDB runs fn on ann's mail.db in a write transaction.
func (f *checkFixture) acctDB(t *testing.T, fn func(tx *bolt.Tx) error) {
	t.Helper()
	f.db(t, filepath.Join(f.ann, "mail.db"), fn)
}

func (f *checkFixture) db(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// editInfo changes the info of ann's INBOX.
func (f *checkFixture) editInfo(t *testing.T, edit func(*mboxInfo)) {
	t.Helper()
	f.acctDB(t, func(tx *bolt.Tx) error {
		m, err := openMbox(tx, f.inbx)
		if err != nil {
			return err
		}
		edit(&m.info)
		return m.save()
	})
}

// blob is the file of INBOX message i; only "four" (i = 2) has one.
func (f *checkFixture) blob(i int) string { return filepath.Join(f.ann, blobRel(f.msgs[i].Blob)) }

// setInline replaces the inline body of INBOX message i (nil: removes it).
func (f *checkFixture) setInline(t *testing.T, i int, body []byte) {
	t.Helper()
	if !isInline(f.msgs[i].Blob) {
		t.Fatalf("message %d has no inline body", i)
	}
	f.acctDB(t, func(tx *bolt.Tx) error {
		if body == nil {
			return tx.Bucket(bktBodies).Delete([]byte(f.msgs[i].Blob))
		}
		return tx.Bucket(bktBodies).Put([]byte(f.msgs[i].Blob), body)
	})
}

func runCheck(t *testing.T, dir string, repair bool) *CheckReport {
	t.Helper()
	rep, err := Check(dir, CheckOptions{Repair: repair})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// kinds lists the kinds of problems found and of those repaired (or,
// without Repair, repairable).
func kinds(rep *CheckReport) (all, repaired []ProblemKind) {
	for _, p := range rep.Problems {
		all = append(all, p.Kind)
		if p.Repaired || p.Repairable && !rep.Repaired() {
			repaired = append(repaired, p.Kind)
		}
	}
	slices.Sort(all)
	slices.Sort(repaired)
	return all, repaired
}

func TestCheckCleanStore(t *testing.T) {
	f := newCheckFixture(t)
	rep := runCheck(t, f.dir, false)
	if len(rep.Problems) > 0 || len(rep.Notes) > 0 {
		t.Fatalf("problems in a clean store: %v, notes %v", rep.Problems, rep.Notes)
	}
	// ann: INBOX 3 (4 delivered, 1 expunged) + Archive 2; bob: INBOX 2 + Sent 1.
	if rep.Users != 2 || rep.Messages != 8 || rep.Mailboxes != 12 {
		t.Fatalf("counted %d users, %d mailboxes, %d messages", rep.Users, rep.Mailboxes, rep.Messages)
	}
	// The store opens and works after a check.
	s, err := Open(f.dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Deliver(ctx, "ann", strings.NewReader(msg("after", "check"))); err != nil {
		t.Fatal(err)
	}
}

// Each corruption is found; --repair fixes what is safe and a second check
// then finds only what must stay for the admin (want minus repairable).
func TestCheckFindsAndRepairs(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, f *checkFixture)
		want    []ProblemKind
		fixed   []ProblemKind // what Repair fixes
	}{
		{"missing body file", func(t *testing.T, f *checkFixture) {
			os.Remove(f.blob(2))
		}, []ProblemKind{ProblemMissingBody}, nil},
		{"truncated body file", func(t *testing.T, f *checkFixture) {
			os.Truncate(f.blob(2), 10)
		}, []ProblemKind{ProblemBodySize}, nil},
		{"missing inline body", func(t *testing.T, f *checkFixture) {
			f.setInline(t, 0, nil)
		}, []ProblemKind{ProblemMissingBody}, nil},
		{"truncated inline body", func(t *testing.T, f *checkFixture) {
			f.setInline(t, 1, []byte("short"))
		}, []ProblemKind{ProblemBodySize}, nil},
		{"inline body no record names", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error { return tx.Bucket(bktBodies).Put([]byte("i0000"), []byte("lost")) })
		}, []ProblemKind{ProblemOrphanBody}, []ProblemKind{ProblemOrphanBody}},
		{"orphan body", func(t *testing.T, f *checkFixture) {
			os.WriteFile(filepath.Join(f.ann, "blobs", "ab", "ab0000000000000000000000"), []byte("lost"), 0o600)
		}, []ProblemKind{ProblemOrphanBody}, []ProblemKind{ProblemOrphanBody}},
		{"partly written body", func(t *testing.T, f *checkFixture) {
			os.WriteFile(filepath.Join(f.ann, "tmp", "new-123"), []byte("half"), 0o600)
		}, []ProblemKind{ProblemTmpFile}, []ProblemKind{ProblemTmpFile}},
		{"mailbox counters", func(t *testing.T, f *checkFixture) {
			f.editInfo(t, func(i *mboxInfo) { i.Messages, i.Unseen, i.Deleted, i.Size = 9, 9, 9, 9 })
		}, []ProblemKind{ProblemCounter, ProblemCounter, ProblemCounter, ProblemCounter}, []ProblemKind{ProblemCounter, ProblemCounter, ProblemCounter, ProblemCounter}},
		{"UIDNEXT not above the UIDs", func(t *testing.T, f *checkFixture) {
			f.editInfo(t, func(i *mboxInfo) { i.UIDNext = 2 })
		}, []ProblemKind{ProblemCounter}, []ProblemKind{ProblemCounter}},
		{"HIGHESTMODSEQ below a message", func(t *testing.T, f *checkFixture) {
			f.editInfo(t, func(i *mboxInfo) { i.HighestModSeq = 1 })
		}, []ProblemKind{ProblemCounter}, []ProblemKind{ProblemCounter}},
		{"account bytes", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error { return tx.Bucket(bktAcctMeta).Put(keyBytes, idKey(1)) })
		}, []ProblemKind{ProblemCounter}, []ProblemKind{ProblemCounter}},
		{"account MODSEQ and UIDVALIDITY", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error {
				tx.Bucket(bktAcctMeta).Put(keyUIDV, idKey(1))
				return tx.Bucket(bktAcctMeta).Put(keyModSeq, idKey(1))
			})
		}, []ProblemKind{ProblemCounter, ProblemCounter}, []ProblemKind{ProblemCounter, ProblemCounter}},
		{"record does not decode", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error {
				m, _ := openMbox(tx, f.inbx)
				return m.msgs().Put(uidKey(f.msgs[0].UID), []byte{9, 9, 9})
			})
		}, // its body is now unreferenced but kept: it may be the record's
			[]ProblemKind{ProblemRecord, ProblemOrphanBody}, nil},
		{"envelope missing", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error {
				m, _ := openMbox(tx, f.inbx)
				return m.b.Bucket(bktEnv).Delete(uidKey(f.msgs[1].UID))
			})
		}, []ProblemKind{ProblemMetadata}, []ProblemKind{ProblemMetadata}},
		{"body structure garbage", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error {
				m, _ := openMbox(tx, f.inbx)
				return m.b.Bucket(bktPart).Put(uidKey(f.msgs[1].UID), []byte{1, 200, 200})
			})
		}, []ProblemKind{ProblemMetadata}, []ProblemKind{ProblemMetadata}},
		{"metadata without record", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error {
				m, _ := openMbox(tx, f.inbx)
				return m.b.Bucket(bktEnv).Put(uidKey(999), []byte{1})
			})
		}, []ProblemKind{ProblemStrayMeta}, []ProblemKind{ProblemStrayMeta}},
		{"two records, one body", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error {
				m, _ := openMbox(tx, f.inbx)
				r, _ := decodeRecord(m.msgs().Get(uidKey(f.msgs[0].UID)))
				r.blob = f.msgs[1].Blob // same size: "one"/"hello" and "two"/"world"
				return m.msgs().Put(uidKey(f.msgs[0].UID), r.encode())
			})
		}, // the first body is then an orphan
			[]ProblemKind{ProblemOrphanBody, ProblemSharedBody}, []ProblemKind{ProblemOrphanBody}},
		{"name of a deleted mailbox", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error { return tx.Bucket(bktNames).Put([]byte("Ghost"), idKey(999)) })
		}, []ProblemKind{ProblemMailboxName}, []ProblemKind{ProblemMailboxName}},
		{"mailbox without its name", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error { return tx.Bucket(bktNames).Delete([]byte("Archive")) })
		}, []ProblemKind{ProblemMailboxName}, []ProblemKind{ProblemMailboxName}},
		{"no INBOX", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error { return tx.Bucket(bktNames).Delete([]byte(Inbox)) })
		}, // INBOX's bucket is then nameless: repair gives it its name back
			[]ProblemKind{ProblemMailboxName, ProblemNoInbox}, []ProblemKind{ProblemMailboxName, ProblemNoInbox}},
		{"directory of no user", func(t *testing.T, f *checkFixture) {
			os.MkdirAll(filepath.Join(f.dir, "users", "999", "blobs"), 0o700)
		}, []ProblemKind{ProblemUserDir}, []ProblemKind{ProblemUserDir}},
		{"next user ID", func(t *testing.T, f *checkFixture) {
			f.db(t, filepath.Join(f.dir, "global.db"), func(tx *bolt.Tx) error { return tx.Bucket(bktMeta).Put(keyNext, idKey(2)) })
		}, []ProblemKind{ProblemUserCounters}, []ProblemKind{ProblemUserCounters}},
		{"user record does not decode", func(t *testing.T, f *checkFixture) {
			f.db(t, filepath.Join(f.dir, "global.db"), func(tx *bolt.Tx) error { return tx.Bucket(bktUsers).Put([]byte("bob"), []byte("{")) })
		}, // bob's mail is then nobody's, but kept
			[]ProblemKind{ProblemUserRecord, ProblemUserDir}, nil},
	}
	for _, tc := range tests {
		slices.Sort(tc.want)
		slices.Sort(tc.fixed)
		t.Run(tc.name, func(t *testing.T) {
			f := newCheckFixture(t) // before Parallel: the first call builds it
			t.Parallel()
			tc.corrupt(t, f)
			for _, p := range runCheck(t, f.dir, false).Problems {
				t.Log(p)
			}
			if all, repairable := kinds(runCheck(t, f.dir, false)); !slices.Equal(all, tc.want) || !slices.Equal(repairable, tc.fixed) {
				t.Fatalf("found %v, repairable %v; want %v, %v", all, repairable, tc.want, tc.fixed)
			}
			all, repaired := kinds(runCheck(t, f.dir, true))
			if !slices.Equal(all, tc.want) || !slices.Equal(repaired, tc.fixed) {
				t.Fatalf("repair: found %v, repaired %v; want %v, %v", all, repaired, tc.want, tc.fixed)
			}
			left := slices.Clone(tc.want)
			for _, k := range tc.fixed {
				i := slices.Index(left, k)
				left = slices.Delete(left, i, i+1)
			}
			after := runCheck(t, f.dir, false)
			if all, _ := kinds(after); !slices.Equal(all, left) {
				t.Fatalf("after repair: %v, want %v", after.Problems, left)
			}
			// A repaired store opens and takes mail, even with what is
			// left; opening it removes nothing the check kept.
			s, err := Open(f.dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Deliver(ctx, "ann", strings.NewReader(msg("after", "repair"))); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if all, _ := kinds(runCheck(t, f.dir, false)); !slices.Equal(all, left) {
				t.Fatalf("after a server ran: %v, want %v", all, left)
			}
		})
	}
}

// Metadata repaired from the body equals what delivery computed.
func TestCheckRepairsMetadataFromBody(t *testing.T) {
	f := newCheckFixture(t)
	var want []byte
	f.acctDB(t, func(tx *bolt.Tx) error {
		m, _ := openMbox(tx, f.inbx)
		k := uidKey(f.msgs[0].UID)
		want = append([]byte(nil), m.b.Bucket(bktPart).Get(k)...)
		m.b.Bucket(bktPart).Delete(k)
		return m.b.Bucket(bktEnv).Delete(k)
	})
	runCheck(t, f.dir, true)
	f.acctDB(t, func(tx *bolt.Tx) error {
		m, _ := openMbox(tx, f.inbx)
		if got := m.b.Bucket(bktPart).Get(uidKey(f.msgs[0].UID)); string(got) != string(want) {
			t.Errorf("repaired structure differs from the original")
		}
		return nil
	})
}

func TestCheckRefusesOpenStore(t *testing.T) {
	f := newCheckFixture(t)
	s, err := Open(f.dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, repair := range []bool{false, true} {
		if _, err := Check(f.dir, CheckOptions{Repair: repair, LockTimeout: 50e6}); !errors.Is(err, ErrLocked) {
			t.Errorf("repair=%v: Check of an open store: %v, want ErrLocked", repair, err)
		}
	}
	if _, err := Check(t.TempDir(), CheckOptions{}); err == nil || !strings.Contains(err.Error(), "not a sealpost data directory") {
		t.Errorf("Check of an empty dir: %v", err)
	}
}

// A user whose account was never opened (a crash right after the user's
// record was committed) is a note, not a problem.
func TestCheckUserWithoutFiles(t *testing.T) {
	f := newCheckFixture(t)
	f.db(t, filepath.Join(f.dir, "global.db"), func(tx *bolt.Tx) error {
		v, _ := json.Marshal(userRecord{ID: 3, Name: "cat", Hash: "x"})
		tx.Bucket(bktMeta).Put(keyNext, idKey(4))
		return tx.Bucket(bktUsers).Put([]byte("cat"), v)
	})
	rep := runCheck(t, f.dir, false)
	if len(rep.Problems) != 0 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "cat") {
		t.Fatalf("problems %v, notes %v", rep.Problems, rep.Notes)
	}
	// Nor is an empty mail.db (a crash before bbolt's first write).
	os.MkdirAll(filepath.Join(f.dir, "users", "3"), 0o700)
	os.WriteFile(filepath.Join(f.dir, "users", "3", "mail.db"), nil, 0o600)
	rep = runCheck(t, f.dir, false)
	if len(rep.Problems) != 0 || len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "cat: no mail.db yet") {
		t.Fatalf("empty mail.db: problems %v, notes %v", rep.Problems, rep.Notes)
	}
	s, err := Open(f.dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Account(ctx, "cat"); err != nil {
		t.Fatalf("open the account with an empty mail.db: %v", err)
	}
}
