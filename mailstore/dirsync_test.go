package mailstore

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A write whose new bodies' directory cannot be fsynced fails without
// running (no record may name a body whose name is not durable), while
// writes batched with it commit.
func TestWriteAfterSyncDirFailure(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := newUser(t, s, "ann")
	gone := filepath.Join(t.TempDir(), "gone")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if i%2 == 0 {
				ran := false
				err := a.writeAfterSync([]string{gone}, func(*wtx) error { ran = true; return nil })
				if err == nil || ran {
					t.Errorf("unsyncable directory: err %v, ran %v", err, ran)
				}
				return
			}
			if _, err := s.Deliver(ctx, "ann", strings.NewReader(msg("ok", "body\r\n"))); err != nil {
				t.Errorf("deliver next to a failing write: %v", err)
			}
		})
	}
	wg.Wait()
	info, err := a.Mailbox(ctx, Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if info.Messages != 4 {
		t.Errorf("%d messages, want 4", info.Messages)
	}
}
