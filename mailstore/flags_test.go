package mailstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// rawRecord returns a copy of the stored record of uid (nil: none).
func rawRecord(t *testing.T, a *Account, id MailboxID, uid UID) []byte {
	t.Helper()
	var v []byte
	err := a.db.View(func(tx *bolt.Tx) error {
		m, err := openMbox(tx, id)
		if err != nil {
			return err
		}
		v = bytes.Clone(m.msgs().Get(uidKey(uid)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// storedFlags reads every message's flags as FETCH does.
func storedFlags(t *testing.T, a *Account, id MailboxID) map[UID][]string {
	t.Helper()
	out := map[UID][]string{}
	err := a.Fetch(ctx, id, nil, FetchWant{}, func(m *MessageMeta) error {
		out[m.UID] = m.Flags
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChangeFlags: each operation on a message with given flags, its
// reply, and what is stored. An operation that changes nothing leaves the
// record byte for byte as it was (MODSEQ included) and is reported with
// Changed false and the message's flags; one that changes the flags
// changes only them and the MODSEQ.
func TestChangeFlags(t *testing.T) {
	cases := []struct {
		name    string
		have    []string
		op      FlagOp
		flags   []string
		want    []string
		changed bool
	}{
		{"add to none", nil, FlagsAdd, []string{FlagFlagged}, []string{FlagFlagged}, true},
		{"add what is set", []string{FlagFlagged}, FlagsAdd, []string{`\flagged`}, []string{FlagFlagged}, false},
		{"add beside a keyword", []string{FlagSeen, "$Work"}, FlagsAdd, []string{FlagFlagged}, []string{FlagSeen, FlagFlagged, "$Work"}, true},
		{"add a keyword that is set", []string{"$Work"}, FlagsAdd, []string{"$WORK"}, []string{"$Work"}, false},
		{"add a keyword", []string{FlagSeen}, FlagsAdd, []string{"$New"}, []string{FlagSeen, "$New"}, true},
		{"add \\Recent", nil, FlagsAdd, []string{`\Recent`}, []string{}, false},
		{"add nothing", []string{FlagDraft}, FlagsAdd, nil, []string{FlagDraft}, false},
		{"remove", []string{FlagSeen, FlagFlagged}, FlagsRemove, []string{FlagFlagged}, []string{FlagSeen}, true},
		{"remove what is not set", []string{FlagSeen}, FlagsRemove, []string{FlagFlagged}, []string{FlagSeen}, false},
		{"remove a keyword", []string{FlagDeleted, "$Work"}, FlagsRemove, []string{"$work"}, []string{FlagDeleted}, true},
		{"remove a keyword not set", []string{FlagSeen}, FlagsRemove, []string{"$Other"}, []string{FlagSeen}, false},
		{"remove beside a keyword", []string{FlagSeen, "$Work"}, FlagsRemove, []string{FlagSeen}, []string{"$Work"}, true},
		{"replace with the same", []string{FlagSeen}, FlagsReplace, []string{FlagSeen}, []string{FlagSeen}, false},
		{"replace with the same keywords", []string{"$A", FlagSeen}, FlagsReplace, []string{FlagSeen, "$A"}, []string{FlagSeen, "$A"}, false},
		{"replace dropping a keyword", []string{FlagSeen, "$Work"}, FlagsReplace, []string{FlagSeen}, []string{FlagSeen}, true},
		{"replace with nothing", []string{FlagDraft}, FlagsReplace, nil, []string{}, true},
		{"replace with a keyword", []string{FlagSeen}, FlagsReplace, []string{"$A"}, []string{"$A"}, true},
	}
	s := openTest(t, "")
	a := quickUser(t, s, "ann")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := a.Append(ctx, Inbox, strings.NewReader(msg(tc.name, "x")), AppendOptions{Flags: tc.have})
			if err != nil {
				t.Fatal(err)
			}
			id, uid := res.Mailbox, res.Message.UID
			before := rawRecord(t, a, id, uid)
			old := must(decodeRecord(before))
			got, err := a.ChangeFlags(ctx, id, []UID{uid}, tc.op, tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].UID != uid || !slices.Equal(got[0].Flags, tc.want) || got[0].Changed != tc.changed {
				t.Fatalf("result %+v, want flags %q changed %v", got, tc.want, tc.changed)
			}
			after := rawRecord(t, a, id, uid)
			info := must(a.Mailbox(ctx, Inbox))
			if !tc.changed {
				if !bytes.Equal(after, before) || got[0].ModSeq != old.modseq {
					t.Fatalf("unchanged message rewritten: %x -> %x (modseq %d, was %d)", before, after, got[0].ModSeq, old.modseq)
				}
			} else {
				r := must(decodeRecord(after))
				if r.modseq <= old.modseq || r.modseq != got[0].ModSeq || info.HighestModSeq != r.modseq {
					t.Fatalf("modseq %d (reply %d, highest %d), was %d", r.modseq, got[0].ModSeq, info.HighestModSeq, old.modseq)
				}
				if !r.internal.Equal(old.internal) || r.internal.Location().String() != old.internal.Location().String() ||
					!r.saved.Equal(old.saved) || r.size != old.size || r.blob != old.blob {
					t.Fatalf("record changed beyond its flags:\n got %+v\nwas %+v", r, old)
				}
			}
			if fl := storedFlags(t, a, id)[uid]; !slices.Equal(fl, tc.want) {
				t.Fatalf("stored flags %q, want %q", fl, tc.want)
			}
		})
	}
	checkCounters(t, a)
}

// checkCounters compares the INBOX's unseen and deleted counters with its records.
func checkCounters(t *testing.T, a *Account) {
	t.Helper()
	info := must(a.Mailbox(ctx, Inbox))
	var unseen, deleted uint32
	for _, fl := range storedFlags(t, a, info.ID) {
		m := Message{Flags: fl}
		if !m.HasFlag(FlagSeen) {
			unseen++
		}
		if m.HasFlag(FlagDeleted) {
			deleted++
		}
	}
	if info.Unseen != unseen || info.Deleted != deleted {
		t.Fatalf("counters unseen %d deleted %d, records say %d and %d", info.Unseen, info.Deleted, unseen, deleted)
	}
}

// TestChangeFlagsOrderAndDuplicates: results follow the order of uids, a
// UID named twice changes (and counts) once, missing UIDs are skipped.
func TestChangeFlagsOrderAndDuplicates(t *testing.T) {
	s := openTest(t, "")
	a := quickUser(t, s, "ann")
	fillInbox(t, a, 4)
	inbox := must(a.Mailbox(ctx, Inbox))
	u := walkUIDs(t, a, inbox.ID)
	res := must(a.ChangeFlags(ctx, inbox.ID, []UID{u[2], u[0], 999, u[2], u[1]}, FlagsAdd, []string{FlagSeen}))
	var got []string
	for _, r := range res {
		got = append(got, fmt.Sprintf("%d:%v:%v", r.UID, r.Changed, r.Flags))
	}
	want := []string{
		fmt.Sprintf("%d:true:[\\Seen]", u[2]), fmt.Sprintf("%d:true:[\\Seen]", u[0]),
		fmt.Sprintf("%d:false:[\\Seen]", u[2]), fmt.Sprintf("%d:true:[\\Seen]", u[1]),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("results %v, want %v", got, want)
	}
	if info := must(a.Mailbox(ctx, Inbox)); info.Unseen != 1 {
		t.Fatalf("unseen %d, want 1", info.Unseen)
	}
	checkCounters(t, a)
}

// TestChangeFlagsEvent: one FlagsChanged per call, with the changed
// messages only (a call that changes only some lists only those), their
// new flags and the call's MODSEQ; none when nothing changed.
func TestChangeFlagsEvent(t *testing.T) {
	s := openTest(t, "")
	a := quickUser(t, s, "ann")
	fillInbox(t, a, 3)
	inbox := must(a.Mailbox(ctx, Inbox))
	u := walkUIDs(t, a, inbox.ID)
	must(a.ChangeFlags(ctx, inbox.ID, u[:1], FlagsAdd, []string{FlagFlagged}))
	var mu sync.Mutex
	var evs []FlagsChanged
	stop := a.Watch(func(e Event) {
		if fc, ok := e.(FlagsChanged); ok {
			mu.Lock()
			evs = append(evs, fc)
			mu.Unlock()
		}
	})
	defer stop()
	res := must(a.ChangeFlags(ctx, inbox.ID, u, FlagsAdd, []string{FlagFlagged}))
	must(a.ChangeFlags(ctx, inbox.ID, u, FlagsAdd, []string{FlagFlagged})) // no change, no event
	mu.Lock()
	defer mu.Unlock()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1: %+v", len(evs), evs)
	}
	e := evs[0]
	if e.Mailbox != inbox.ID || e.ModSeq == 0 || e.ModSeq != res[1].ModSeq || len(e.Changes) != 2 {
		t.Fatalf("event %+v for results %+v", e, res)
	}
	for i, m := range e.Changes {
		if m.UID != u[i+1] || m.ModSeq != e.ModSeq || !m.Changed || !slices.Equal(m.Flags, []string{FlagFlagged}) {
			t.Fatalf("event message %d: %+v", i, m)
		}
	}
}

// TestChangeFlagsOldRecords: records in the version 1 encoding (before
// INTERNALDATE kept its zone) are changed in place and stay readable, with
// a MODSEQ that needs more bytes than the one they had.
func TestChangeFlagsOldRecords(t *testing.T) {
	s := openTest(t, "")
	a := quickUser(t, s, "ann")
	fillInbox(t, a, 2)
	inbox := must(a.Mailbox(ctx, Inbox))
	u := walkUIDs(t, a, inbox.ID)
	idate := time.Date(2020, 5, 6, 7, 8, 9, 10, time.UTC)
	err := a.db.Update(func(tx *bolt.Tx) error {
		m, err := openMbox(tx, inbox.ID)
		if err != nil {
			return err
		}
		for _, uid := range u {
			r := must(decodeRecord(m.msgs().Get(uidKey(uid))))
			v := []byte{recordV1, byte(bitSeen)}
			v = binary.AppendVarint(v, idate.UnixNano())
			v = binary.AppendVarint(v, r.saved.UnixNano())
			v = binary.AppendUvarint(v, uint64(r.size))
			v = binary.AppendUvarint(v, 5) // one byte; the account's next is bigger
			v = appendString(v, r.blob)
			v = binary.AppendUvarint(v, 0)
			if err := m.msgs().Put(uidKey(uid), v); err != nil {
				return err
			}
		}
		// MODSEQs from here on take three varint bytes.
		return tx.Bucket(bktAcctMeta).Put(keyModSeq, idKey(1<<15))
	})
	if err != nil {
		t.Fatal(err)
	}
	res := must(a.ChangeFlags(ctx, inbox.ID, u, FlagsAdd, []string{FlagAnswered}))
	for _, r := range res {
		if !r.Changed || r.ModSeq != 1<<15+1 {
			t.Fatalf("result %+v", r)
		}
	}
	for _, uid := range u {
		v := rawRecord(t, a, inbox.ID, uid)
		r, err := decodeRecord(v)
		if err != nil || v[0] != recordV1 || r.bits != bitSeen|bitAnswered || r.modseq != 1<<15+1 || !r.internal.Equal(idate) {
			t.Fatalf("record %x: %+v, %v", v, r, err)
		}
	}
	// The messages still open and read as before.
	err = a.Fetch(ctx, inbox.ID, nil, FetchWant{}, func(m *MessageMeta) error {
		if readBody(t, a, m.Message) == "" || !m.InternalDate.Equal(idate) {
			return fmt.Errorf("message %d: %+v", m.UID, m.Message)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestChangeFlagsCorruptRecord: a record that does not decode fails the
// call, and the transaction changes nothing, not even the other messages.
func TestChangeFlagsCorruptRecord(t *testing.T) {
	s := openTest(t, "")
	a := quickUser(t, s, "ann")
	fillInbox(t, a, 3)
	inbox := must(a.Mailbox(ctx, Inbox))
	u := walkUIDs(t, a, inbox.ID)
	bad := []byte{recordVersion, 0, 0x80} // an unterminated varint
	err := a.db.Update(func(tx *bolt.Tx) error {
		m, err := openMbox(tx, inbox.ID)
		if err != nil {
			return err
		}
		return m.msgs().Put(uidKey(u[1]), bad)
	})
	if err != nil {
		t.Fatal(err)
	}
	before := rawRecord(t, a, inbox.ID, u[0])
	if _, err := a.ChangeFlags(ctx, inbox.ID, u, FlagsAdd, []string{FlagSeen}); !errors.Is(err, errBadRecord) {
		t.Fatalf("ChangeFlags over a corrupt record: %v", err)
	}
	if got := rawRecord(t, a, inbox.ID, u[0]); !bytes.Equal(got, before) {
		t.Fatal("a message before the corrupt one was changed")
	}
	if got := must(a.Mailbox(ctx, Inbox)); got.Unseen != inbox.Unseen || got.HighestModSeq != inbox.HighestModSeq {
		t.Fatalf("mailbox %+v, was %+v", got, inbox)
	}
}

// TestChangeFlagsModel: random operations on random sets of messages,
// against a model of the flags; replies, stored flags, MODSEQs and the
// counters agree with it after each.
func TestChangeFlagsModel(t *testing.T) {
	s := openTest(t, "")
	a := quickUser(t, s, "ann")
	const n = 40
	fillInbox(t, a, n)
	inbox := must(a.Mailbox(ctx, Inbox))
	u := walkUIDs(t, a, inbox.ID)
	pool := []string{FlagSeen, FlagAnswered, FlagFlagged, FlagDeleted, FlagDraft, "$Work", "$Junk", "NonJunk"}
	model := map[UID]map[string]bool{}
	modseq := map[UID]uint64{}
	for _, uid := range u {
		model[uid] = map[string]bool{}
	}
	rng := rand.New(rand.NewPCG(7, 9))
	for step := range 150 {
		var uids []UID
		for _, uid := range u {
			if rng.IntN(3) == 0 {
				uids = append(uids, uid)
			}
		}
		var flags []string
		for _, f := range pool {
			if rng.IntN(4) == 0 {
				flags = append(flags, f)
			}
		}
		op := FlagOp(rng.IntN(3))
		res, err := a.ChangeFlags(ctx, inbox.ID, uids, op, flags)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != len(uids) {
			t.Fatalf("step %d: %d results for %d messages", step, len(res), len(uids))
		}
		for i, r := range res {
			uid := uids[i]
			want := map[string]bool{}
			switch op {
			case FlagsAdd:
				for f := range model[uid] {
					want[f] = true
				}
				for _, f := range flags {
					want[f] = true
				}
			case FlagsRemove:
				for f := range model[uid] {
					want[f] = !slices.Contains(flags, f)
				}
			case FlagsReplace:
				for _, f := range flags {
					want[f] = true
				}
			}
			for f, on := range want {
				if !on {
					delete(want, f)
				}
			}
			changed := len(want) != len(model[uid])
			for f := range want {
				changed = changed || !model[uid][f]
			}
			if r.UID != uid || r.Changed != changed || len(r.Flags) != len(want) {
				t.Fatalf("step %d op %d %q on %v: result %+v, want %v (changed %v)", step, op, flags, model[uid], r, want, changed)
			}
			for _, f := range r.Flags {
				if !want[f] {
					t.Fatalf("step %d: result %+v, want %v", step, r, want)
				}
			}
			if changed == (r.ModSeq == modseq[uid]) && modseq[uid] != 0 {
				t.Fatalf("step %d: MODSEQ %d, was %d, changed %v", step, r.ModSeq, modseq[uid], changed)
			}
			model[uid], modseq[uid] = want, r.ModSeq
		}
		stored := storedFlags(t, a, inbox.ID)
		for _, uid := range u {
			if len(stored[uid]) != len(model[uid]) {
				t.Fatalf("step %d: uid %d stored %q, model %v", step, uid, stored[uid], model[uid])
			}
		}
		checkCounters(t, a)
	}
}
