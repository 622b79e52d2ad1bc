package mailstore

import (
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The live check runs the same account checks as the offline one: damage
// in the database is found the same way, by a running store.
func TestCheckLiveFindsWhatCheckFinds(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, f *checkFixture)
		want    []ProblemKind
	}{
		{"mailbox counters", func(t *testing.T, f *checkFixture) {
			f.editInfo(t, func(i *mboxInfo) { i.Messages, i.Unseen, i.Deleted, i.Size = 9, 9, 9, 9 })
		}, []ProblemKind{ProblemCounter, ProblemCounter, ProblemCounter, ProblemCounter}},
		{"HIGHESTMODSEQ below a message", func(t *testing.T, f *checkFixture) {
			f.editInfo(t, func(i *mboxInfo) { i.HighestModSeq = 1 })
		}, []ProblemKind{ProblemCounter}},
		{"body structure garbage", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error {
				m, _ := openMbox(tx, f.inbx)
				return m.b.Bucket(bktPart).Put(uidKey(f.msgs[1].UID), []byte{1, 200, 200})
			})
		}, []ProblemKind{ProblemMetadata}},
		{"metadata without record", func(t *testing.T, f *checkFixture) {
			f.acctDB(t, func(tx *bolt.Tx) error {
				m, _ := openMbox(tx, f.inbx)
				return m.b.Bucket(bktEnv).Put(uidKey(999), []byte{1})
			})
		}, []ProblemKind{ProblemStrayMeta}},
		{"missing body file", func(t *testing.T, f *checkFixture) {
			os.Remove(f.blob(2))
		}, []ProblemKind{ProblemMissingBody}},
		{"missing inline body", func(t *testing.T, f *checkFixture) {
			f.setInline(t, 0, nil)
		}, []ProblemKind{ProblemMissingBody}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newCheckFixture(t)
			tc.corrupt(t, f)
			off, _ := kinds(runCheck(t, f.dir, false))
			s := openTest(t, f.dir)
			rep, err := s.CheckLive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			live, _ := kinds(rep)
			if !slices.Equal(live, tc.want) || !slices.Equal(off, tc.want) || rep.Repaired() {
				t.Fatalf("live found %v, offline %v; want %v (problems %v)", live, off, tc.want, rep.Problems)
			}
			if rep.Users != 2 || rep.Messages != 8 || rep.Mailboxes != 12 {
				t.Errorf("live counted %d users, %d mailboxes, %d messages", rep.Users, rep.Mailboxes, rep.Messages)
			}
		})
	}
}

// While mail is delivered, copied and expunged, the live check finds
// nothing: bodies placed before their commit and bodies waiting for their
// removal are not problems.
func TestCheckLiveUnderLoad(t *testing.T) {
	s := openTest(t, "")
	ann := quickUser(t, s, "ann")
	inbox := must(ann.Mailbox(ctx, Inbox))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Deliver(ctx, "ann", strings.NewReader(msg("load", strings.Repeat("x", i%500)))); err != nil {
				t.Error(err)
				return
			}
			uids := []UID{UID(i + 1)}
			if i%2 == 0 {
				if _, err := ann.Copy(ctx, inbox.ID, uids, "Archive"); err != nil {
					t.Error(err)
					return
				}
			}
			if i%3 == 0 {
				must(ann.ChangeFlags(ctx, inbox.ID, uids, FlagsAdd, []string{FlagDeleted}))
				if _, err := ann.Expunge(ctx, inbox.ID, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}
	})
	deadline := time.Now().Add(2 * time.Second)
	checks := 0
	for time.Now().Before(deadline) && !t.Failed() {
		rep, err := s.CheckLive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Errorf("check %d under load: %v", checks, rep.Problems)
		}
		checks++
	}
	close(stop)
	wg.Wait()
	if checks < 2 {
		t.Fatalf("only %d checks ran", checks)
	}
}
