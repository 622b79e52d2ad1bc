package imapd

import (
	"reflect"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"sealpost/mailstore"
)

// Mailbox names arrive and leave as UTF-8: imapserver decodes and encodes
// modified UTF-7 (RFC 3501 §5.1.3), or quotes UTF-8 once IMAP4rev2 or
// UTF8=ACCEPT is enabled.

const delim = string(mailstore.Delimiter)

// Create makes a mailbox (RFC 9051 §6.3.4), optionally with one special-use
// attribute (RFC 6154 CREATE-SPECIAL-USE). A trailing delimiter only says
// the client wants to create children later.
func (s *session) Create(name string, opts *imap.CreateOptions) error {
	defer s.enter("CREATE", "mailbox", name)()
	name = strings.TrimSuffix(name, delim)
	var use string
	switch len(opts.SpecialUse) {
	case 0:
	case 1:
		use = string(opts.SpecialUse[0])
	default:
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: codeUseAttr,
			Text: "Only one special-use attribute per mailbox"}
	}
	if err := s.acct.CreateMailbox(s.ctx, name, use); err != nil {
		return s.fail("create", err, operand, "mailbox", name)
	}
	return nil
}

// Delete removes a mailbox and its messages. INBOX and mailboxes with
// children cannot be deleted.
func (s *session) Delete(name string) error {
	defer s.enter("DELETE", "mailbox", name)()
	if err := s.acct.DeleteMailbox(s.ctx, name); err != nil {
		return s.fail("delete", err, operand, "mailbox", name)
	}
	return nil
}

// Rename renames a mailbox and its children; renaming INBOX moves its
// messages into a new mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
func (s *session) Rename(name, newName string, _ *imap.RenameOptions) error {
	defer s.enter("RENAME", "mailbox", name)()
	if err := s.acct.RenameMailbox(s.ctx, name, strings.TrimSuffix(newName, delim)); err != nil {
		return s.fail("rename", err, operand, "mailbox", name)
	}
	return nil
}

// Subscribe marks a mailbox subscribed. Only existing mailboxes can be
// subscribed: the store keeps subscription as a mailbox property.
func (s *session) Subscribe(name string) error {
	defer s.enter("SUBSCRIBE", "mailbox", name)()
	if err := s.acct.SetSubscribed(s.ctx, name, true); err != nil {
		return s.fail("subscribe", err, operand, "mailbox", name)
	}
	return nil
}

// Unsubscribe clears the subscription.
func (s *session) Unsubscribe(name string) error {
	defer s.enter("UNSUBSCRIBE", "mailbox", name)()
	if err := s.acct.SetSubscribed(s.ctx, name, false); err != nil {
		return s.fail("unsubscribe", err, operand, "mailbox", name)
	}
	return nil
}

// Status answers STATUS (RFC 9051 §6.3.11, RFC 8438 SIZE, RFC 7889
// APPENDLIMIT).
func (s *session) Status(name string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	defer s.enter("STATUS", "mailbox", name)()
	info, err := s.acct.Mailbox(s.ctx, name)
	if err != nil {
		return nil, s.fail("status", err, operand, "mailbox", name)
	}
	data, err := s.statusData(&info, opts)
	if err != nil {
		return nil, s.fail("status", err, operand, "mailbox", name)
	}
	return data, nil
}

