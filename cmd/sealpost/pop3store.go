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
type pop3Auth struct{ login *login.Authenticator }

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
}

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
	m.unlock, m.inbox, m.msgs = unlock, info.ID, map[uint32]mailstore.Message{}
	var out []pop3d.Message
	err = m.acct.Fetch(ctx, info.ID, nil, mailstore.FetchWant{}, func(mm *mailstore.MessageMeta) error {
		m.msgs[uint32(mm.UID)] = mm.Message
		out = append(out, pop3d.Message{
			UID:  uint32(mm.UID),
			UIDL: fmt.Sprintf("%08x%08x", info.UIDValidity, uint32(mm.UID)),
			Size: mm.Size,
		})
		return nil
	})
	if err != nil {
		unlock()
		return nil, err
	}
	return out, nil
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
