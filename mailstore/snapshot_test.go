package mailstore

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// walkUIDs lists a mailbox's UIDs from its records, bypassing the cache.
func walkUIDs(t *testing.T, a *Account, id MailboxID) []UID {
	t.Helper()
	var out []UID
	err := a.Fetch(ctx, id, nil, FetchWant{}, func(m *MessageMeta) error {
		out = append(out, m.UID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func fillInbox(t *testing.T, a *Account, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16) // concurrent appends share commits
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := a.Append(ctx, Inbox, strings.NewReader(msg("m"+string(rune('a'+i%26)), "x")), AppendOptions{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestSnapshotCache: the UID list Snapshot serves from its cache always
// equals the records, whatever changed the mailbox in between; and an
// append to a snapshot's list does not reach other snapshots.
func TestSnapshotCache(t *testing.T) {
	s := openTest(t, "")
	a := quickUser(t, s, "ann")
	fillInbox(t, a, uidCacheMin+50)
	inbox := must(a.Mailbox(ctx, Inbox))
	check := func(step string) {
		t.Helper()
		info := must(a.Mailbox(ctx, Inbox))
		for range 2 { // the second one comes from the cache
			snap := must(a.Snapshot(ctx, info.ID))
			if want := walkUIDs(t, a, info.ID); !slices.Equal(snap.UIDs, want) {
				t.Fatalf("%s: snapshot has %d UIDs, records %d", step, len(snap.UIDs), len(want))
			}
			_ = append(snap.UIDs, 0) // must not show in the next snapshot
		}
	}
	check("filled")
	fillInbox(t, a, 3)
	check("appended")
	uids := walkUIDs(t, a, inbox.ID)
	must(a.ChangeFlags(ctx, inbox.ID, uids[10:20], FlagsAdd, []string{FlagDeleted}))
	check("flagged")
	must(a.Expunge(ctx, inbox.ID, nil))
	check("expunged")
	must(a.Move(ctx, inbox.ID, uids[30:31], "Archive"))
	check("moved away")
	arch := must(a.Mailbox(ctx, "Archive"))
	must(a.Move(ctx, arch.ID, walkUIDs(t, a, arch.ID), Inbox))
	check("moved back") // as many messages as before, higher UIDNEXT
	must(a.Copy(ctx, inbox.ID, uids[40:41], Inbox))
	check("copied")
	if err := a.RenameMailbox(ctx, Inbox, "Old"); err != nil {
		t.Fatal(err)
	}
	check("INBOX renamed") // a new, empty INBOX
	old := must(a.Mailbox(ctx, "Old"))
	if snap := must(a.Snapshot(ctx, old.ID)); !slices.Equal(snap.UIDs, walkUIDs(t, a, old.ID)) {
		t.Fatal("renamed mailbox: snapshot differs from the records")
	}
}

func TestFirstUnseen(t *testing.T) {
	s := openTest(t, "")
	a := quickUser(t, s, "ann")
	fillInbox(t, a, 9)
	inbox := must(a.Mailbox(ctx, Inbox))
	uids := walkUIDs(t, a, inbox.ID)
	for _, tc := range []struct {
		name   string
		unseen []int // indexes into uids; the others are \Seen
	}{
		{"none", nil},
		{"all", []int{0, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"first", []int{0}},
		{"last", []int{8}},
		{"middle", []int{4}},
		{"recent", []int{6, 7, 8}},
		{"spread", []int{2, 5, 8}},
		{"back half", []int{5, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(a.ChangeFlags(ctx, inbox.ID, uids, FlagsAdd, []string{FlagSeen}))
			var un []UID
			for _, i := range tc.unseen {
				un = append(un, uids[i])
			}
			must(a.ChangeFlags(ctx, inbox.ID, un, FlagsRemove, []string{FlagSeen}))
			uid, ok, err := a.FirstUnseen(ctx, inbox.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(un) == 0 {
				if ok {
					t.Fatalf("first unseen %d, want none", uid)
				}
				return
			}
			if !ok || uid != un[0] {
				t.Fatalf("first unseen %d (%v), want %d", uid, ok, un[0])
			}
		})
	}
}
