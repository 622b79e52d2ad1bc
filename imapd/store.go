package imapd

import (
	"errors"
	"io"
	"strconv"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"sealpost/mailstore"
)

// Commands that change messages: STORE, COPY, MOVE, EXPUNGE, APPEND.

// Store changes flags (RFC 9051 §6.4.6). The untagged FETCH replies carry
// UID first, then FLAGS, whether or not the command was UID STORE.
func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	defer s.enter("STORE")()
	v := s.selected()
	if v == nil {
		return errNoSelection
	}
	if v.readOnly {
		return errReadOnly
	}
	if err := v.checkSeq(numSet); err != nil {
		return err
	}
	refs := v.resolve(numSet)
	if len(refs) == 0 {
		return nil
	}
	id, err := v.target()
	if err != nil {
		return s.viewErr(err)
	}
	op := mailstore.FlagsReplace
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = mailstore.FlagsAdd
	case imap.StoreFlagsDel:
		op = mailstore.FlagsRemove
	}
	msgs, err := s.acct.ChangeFlags(s.ctx, id, uidsOf(refs), op, storeFlags(flags.Flags))
	if err != nil {
		return s.fail("store", err, operand, "mailbox", v.name)
	}
	v.tell(msgs, flags.Silent)
	if flags.Silent {
		return nil
	}
	// The replies are encoded here and handed over a few dozen kilobytes
	// at a time: the same bytes as imapserver's FETCH response writer
	// makes, without one writer (and lock, and a dozen small writes) per
	// message.
	i := 0
	buf := make([]byte, 0, min(storeChunk, 64*len(msgs))+512)
	for _, m := range msgs { // both ascending by UID
		for i < len(refs) && refs[i].uid < m.UID {
			i++
		}
		if i == len(refs) || refs[i].uid != m.UID {
			continue
		}
		buf = appendStoreReply(buf, refs[i].seq, &m)
		if len(buf) >= storeChunk {
			if err := w.WriteRawResponses(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) == 0 {
		return nil
	}
	return w.WriteRawResponses(buf)
}

// storeChunk is how many bytes of STORE replies are handed to imapserver
// at once (a variable for tests).
var storeChunk = 32 << 10

// appendStoreReply appends `* seq FETCH (UID uid FLAGS (...))` and CRLF.
func appendStoreReply(b []byte, seq uint32, m *mailstore.FlagState) []byte {
	b = append(b, "* "...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, " FETCH (UID "...)
	b = strconv.AppendUint(b, uint64(m.UID), 10)
	b = appendFlags(append(b, ' '), m.Flags)
	return append(b, ")\r\n"...)
}

// Copy copies messages (RFC 9051 §6.4.7) and reports COPYUID (RFC 4315).
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	defer s.enter("COPY", "mailbox", dest)()
	v := s.selected()
	if v == nil {
		return nil, errNoSelection
	}
	if err := v.checkSeq(numSet); err != nil {
		return nil, err
	}
	refs := v.resolve(numSet)
	if len(refs) == 0 {
		// Nothing to copy; still tell the client if the target is missing.
		if _, err := s.acct.Mailbox(s.ctx, dest); err != nil {
			return nil, s.fail("copy", err, destination, "mailbox", dest)
		}
		return nil, nil
	}
	id, err := v.target()
	if err != nil {
		return nil, s.viewErr(err)
	}
	res, err := s.acct.Copy(s.ctx, id, uidsOf(refs), dest)
	if err != nil {
		return nil, s.copyFail("copy", err, v, dest)
	}
	return copyData(&res), nil
}

// copyFail maps a COPY or MOVE failure. A missing mailbox may be the
// destination (TRYCREATE) or the selected one, deleted since target looked
// (NONEXISTENT: creating dest would not help).
func (s *session) copyFail(op string, err error, v *mailboxView, dest string) error {
	if errors.Is(err, mailstore.ErrNoSuchMailbox) {
		if _, gone := v.target(); gone != nil {
			return s.viewErr(gone)
		}
	}
	return s.fail(op, err, destination, "mailbox", dest)
}