// statusData fills every item imapserver may write: it dereferences the
// pointers of the items the client asked for.
func (s *session) statusData(info *mailstore.MailboxInfo, opts *imap.StatusOptions) (*imap.StatusData, error) {
	var zero uint32
	limit := uint32(s.srv.opts.AppendLimit)
	data := &imap.StatusData{
		Mailbox:       info.Name,
		NumMessages:   &info.Messages,
		UIDNext:       imap.UID(info.UIDNext),
		UIDValidity:   info.UIDValidity,
		NumUnseen:     &info.Unseen,
		NumDeleted:    &info.Deleted,
		Size:          &info.Size,
		AppendLimit:   &limit,
		NumRecent:     &zero,
		HighestModSeq: info.HighestModSeq,
	}
	if opts.DeletedStorage {
		var n int64
		if info.Deleted > 0 {
			err := s.acct.Fetch(s.ctx, info.ID, nil, mailstore.FetchWant{}, func(m *mailstore.MessageMeta) error {
				if m.HasFlag(mailstore.FlagDeleted) {
					n += m.Size
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		data.DeletedStorage = &n
	}
	return data, nil
}

// List answers LIST and LSUB, with LIST-EXTENDED (RFC 5258) selection and
// return options, CHILDREN (RFC 3348), SPECIAL-USE (RFC 6154) and
// LIST-STATUS (RFC 5819).
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, opts *imap.ListOptions) error {
	defer s.enter("LIST")()
	lsub := isLSub(w)
	if len(patterns) == 0 || len(patterns) == 1 && patterns[0] == "" {
		// RFC 9051 §6.3.9: an empty pattern asks for the hierarchy
		// delimiter and the root name.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: mailstore.Delimiter})
	}
	boxes, err := s.acct.Mailboxes(s.ctx)
	if err != nil {
		return s.fail("list", err, operand)
	}
	var pats []string
	for _, p := range patterns {
		if len(p) > maxPattern {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit, Text: "Pattern too long"}
		}
		if p != "" {
			pats = append(pats, canonPattern(ref, p))
		}
	}
	matches := func(name string) bool {
		for _, p := range pats {
			if matchPattern(p, name) {
				return true
			}
		}
		return false
	}
	hasChildren := map[string]bool{}
	subChildren := map[string]bool{} // has a subscribed descendant
	for _, b := range boxes {
		for i := range len(b.Name) {
			if b.Name[i] == mailstore.Delimiter {
				hasChildren[b.Name[:i]] = true
				if b.Subscribed {
					subChildren[b.Name[:i]] = true
				}
			}
		}
	}
	subscribedOnly := opts.SelectSubscribed || lsub
	sent := map[string]bool{}
	for _, b := range boxes {
		if !matches(b.Name) {
			continue
		}
		if opts.SelectSpecialUse && b.SpecialUse == "" {
			continue
		}
		var childInfo *imap.ListDataChildInfo
		if subscribedOnly && !b.Subscribed {
			// RFC 5258 §3.5: RECURSIVEMATCH lists a parent for its
			// subscribed children, with CHILDINFO.
			if !opts.SelectRecursiveMatch || !subChildren[b.Name] {
				continue
			}
		}
		if opts.SelectRecursiveMatch && subChildren[b.Name] {
			childInfo = &imap.ListDataChildInfo{Subscribed: true}
		}
		data := &imap.ListData{Delim: mailstore.Delimiter, Mailbox: b.Name, ChildInfo: childInfo}
		if lsub {
			// LSUB has no \HasChildren or \Subscribed (RFC 3501 §7.2.3).
		} else {
			if hasChildren[b.Name] {
				data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
			} else {
				data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
			}
			if b.SpecialUse != "" {
				data.Attrs = append(data.Attrs, imap.MailboxAttr(b.SpecialUse))
			}
			if b.Subscribed && (opts.ReturnSubscribed || opts.SelectSubscribed) {
				data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
			}
			if opts.ReturnStatus != nil {
				if data.Status, err = s.statusData(&b, opts.ReturnStatus); err != nil {
					return s.fail("list", err, operand)
				}
			}
		}
		sent[b.Name] = true
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	if lsub {
		// RFC 3501 §6.3.9: when "%" stops at a level that is not
		// subscribed but has subscribed children the pattern does not
		// reach, LSUB lists it \Noselect.
		for _, b := range boxes {
			if sent[b.Name] || b.Subscribed || !subChildren[b.Name] || !matches(b.Name) {
				continue
			}
			reached := false
			for _, c := range boxes {
				reached = reached || c.Subscribed && strings.HasPrefix(c.Name, b.Name+delim) && sent[c.Name]
			}
			if reached {
				continue
			}
			data := &imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: mailstore.Delimiter, Mailbox: b.Name}
			if err := w.WriteList(data); err != nil {
				return err
			}
		}
	}
	return nil
}

// isLSub tells LSUB from LIST (SUBSCRIBED): imapserver passes the same
// options for both and keeps the difference in an unexported field of the
// writer. Reading it with reflect is safe: a missing field reads as LIST.
func isLSub(w *imapserver.ListWriter) bool {
	f := reflect.ValueOf(w).Elem().FieldByName("lsub")
	return f.IsValid() && f.Kind() == reflect.Bool && f.Bool()
}

// maxPattern bounds LIST patterns: matching costs pattern × name length.
const maxPattern = 1024

// canonPattern joins reference and pattern (RFC 3501 §6.3.8): the
// reference is a prefix, concatenated as is, so LIST "Arch" "*" matches
// Archive and LIST "Work/" "%" the children of Work. A pattern that starts
// with the delimiter ignores the reference. A leading INBOX level is
// spelled in upper case, since INBOX is case-insensitive.
func canonPattern(ref, pattern string) string {
	p := ref + pattern
	if strings.HasPrefix(pattern, delim) {
		p = pattern[1:] // an absolute pattern ignores the reference
	}
	if len(p) >= 5 && strings.EqualFold(p[:5], mailstore.Inbox) &&
		(len(p) == 5 || p[5] == mailstore.Delimiter || p[5] == '*' || p[5] == '%') {
		p = mailstore.Inbox + p[5:]
	}
	return p
}

// matchPattern matches a mailbox name against a LIST pattern: "*" matches
// anything, "%" anything but the delimiter. It runs in O(len(p)·len(name))
// time (a row of the classic wildcard table), so no pattern can make it
// explode the way naive backtracking does.
func matchPattern(p, name string) bool {
	// prev[j]: p[:i] matches name[:j].
	prev := make([]bool, len(name)+1)
	cur := make([]bool, len(name)+1)
	prev[0] = true
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '*':
			cur[0] = prev[0]
			for j := 1; j <= len(name); j++ {
				cur[j] = prev[j] || cur[j-1]
			}
		case '%':
			cur[0] = prev[0]
			for j := 1; j <= len(name); j++ {
				cur[j] = prev[j] || cur[j-1] && name[j-1] != mailstore.Delimiter
			}
		default:
			cur[0] = false
			for j := 1; j <= len(name); j++ {
				cur[j] = prev[j-1] && name[j-1] == c
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(name)]
}
