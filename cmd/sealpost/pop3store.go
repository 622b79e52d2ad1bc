package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"

	"sealpost/mailstore"
	"sealpost/mailstore/login"
	"sealpost/pop3d"
)

// pop3Auth adapts the shared login path and the store to pop3d's
// consumer-side interfaces.
type pop3Auth struct{ login accountLogin }

func (p pop3Auth) Authenticate(ctx context.Context, remote netip.Addr, user, pass string) (pop3d.Maildrop, error) {
	a, err := p.login.Login(ctx, remote, user, pass)
	switch {
	case errors.Is(err, login.ErrThrottled):
		return nil, fmt.Errorf("%w: %w", pop3d.ErrThrottled, err)
	case errors.Is(err, mailstore.ErrAuthFailed):
		return nil, pop3d.ErrAuthFailed
	case err != nil:
		return nil, err
	}
	return &maildrop{acct: a}, nil
}

// maildrop is one POP3 session's view of INBOX: the snapshot taken at
// login (RFC 1939: later deliveries are not shown).
type maildrop struct {
	acct   *mailstore.Account
	unlock func()
	inbox  mailstore.MailboxID
	msgs   map[uint32]mailstore.Message
	// afterInfo, if set, runs between reading INBOX's UIDNEXT and reading
	// its records (tests deliver there).
	afterInfo func()
}

// errSnapshotEnd stops Fetch at the first UID delivered after Lock began.
var errSnapshotEnd = errors.New("end of snapshot")

// Lock takes the POP3 lock and the snapshot. Fetch reads the records in
// several short transactions, so messages delivered meanwhile could join
// the snapshot; keeping only UIDs below the UIDNEXT read first makes it the
// INBOX as it was at that moment (messages expunged meanwhile may be
// missing or answer ErrGone later, as if expunged right after the login).
func (m *maildrop) Lock(ctx context.Context) ([]pop3d.Message, error) {
	unlock, err := m.acct.LockPOP3()
	if errors.Is(err, mailstore.ErrPOP3Locked) {
		return nil, pop3d.ErrInUse
	} else if err != nil {
		return nil, err
	}
	info, err := m.acct.Mailbox(ctx, mailstore.Inbox)
	if err != nil {
		unlock()
		return nil, err
	}
	if m.afterInfo != nil {
		m.afterInfo()
	}
	m.unlock, m.inbox, m.msgs = unlock, info.ID, map[uint32]mailstore.Message{}
	var out []pop3d.Message
	err = m.acct.Fetch(ctx, info.ID, nil, mailstore.FetchWant{}, func(mm *mailstore.MessageMeta) error {
		if mm.UID >= info.UIDNext {
			return errSnapshotEnd
		}
		unterminated, err := m.unterminated(mm.Message)
		if err != nil {
			return err
		}
		m.msgs[uint32(mm.UID)] = mm.Message
		out = append(out, pop3d.Message{
			UID:          uint32(mm.UID),
			UIDL:         fmt.Sprintf("%08x%08x", info.UIDValidity, uint32(mm.UID)),
			Size:         mm.Size,
			Unterminated: unterminated,
		})
		return nil
	})
	if err != nil && !errors.Is(err, errSnapshotEnd) {
		unlock()
		m.unlock = nil
		return nil, err
	}
	return out, nil
}

// unterminated reports whether a stored message lacks a final CRLF (an
// IMAP APPEND may store that; LMTP data always ends in one). The store
// does not record it, so this reads the body's last two octets. A message
// expunged meanwhile counts as terminated; RETR will answer ErrGone.
func (m *maildrop) unterminated(msg mailstore.Message) (bool, error) {
	if msg.Size == 0 {
		return false, nil
	}
	if msg.Size < 2 {
		return true, nil
	}
	f, err := m.acct.Open(msg)
	if errors.Is(err, mailstore.ErrGone) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	defer f.Close()
	var tail [2]byte
	if _, err := f.ReadAt(tail[:], msg.Size-2); err != nil {
		return false, fmt.Errorf("read end of message %d: %w", msg.UID, err)
	}
	return string(tail[:]) != "\r\n", nil
}

func (m *maildrop) Open(ctx context.Context, msg pop3d.Message) (io.ReadCloser, error) {
	rec, ok := m.msgs[msg.UID]
	if !ok {
		return nil, pop3d.ErrGone
	}
	f, err := m.acct.Open(rec)
	if errors.Is(err, mailstore.ErrGone) {
		return nil, fmt.Errorf("%w: %w", pop3d.ErrGone, err)
	}
	return f, err
}

func (m *maildrop) Delete(ctx context.Context, ms []pop3d.Message) error {
	uids := make([]mailstore.UID, len(ms))
	for i, msg := range ms {
		uids[i] = mailstore.UID(msg.UID)
	}
	_, err := m.acct.Delete(ctx, m.inbox, uids)
	return err
}

func (m *maildrop) Close() error {
	if m.unlock != nil {
		m.unlock()
	}
	return nil
}