// Move moves messages (RFC 6851): COPYUID first, then the EXPUNGEs, all
// before the tagged OK. The store moves them in one transaction.
func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	defer s.enter("MOVE", "mailbox", dest)()
	v := s.selected()
	if v == nil {
		return errNoSelection
	}
	if v.readOnly {
		return errReadOnly
	}
	if err := v.checkSeq(numSet); err != nil {
		return err
	}
	refs := v.resolve(numSet)
	if len(refs) == 0 {
		if _, err := s.acct.Mailbox(s.ctx, dest); err != nil {
			return s.fail("move", err, destination, "mailbox", dest)
		}
		return nil
	}
	id, err := v.target()
	if err != nil {
		return s.viewErr(err)
	}
	res, err := s.acct.Move(s.ctx, id, uidsOf(refs), dest)
	if err != nil {
		return s.copyFail("move", err, v, dest)
	}
	if data := copyData(&res); data != nil {
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
	}
	// The store published the Expunged event before Move returned.
	return s.viewErr(v.expungeNow(w.WriteExpunge))
}

func copyData(res *mailstore.CopyResult) *imap.CopyData {
	if len(res.SrcUIDs) == 0 {
		return nil
	}
	data := &imap.CopyData{UIDValidity: res.UIDValidity}
	for i := range res.SrcUIDs {
		data.SourceUIDs.AddNum(imap.UID(res.SrcUIDs[i]))
		data.DestUIDs.AddNum(imap.UID(res.DestUIDs[i]))
	}
	return data
}

// Expunge removes \Deleted messages (RFC 9051 §6.4.3), or only those among
// uids (UID EXPUNGE, RFC 4315). imapserver also calls it for CLOSE, with a
// zero ExpungeWriter: CLOSE expunges silently, and in an EXAMINEd mailbox
// not at all (RFC 9051 §6.4.1).
func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	defer s.enter("EXPUNGE")()
	v := s.selected()
	if v == nil {
		return errNoSelection
	}
	closing := *w == (imapserver.ExpungeWriter{})
	if v.readOnly {
		if closing {
			return nil
		}
		return errReadOnly
	}
	id, err := v.target()
	if err != nil {
		if closing {
			return nil // CLOSE of a mailbox that is gone: nothing to expunge
		}
		return s.viewErr(err)
	}
	var target []mailstore.UID // nil: every \Deleted message
	if uids != nil {
		refs := v.resolve(*uids)
		if len(refs) == 0 {
			return nil
		}
		target = uidsOf(refs)
	}
	if _, err := s.acct.Expunge(s.ctx, id, target); err != nil {
		return s.fail("expunge", err, operand, "mailbox", v.name)
	}
	if closing {
		return nil // the view goes with Unselect
	}
	return s.viewErr(v.expungeNow(w.WriteExpunge))
}

// Append stores a message (RFC 9051 §6.3.12) and reports APPENDUID (RFC
// 4315). The literal streams from the connection into the store's body
// file: nothing buffers the whole message.
func (s *session) Append(mailbox string, r imap.LiteralReader, opts *imap.AppendOptions) (*imap.AppendData, error) {
	defer s.enter("APPEND", "mailbox", mailbox)()
	lr := &literalReader{r: r}
	res, err := s.acct.Append(s.ctx, mailbox, lr, mailstore.AppendOptions{
		Flags:        storeFlags(opts.Flags),
		InternalDate: opts.Time,
	})
	if err != nil && lr.err != nil {
		// The client went away mid-literal: nothing was stored, and the
		// connection is gone; not a server failure.
		s.log.Debug("append aborted", "err", lr.err)
		return nil, errors.Join(errClientRead, lr.err)
	}
	if err != nil {
		return nil, s.fail("append", err, destination, "mailbox", mailbox)
	}
	return &imap.AppendData{UID: imap.UID(res.Message.UID), UIDValidity: res.UIDValidity}, nil
}

// errClientRead wraps failures to read from the client.
var errClientRead = errors.New("read from client")

// literalReader remembers a failed read of the APPEND literal.
type literalReader struct {
	r   io.Reader
	err error
}

func (l *literalReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}
