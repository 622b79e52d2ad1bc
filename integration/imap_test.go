package integration

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// TestIMAPClient drives every command of issue 3 through go-imap's
// imapclient against the real binary, once over STARTTLS and once over
// implicit TLS, each with its own user on the same server.
func TestIMAPClient(t *testing.T) {
	s := Start(t, Config{})
	for _, tc := range []struct {
		mode tlsMode
		user string
	}{{modeStartTLS, "ann"}, {modeImplicitTLS, "bob"}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			pass := tc.user + "-secret-pw"
			s.AddUser(tc.user, pass)
			(&imapSuite{s: s, mode: tc.mode, user: tc.user, pass: pass, rcpt: tc.user + "@example.com"}).run(t)
		})
	}
}

type imapSuite struct {
	s                *Server
	mode             tlsMode
	user, pass, rcpt string
	t                *testing.T         // the suite's test: owns the main session
	c                *imapclient.Client // the main session
	c2               *imapclient.Client // a second session (AUTHENTICATE PLAIN)
	exists           chan uint32        // c2's EXISTS updates
	sent             []string           // INBOX messages as stored, by initial UID-1
}

func (x *imapSuite) run(t *testing.T) {
	x.t = t
	steps := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"capability-and-login", x.capabilityAndLogin},
		{"authenticate-plain", x.authenticatePlain},
		{"namespace", x.namespace},
		{"list", x.list},
		{"create-subscribe-rename-delete", x.mailboxes},
		{"status", x.status},
		{"append", x.append},
		{"select-fetch", x.selectFetch},
		{"store", x.store},
		{"search", x.search},
		{"examine-read-only", x.examine},
		{"copy-move", x.copyMove},
		{"idle-lmtp", x.idle},
		{"expunge", x.expunge},
		{"unselect-close", x.unselectClose},
		{"wire", x.wire},
		{"rename-inbox", x.renameInbox},
		{"logout", x.logout},
	}
	for _, st := range steps {
		if !t.Run(st.name, st.f) {
			// Later steps build on the mailbox state of earlier ones.
			t.Fatalf("step %s failed; later steps depend on it", st.name)
		}
	}
}

func (x *imapSuite) capabilityAndLogin(t *testing.T) {
	if x.mode == modeStartTLS {
		// Before STARTTLS: LOGINDISABLED, no AUTH=, LOGIN refused.
		plain, err := imapclient.DialInsecure(x.s.IMAP, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		caps := plain.Caps()
		if !caps.Has(imap.CapLoginDisabled) || !caps.Has(imap.CapStartTLS) || caps.Has("AUTH=PLAIN") {
			t.Errorf("plaintext capabilities: %v", caps)
		}
		wantIMAPError(t, "LOGIN without TLS", plain.Login(x.user, x.pass).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodePrivacyRequired)
	}
	c := x.s.dialIMAP(x.t, x.mode, nil)
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIMAP4rev2, "AUTH=PLAIN", "AUTH=LOGIN", imap.CapSASLIR} {
		if !caps.Has(want) {
			t.Errorf("TLS, not logged in: no %s in %v", want, caps)
		}
	}
	if caps.Has(imap.CapLoginDisabled) || caps.Has(imap.CapStartTLS) {
		t.Errorf("TLS, not logged in: %v", caps)
	}
	wantIMAPError(t, "LOGIN wrong password", c.Login(x.user, "wrong-"+x.pass).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAuthenticationFailed)
	if err := c.Login(x.user, x.pass).Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	if caps, err = c.Capability().Wait(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{imap.CapIdle, imap.CapMove, imap.CapUIDPlus, imap.CapNamespace, imap.CapESearch,
		imap.CapSearchRes, imap.CapListExtended, imap.CapListStatus, imap.CapSpecialUse, imap.CapCreateSpecialUse,
		imap.CapStatusSize, imap.CapChildren, imap.CapLiteralPlus, imap.CapBinary, imap.CapUnselect, imap.CapEnable} {
		if !caps.Has(want) {
			t.Errorf("logged in: no %s in %v", want, caps)
		}
	}
	if _, ok := caps.AppendLimit(); !ok {
		t.Errorf("logged in: no APPENDLIMIT in %v", caps)
	}
	x.c = c
	// The INBOX the later steps work on.
	x.sent = []string{delivered(x.rcpt, msgPlain), delivered(x.rcpt, msgMultipart), delivered(x.rcpt, msgHTML)}
	for _, m := range []string{msgPlain, msgMultipart, msgHTML} {
		deliver(t, x.s, x.rcpt, m)
	}
}

func (x *imapSuite) authenticatePlain(t *testing.T) {
	wire := &syncBuffer{}
	x.exists = make(chan uint32, 10)
	c := x.s.dialIMAP(x.t, x.mode, &imapclient.Options{DebugWriter: wire, UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				select {
				case x.exists <- *d.NumMessages:
				default:
				}
			}
		},
	}})
	if err := c.Authenticate(sasl.NewPlainClient("", x.user, x.pass)); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
	// SASL-IR: the credentials ride on the command line, no continuation.
	if !regexp.MustCompile(`AUTHENTICATE PLAIN [A-Za-z0-9+/]+=*\r\n`).MatchString(wire.String()) {
		t.Errorf("AUTHENTICATE PLAIN without initial response:\n%s", wire.String())
	}
	if c.State() != imap.ConnStateAuthenticated {
		t.Errorf("state after AUTHENTICATE: %v", c.State())
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Errorf("SELECT after AUTHENTICATE: %v", err)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	x.c2 = c
}

func (x *imapSuite) namespace(t *testing.T) {
	ns, err := x.c.Namespace().Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Personal) != 1 || ns.Personal[0].Prefix != "" || ns.Personal[0].Delim != '/' || len(ns.Other) != 0 || len(ns.Shared) != 0 {
		t.Errorf("NAMESPACE: %+v", ns)
	}
}

// listBoxes runs LIST and returns the answers by name.
func listBoxes(t *testing.T, c *imapclient.Client, ref, pattern string, opts *imap.ListOptions) map[string]*imap.ListData {
	t.Helper()
	l, err := c.List(ref, pattern, opts).Collect()
	if err != nil {
		t.Fatalf("LIST %q %q: %v", ref, pattern, err)
	}
	out := map[string]*imap.ListData{}
	for _, d := range l {
		if out[d.Mailbox] != nil {
			t.Errorf("LIST %q: %s twice", pattern, d.Mailbox)
		}
		out[d.Mailbox] = d
	}
	return out
}

func hasAttr(d *imap.ListData, a imap.MailboxAttr) bool {
	return d != nil && slices.ContainsFunc(d.Attrs, func(b imap.MailboxAttr) bool { return strings.EqualFold(string(a), string(b)) })
}

func keys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (x *imapSuite) list(t *testing.T) {
	special := map[string]imap.MailboxAttr{"Sent": imap.MailboxAttrSent, "Drafts": imap.MailboxAttrDrafts,
		"Trash": imap.MailboxAttrTrash, "Junk": imap.MailboxAttrJunk, "Archive": imap.MailboxAttrArchive}
	all := listBoxes(t, x.c, "", "*", nil)
	if got := keys(all); !slices.Equal(got, []string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}) {
		t.Fatalf("LIST \"\" *: %v", got)
	}
	for name, attr := range special {
		if !hasAttr(all[name], attr) {
			t.Errorf("%s lacks %s: %v", name, attr, all[name].Attrs)
		}
	}
	if d := all["INBOX"]; !hasAttr(d, imap.MailboxAttrHasNoChildren) || d.Delim != '/' {
		t.Errorf("INBOX: %+v", d)
	}
	// SPECIAL-USE selection: only the special mailboxes.
	su := listBoxes(t, x.c, "", "*", &imap.ListOptions{SelectSpecialUse: true})
	if got := keys(su); !slices.Equal(got, []string{"Archive", "Drafts", "Junk", "Sent", "Trash"}) {
		t.Errorf("LIST (SPECIAL-USE): %v", got)
	}
	// "%" stops at the delimiter; an empty pattern gives the delimiter.
	if got := keys(listBoxes(t, x.c, "", "%", nil)); len(got) != 6 {
		t.Errorf("LIST %%: %v", got)
	}
	if d, err := x.c.List("", "", nil).Collect(); err != nil || len(d) != 1 || d[0].Delim != '/' || !hasAttr(d[0], imap.MailboxAttrNoSelect) {
		t.Errorf("LIST \"\" \"\": %+v %v", d, err)
	}
	// LIST-STATUS.
	st := listBoxes(t, x.c, "", "INBOX", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true, NumUnseen: true, Size: true}})
	if d := st["INBOX"]; d == nil || d.Status == nil || d.Status.NumMessages == nil || *d.Status.NumMessages != 3 ||
		d.Status.NumUnseen == nil || *d.Status.NumUnseen != 3 || d.Status.Size == nil || *d.Status.Size != x.sizeOf(0, 1, 2) {
		t.Errorf("LIST RETURN (STATUS): %+v", d)
	}
}

func (x *imapSuite) sizeOf(idx ...int) int64 {
	var n int64
	for _, i := range idx {
		n += int64(len(x.sent[i]))
	}
	return n
}

func (x *imapSuite) mailboxes(t *testing.T) {
	c := x.c
	if err := c.Create("Projects/2024", nil).Wait(); err != nil {
		t.Fatalf("CREATE Projects/2024: %v", err)
	}
	wantIMAPError(t, "CREATE existing", c.Create("Projects/2024", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
	l := listBoxes(t, c, "", "Projects*", &imap.ListOptions{ReturnChildren: true})
	// RFC 9051 §6.3.4: the server creates the missing superior.
	if !hasAttr(l["Projects"], imap.MailboxAttrHasChildren) || !hasAttr(l["Projects/2024"], imap.MailboxAttrHasNoChildren) {
		t.Errorf("LIST Projects*: %v", l)
	}
	// CREATE-SPECIAL-USE. The store supports the five RFC 6154 uses it
	// creates itself; others get USEATTR, as RFC 6154 §5.1 allows.
	if err := c.Create("Receipts", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrArchive}}).Wait(); err != nil {
		t.Fatalf("CREATE (USE (\\Archive)): %v", err)
	}
	if l := listBoxes(t, c, "", "Receipts", nil); !hasAttr(l["Receipts"], imap.MailboxAttrArchive) {
		t.Errorf("Receipts: %+v", l["Receipts"])
	}
	for _, attr := range []imap.MailboxAttr{imap.MailboxAttrFlagged, `\Bogus`} {
		wantIMAPError(t, "CREATE (USE ("+string(attr)+"))", c.Create("Other", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{attr}}).Wait(),
			imap.StatusResponseTypeNo, "USEATTR")
	}
	// SUBSCRIBE / UNSUBSCRIBE, seen through LIST (SUBSCRIBED).
	subscribed := func() map[string]*imap.ListData {
		return listBoxes(t, c, "", "*", &imap.ListOptions{SelectSubscribed: true})
	}
	if err := c.Subscribe("Projects/2024").Wait(); err != nil {
		t.Fatalf("SUBSCRIBE: %v", err)
	}
	if d := subscribed()["Projects/2024"]; !hasAttr(d, imap.MailboxAttrSubscribed) {
		t.Errorf("not listed as subscribed: %+v", d)
	}
	if err := c.Unsubscribe("Projects/2024").Wait(); err != nil {
		t.Fatalf("UNSUBSCRIBE: %v", err)
	}
	if d := subscribed()["Projects/2024"]; d != nil {
		t.Errorf("still subscribed: %+v", d)
	}
	// RENAME moves the children along.
	if err := c.Rename("Projects", "Work", nil).Wait(); err != nil {
		t.Fatalf("RENAME: %v", err)
	}
	if got := keys(listBoxes(t, c, "", "*", nil)); slices.Contains(got, "Projects") || slices.Contains(got, "Projects/2024") ||
		!slices.Contains(got, "Work") || !slices.Contains(got, "Work/2024") {
		t.Errorf("after RENAME: %v", got)
	}
	wantIMAPError(t, "RENAME onto an existing mailbox", c.Rename("Work", "Trash", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeAlreadyExists)
	wantIMAPError(t, "RENAME missing", c.Rename("Nope", "Nope2", nil).Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
	// DELETE.
	if err := c.Delete("Work").Wait(); err == nil {
		// RFC 9051 allows keeping a \Noselect parent; then Work/2024 must survive.
		if l := listBoxes(t, c, "", "Work*", nil); l["Work/2024"] == nil {
			t.Errorf("DELETE Work took its child along: %v", keys(l))
		}
	}
	if err := c.Delete("Work/2024").Wait(); err != nil {
		t.Fatalf("DELETE Work/2024: %v", err)
	}
	c.Delete("Work").Wait()
	c.Delete("Receipts").Wait()
	wantIMAPError(t, "DELETE INBOX", c.Delete("INBOX").Wait(), imap.StatusResponseTypeNo, "")
	wantIMAPError(t, "DELETE missing", c.Delete("Nope").Wait(), imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
	if got := keys(listBoxes(t, c, "", "*", nil)); !slices.Equal(got, []string{"Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"}) {
		t.Errorf("after DELETE: %v", got)
	}
}

func statusOf(t *testing.T, c *imapclient.Client, name string) *imap.StatusData {
	t.Helper()
	st, err := c.Status(name, &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true, NumDeleted: true, Size: true}).Wait()
	if err != nil {
		t.Fatalf("STATUS %s: %v", name, err)
	}
	return st
}

func (x *imapSuite) status(t *testing.T) {
	st := statusOf(t, x.c, "INBOX")
	if *st.NumMessages != 3 || *st.NumUnseen != 3 || *st.NumDeleted != 0 || st.UIDNext != 4 || st.UIDValidity == 0 || *st.Size != x.sizeOf(0, 1, 2) {
		t.Errorf("STATUS INBOX: messages %d unseen %d deleted %d uidnext %d uidvalidity %d size %d (want size %d)",
			*st.NumMessages, *st.NumUnseen, *st.NumDeleted, st.UIDNext, st.UIDValidity, *st.Size, x.sizeOf(0, 1, 2))
	}
	if st := statusOf(t, x.c, "Trash"); *st.NumMessages != 0 || *st.Size != 0 || st.UIDNext != 1 {
		t.Errorf("STATUS Trash: %+v", st)
	}
	_, err := x.c.Status("Nope", &imap.StatusOptions{NumMessages: true}).Wait()
	wantIMAPError(t, "STATUS missing", err, imap.StatusResponseTypeNo, imap.ResponseCodeNonExistent)
}

const msgDraft = "From: Ann <ann@example.com>\r\nTo: bob@example.net\r\nSubject: draft in progress\r\n" +
	"Date: Fri, 01 May 2020 12:00:00 +0200\r\n\r\nDear Bob,\r\nnot finished yet.\r\n"

func appendMsg(t *testing.T, c *imapclient.Client, mailbox, msg string, opts *imap.AppendOptions) (*imap.AppendData, error) {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(msg)), opts)
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	return cmd.Wait()
}

func fetchOne(t *testing.T, c *imapclient.Client, set imap.NumSet, opts *imap.FetchOptions) *imapclient.FetchMessageBuffer {
	t.Helper()
	msgs, err := c.Fetch(set, opts).Collect()
	if err != nil {
		t.Fatalf("FETCH %v: %v", set, err)
	}
	if len(msgs) != 1 {
		t.Fatalf("FETCH %v: %d messages", set, len(msgs))
	}
	return msgs[0]
}

func hasFlag(flags []imap.Flag, f imap.Flag) bool {
	return slices.ContainsFunc(flags, func(g imap.Flag) bool { return strings.EqualFold(string(f), string(g)) })
}

// sameFlags compares flag sets, ignoring order and the case of system
// flags (keywords are compared as is).
func sameFlags(got []imap.Flag, want ...imap.Flag) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !hasFlag(got, w) {
			return false
		}
	}
	return true
}

func (x *imapSuite) append(t *testing.T) {
	c := x.c
	date := time.Date(2020, 5, 1, 12, 34, 56, 0, time.FixedZone("", 2*3600))
	data, err := appendMsg(t, c, "Drafts", msgDraft, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft, "$Pending"}, Time: date})
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	st := statusOf(t, c, "Drafts")
	if data.UID != 1 || data.UIDValidity != st.UIDValidity || *st.NumMessages != 1 || *st.Size != int64(len(msgDraft)) {
		t.Errorf("APPENDUID %d %d; STATUS Drafts %+v", data.UIDValidity, data.UID, st)
	}
	if _, err := c.Select("Drafts", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	full := &imap.FetchItemBodySection{Peek: true}
	m := fetchOne(t, c, imap.UIDSetNum(data.UID), &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{full}})
	if got := string(m.FindBodySection(full)); got != msgDraft {
		t.Errorf("appended message changed:\n%q\nwant\n%q", got, msgDraft)
	}
	if !sameFlags(m.Flags, imap.FlagDraft, "$Pending") {
		t.Errorf("appended flags: %v", m.Flags)
	}
	if !m.InternalDate.Equal(date) || m.RFC822Size != int64(len(msgDraft)) {
		t.Errorf("INTERNALDATE %v (want %v), RFC822.SIZE %d", m.InternalDate, date, m.RFC822Size)
	}
	t.Run("internal-date-zone", func(t *testing.T) {
		if _, off := m.InternalDate.Zone(); off != 2*3600 {
			t.Errorf("INTERNALDATE %v: zone +0200 lost", m.InternalDate)
		}
	})
	_, err = appendMsg(t, c, "Nope", msgDraft, nil)
	wantIMAPError(t, "APPEND to a missing mailbox", err, imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate)
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
}

func (x *imapSuite) selectFetch(t *testing.T) {
	c := x.c
	sd, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sd.NumMessages != 3 || sd.UIDNext != 4 || sd.UIDValidity == 0 || !hasFlag(sd.PermanentFlags, imap.FlagWildcard) ||
		!hasFlag(sd.Flags, imap.FlagSeen) || !hasFlag(sd.Flags, imap.FlagDeleted) {
		t.Errorf("SELECT INBOX: %+v", sd)
	}
	// Attributes of all three.
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true, Flags: true, InternalDate: true,
		RFC822Size: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil || len(msgs) != 3 {
		t.Fatalf("FETCH 1:3: %d messages, %v", len(msgs), err)
	}
	for i, m := range msgs {
		if m.SeqNum != uint32(i+1) || m.UID != imap.UID(i+1) || len(m.Flags) != 0 || m.RFC822Size != int64(len(x.sent[i])) ||
			time.Since(m.InternalDate) > 5*time.Minute || time.Since(m.InternalDate) < -time.Minute {
			t.Errorf("message %d: seq %d uid %d flags %v size %d (want %d) internaldate %v",
				i+1, m.SeqNum, m.UID, m.Flags, m.RFC822Size, len(x.sent[i]), m.InternalDate)
		}
	}
	env := msgs[1].Envelope
	if env == nil || env.Subject != "multipart report" || env.MessageID != "multi-2@example.net" ||
		!slices.Equal(env.InReplyTo, []string{"plain-1@example.org"}) ||
		!env.Date.Equal(time.Date(2024, 2, 15, 8, 30, 0, 0, time.UTC)) ||
		len(env.From) != 1 || env.From[0] != (imap.Address{Name: "Bob Sender", Mailbox: "bob", Host: "example.net"}) ||
		len(env.Sender) != 1 || env.Sender[0] != env.From[0] || len(env.ReplyTo) != 1 || env.ReplyTo[0] != env.From[0] ||
		len(env.To) != 2 || env.To[1] != (imap.Address{Name: "Carol", Mailbox: "carol", Host: "example.com"}) ||
		len(env.Cc) != 1 || env.Cc[0].Mailbox != "dave" || len(env.Bcc) != 0 {
		t.Errorf("ENVELOPE: %+v", env)
	}
	x.checkStructure(t, msgs[1].BodyStructure, true)
	if bs, ok := msgs[0].BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.MediaType() != "text/plain" ||
		bs.Size != uint32(len("Hello world, this is the plain message.\r\n")) || bs.Text == nil || bs.Text.NumLines != 1 {
		t.Errorf("BODYSTRUCTURE of the plain message: %#v", msgs[0].BodyStructure)
	}
	// BODY (the non-extensible form).
	m := fetchOne(t, c, imap.SeqSetNum(2), &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{}})
	x.checkStructure(t, m.BodyStructure, false)

	// Sections of the multipart message.
	whole := x.sent[1]
	hdrEnd := strings.Index(whole, "\r\n\r\n") + 4
	sec := func(s imap.FetchItemBodySection) *imap.FetchItemBodySection { s.Peek = true; return &s }
	cases := []struct {
		name string
		sec  *imap.FetchItemBodySection
		want string
	}{
		{"BODY[]", sec(imap.FetchItemBodySection{}), whole},
		{"BODY[HEADER]", sec(imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader}), whole[:hdrEnd]},
		{"BODY[TEXT]", sec(imap.FetchItemBodySection{Specifier: imap.PartSpecifierText}), whole[hdrEnd:]},
		{"BODY[HEADER.FIELDS (SUBJECT FROM)]", sec(imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "From"}}),
			"From: Bob Sender <bob@example.net>\r\nSubject: multipart report\r\n\r\n"},
		{"BODY[HEADER.FIELDS.NOT (...)]", sec(imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader,
			HeaderFieldsNot: []string{"Return-Path", "Delivered-To", "To", "Cc", "Date", "Message-ID", "In-Reply-To", "MIME-Version", "Content-Type"}}),
			"From: Bob Sender <bob@example.net>\r\nSubject: multipart report\r\n\r\n"},
		{"BODY[1]", sec(imap.FetchItemBodySection{Part: []int{1}}), multipartPart1Body},
		{"BODY[1.MIME]", sec(imap.FetchItemBodySection{Part: []int{1}, Specifier: imap.PartSpecifierMIME}), multipartPart1MIME},
		{"BODY[2]", sec(imap.FetchItemBodySection{Part: []int{2}}), multipartPart2Body},
		{"BODY[2]<4.10>", sec(imap.FetchItemBodySection{Part: []int{2}, Partial: &imap.SectionPartial{Offset: 4, Size: 10}}), multipartPart2Body[4:14]},
		{"BODY[]<0.20>", sec(imap.FetchItemBodySection{Partial: &imap.SectionPartial{Offset: 0, Size: 20}}), whole[:20]},
		{"BODY[TEXT]<offset beyond the end>", sec(imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Partial: &imap.SectionPartial{Offset: 1 << 20, Size: 10}}), ""},
	}
	for _, tc := range cases {
		m := fetchOne(t, c, imap.SeqSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{tc.sec}})
		if len(m.BodySection) != 1 {
			t.Errorf("%s: %d sections in the reply", tc.name, len(m.BodySection))
			continue
		}
		if got := string(m.BodySection[0].Bytes); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, abbrev(got), abbrev(tc.want))
		}
	}
	// BINARY[] decodes the transfer encoding; BINARY.SIZE is the decoded size.
	bin2 := &imap.FetchItemBinarySection{Part: []int{2}, Peek: true}
	bin1 := &imap.FetchItemBinarySection{Part: []int{1}, Peek: true}
	m = fetchOne(t, c, imap.SeqSetNum(2), &imap.FetchOptions{BinarySection: []*imap.FetchItemBinarySection{bin1, bin2},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}, {Part: []int{1}}}})
	if got := m.FindBinarySection(bin2); !bytes.Equal(got, allBytes()) {
		t.Errorf("BINARY[2]: %q", got)
	}
	if got := string(m.FindBinarySection(bin1)); got != multipartPart1Text {
		t.Errorf("BINARY[1]: %q", got)
	}
	if n, ok := m.FindBinarySectionSize([]int{2}); !ok || n != 256 {
		t.Errorf("BINARY.SIZE[2]: %d %v", n, ok)
	}
	if n, ok := m.FindBinarySectionSize([]int{1}); !ok || n != uint32(len(multipartPart1Text)) {
		t.Errorf("BINARY.SIZE[1]: %d %v", n, ok)
	}
	// Nothing so far was allowed to set \Seen.
	if m := fetchOne(t, c, imap.SeqSetNum(2), &imap.FetchOptions{Flags: true}); len(m.Flags) != 0 {
		t.Errorf(".PEEK set flags: %v", m.Flags)
	}
	// BODY[] without PEEK sets \Seen and reports it.
	full := &imap.FetchItemBodySection{}
	m = fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{full}})
	if string(m.FindBodySection(full)) != x.sent[0] || !sameFlags(m.Flags, imap.FlagSeen) {
		t.Errorf("FETCH 1 BODY[]: flags %v, body %q", m.Flags, abbrev(string(m.FindBodySection(full))))
	}
	if st := statusOf(t, c, "INBOX"); *st.NumUnseen != 2 {
		t.Errorf("UNSEEN after BODY[]: %d", *st.NumUnseen)
	}
}

func (x *imapSuite) checkStructure(t *testing.T, bs imap.BodyStructure, extended bool) {
	t.Helper()
	mp, ok := bs.(*imap.BodyStructureMultiPart)
	if !ok || mp.MediaType() != "multipart/mixed" || len(mp.Children) != 2 {
		t.Fatalf("structure: %#v", bs)
	}
	if extended != (mp.Extended != nil) || extended && mp.Extended.Params["boundary"] != "XyZ" {
		t.Errorf("multipart extension data (extended %v): %+v", extended, mp.Extended)
	}
	p1, ok1 := mp.Children[0].(*imap.BodyStructureSinglePart)
	p2, ok2 := mp.Children[1].(*imap.BodyStructureSinglePart)
	if !ok1 || !ok2 {
		t.Fatalf("children: %#v", mp.Children)
	}
	if p1.MediaType() != "text/plain" || !strings.EqualFold(p1.Params["charset"], "utf-8") || !strings.EqualFold(p1.Encoding, "quoted-printable") ||
		p1.Size != uint32(len(multipartPart1Body)) || p1.Text == nil {
		t.Errorf("part 1: %+v", p1)
	}
	if p2.MediaType() != "application/octet-stream" || !strings.EqualFold(p2.Encoding, "base64") || p2.Size != uint32(len(multipartPart2Body)) {
		t.Errorf("part 2: %+v", p2)
	}
	if extended {
		if d := p2.Disposition(); d == nil || !strings.EqualFold(d.Value, "attachment") || p2.Filename() != "bytes.bin" {
			t.Errorf("part 2 disposition: %+v", d)
		}
	} else if p2.Extended != nil {
		t.Errorf("BODY carries extension data: %+v", p2.Extended)
	}
}

func (x *imapSuite) store(t *testing.T) {
	c := x.c
	storeFlags := func(op imap.StoreFlagsOp, silent bool, flags ...imap.Flag) []*imapclient.FetchMessageBuffer {
		t.Helper()
		msgs, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: op, Silent: silent, Flags: flags}, nil).Collect()
		if err != nil {
			t.Fatalf("STORE %v %v: %v", op, flags, err)
		}
		return msgs
	}
	check := func(what string, msgs []*imapclient.FetchMessageBuffer, want ...imap.Flag) {
		t.Helper()
		if len(msgs) != 1 || !sameFlags(msgs[0].Flags, want...) {
			t.Errorf("%s: %d replies, want FLAGS %v", what, len(msgs), want)
			for _, m := range msgs {
				t.Logf("  %+v", m.Flags)
			}
		}
	}
	check("+FLAGS", storeFlags(imap.StoreFlagsAdd, false, imap.FlagFlagged, "$Work"), imap.FlagSeen, imap.FlagFlagged, "$Work")
	check("-FLAGS", storeFlags(imap.StoreFlagsDel, false, imap.FlagFlagged), imap.FlagSeen, "$Work")
	check("FLAGS", storeFlags(imap.StoreFlagsSet, false, imap.FlagSeen, imap.FlagAnswered, "$Work"), imap.FlagSeen, imap.FlagAnswered, "$Work")
	if msgs := storeFlags(imap.StoreFlagsAdd, true, imap.FlagFlagged); len(msgs) != 0 {
		t.Errorf("+FLAGS.SILENT answered with %d FETCH responses", len(msgs))
	}
	m := fetchOne(t, c, imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, UID: true})
	if !sameFlags(m.Flags, imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, "$Work") {
		t.Errorf("after .SILENT: %v", m.Flags)
	}
	// UID STORE on a range with a UID that does not exist.
	msgs, err := c.Store(imap.UIDSetNum(2, 99), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{"$Later"}}, nil).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 2 || !sameFlags(msgs[0].Flags, "$Later") {
		t.Errorf("UID STORE 2,99: %v %+v", err, msgs)
	}
	if _, err := c.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{"$Later"}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
}

func (x *imapSuite) search(t *testing.T) {
	c := x.c
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	today := time.Now()
	cases := []struct {
		name string
		crit imap.SearchCriteria
		want []uint32
	}{
		{"ALL", imap.SearchCriteria{}, []uint32{1, 2, 3}},
		{"HEADER Subject", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "MULTIPART"}}}, []uint32{2}},
		{"HEADER From (address)", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "news@example"}}}, []uint32{3}},
		{"HEADER exists", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "In-Reply-To", Value: ""}}}, []uint32{2}},
		{"BODY", imap.SearchCriteria{Body: []string{"plain message"}}, []uint32{1}},
		{"BODY not in headers", imap.SearchCriteria{Body: []string{"Alice"}}, nil},
		{"BODY UTF-8 in a QP part", imap.SearchCriteria{Body: []string{"grüße aus"}}, []uint32{2}},
		{"TEXT header or body", imap.SearchCriteria{Text: []string{"alice"}}, []uint32{1}},
		{"TEXT body", imap.SearchCriteria{Text: []string{"paragraph with filler"}}, []uint32{3}},
		{"SINCE today", imap.SearchCriteria{Since: today.AddDate(0, 0, -1)}, []uint32{1, 2, 3}},
		{"BEFORE yesterday", imap.SearchCriteria{Before: today.AddDate(0, 0, -1)}, nil},
		{"SENTBEFORE", imap.SearchCriteria{SentBefore: day(2024, 2, 1)}, []uint32{1}},
		{"SENTSINCE", imap.SearchCriteria{SentSince: day(2024, 2, 15)}, []uint32{2, 3}},
		{"LARGER", imap.SearchCriteria{Larger: 4000}, []uint32{3}},
		{"SMALLER", imap.SearchCriteria{Smaller: 400}, []uint32{1}},
		{"SEEN", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, []uint32{1}},
		{"UNSEEN", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2, 3}},
		{"KEYWORD", imap.SearchCriteria{Flag: []imap.Flag{"$Work"}}, []uint32{1}},
		{"UNKEYWORD", imap.SearchCriteria{NotFlag: []imap.Flag{"$Work"}}, []uint32{2, 3}},
		{"FLAGGED ANSWERED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagFlagged, imap.FlagAnswered}}, []uint32{1}},
		{"OR", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "plain"}}}, {Larger: 4000}}}}, []uint32{1, 3}},
		{"NOT", imap.SearchCriteria{Not: []imap.SearchCriteria{{Body: []string{"quarterly"}}}}, []uint32{1, 3}},
		{"sequence set", imap.SearchCriteria{SeqNum: []imap.SeqSet{imap.SeqSetNum(2, 3)}}, []uint32{2, 3}},
		{"UID set and flag", imap.SearchCriteria{UID: []imap.UIDSet{imap.UIDSetNum(1, 2)}, NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2}},
		{"nothing", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "no such subject"}}}, nil},
	}
	for _, tc := range cases {
		d, err := c.Search(&tc.crit, nil).Wait()
		if err != nil {
			t.Errorf("SEARCH %s: %v", tc.name, err)
			continue
		}
		if got := d.AllSeqNums(); !slices.Equal(got, tc.want) {
			t.Errorf("SEARCH %s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// UID SEARCH answers UIDs.
	if d, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait(); err != nil || !slices.Equal(d.AllUIDs(), []imap.UID{2, 3}) {
		t.Errorf("UID SEARCH UNSEEN: %v %v", d, err)
	}
	// ESEARCH (RFC 4731).
	d, err := c.Search(&imap.SearchCriteria{}, &imap.SearchOptions{ReturnMin: true, ReturnMax: true, ReturnCount: true}).Wait()
	if err != nil || d.Min != 1 || d.Max != 3 || d.Count != 3 {
		t.Errorf("SEARCH RETURN (MIN MAX COUNT): %+v %v", d, err)
	}
	d, err = c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, &imap.SearchOptions{ReturnAll: true, ReturnCount: true}).Wait()
	if err != nil || d.Count != 2 || !slices.Equal(d.AllUIDs(), []imap.UID{2, 3}) {
		t.Errorf("UID SEARCH RETURN (ALL COUNT): %+v %v", d, err)
	}
}

// examine: a mailbox opened with EXAMINE cannot be changed by anything.
func (x *imapSuite) examine(t *testing.T) {
	// The main session marks message 3 \Deleted, so CLOSE has something
	// it must not expunge; the second session EXAMINEs.
	if _, err := x.c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	c := x.c2
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
	wantIMAPError(t, "STORE in EXAMINE", err, imap.StatusResponseTypeNo, "")
	_, err = c.Expunge().Collect()
	wantIMAPError(t, "EXPUNGE in EXAMINE", err, imap.StatusResponseTypeNo, "")
	_, err = c.UIDExpunge(imap.UIDSetNum(3)).Collect()
	wantIMAPError(t, "UID EXPUNGE in EXAMINE", err, imap.StatusResponseTypeNo, "")
	_, err = c.Move(imap.SeqSetNum(2), "Trash").Wait()
	wantIMAPError(t, "MOVE in EXAMINE", err, imap.StatusResponseTypeNo, "")
	// BODY[] without PEEK must not set \Seen in an EXAMINEd mailbox.
	full := &imap.FetchItemBodySection{}
	m := fetchOne(t, c, imap.SeqSetNum(2), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{full}})
	if string(m.FindBodySection(full)) != x.sent[1] || hasFlag(m.Flags, imap.FlagSeen) {
		t.Errorf("EXAMINE FETCH BODY[]: flags %v", m.Flags)
	}
	// CLOSE after EXAMINE expunges nothing.
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Errorf("CLOSE after EXAMINE: %v", err)
	}
	st := statusOf(t, x.c, "INBOX")
	if *st.NumMessages != 3 || *st.NumUnseen != 2 || *st.NumDeleted != 1 {
		t.Errorf("EXAMINE changed the mailbox: messages %d unseen %d deleted %d", *st.NumMessages, *st.NumUnseen, *st.NumDeleted)
	}
	if m := fetchOne(t, x.c, imap.SeqSetNum(2), &imap.FetchOptions{Flags: true}); len(m.Flags) != 0 {
		t.Errorf("message 2 flags after EXAMINE: %v", m.Flags)
	}
	if _, err := x.c.Store(imap.SeqSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
}

func (x *imapSuite) copyMove(t *testing.T) {
	c := x.c
	archive := statusOf(t, c, "Archive")
	cd, err := c.Copy(imap.UIDSetNum(1), "Archive").Wait()
	if err != nil {
		t.Fatalf("UID COPY: %v", err)
	}
	if cd.UIDValidity != archive.UIDValidity || cd.SourceUIDs.String() != "1" || cd.DestUIDs.String() != fmt.Sprint(archive.UIDNext) {
		t.Errorf("COPYUID %d %v %v (Archive UIDVALIDITY %d UIDNEXT %d)", cd.UIDValidity, cd.SourceUIDs, cd.DestUIDs, archive.UIDValidity, archive.UIDNext)
	}
	// The copy keeps body and flags.
	c2 := x.c2
	if _, err := c2.Select("Archive", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	full := &imap.FetchItemBodySection{Peek: true}
	m := fetchOne(t, c2, imap.UIDSetNum(imap.UID(archive.UIDNext)), &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{full}})
	if string(m.FindBodySection(full)) != x.sent[0] || !sameFlags(m.Flags, imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, "$Work") {
		t.Errorf("copied message: flags %v", m.Flags)
	}
	if err := c2.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	_, err = c.Copy(imap.SeqSetNum(1), "Nope").Wait()
	wantIMAPError(t, "COPY to a missing mailbox", err, imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate)

	trash := statusOf(t, c, "Trash")
	md, err := c.Move(imap.SeqSetNum(2), "Trash").Wait()
	if err != nil {
		t.Fatalf("MOVE: %v", err)
	}
	if md.UIDValidity != trash.UIDValidity || md.SourceUIDs.String() != "2" || md.DestUIDs.String() != fmt.Sprint(trash.UIDNext) {
		t.Errorf("MOVE COPYUID %d %v %v", md.UIDValidity, md.SourceUIDs, md.DestUIDs)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Errorf("after MOVE the client counts %d messages (EXPUNGE missing?)", n)
	}
	if st := statusOf(t, c, "Trash"); *st.NumMessages != 1 {
		t.Errorf("Trash has %d messages", *st.NumMessages)
	}
	_, err = c.Move(imap.SeqSetNum(1), "Nope").Wait()
	wantIMAPError(t, "MOVE to a missing mailbox", err, imap.StatusResponseTypeNo, imap.ResponseCodeTryCreate)
	// INBOX is now UIDs 1 and 3.
	if d, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait(); err != nil || !slices.Equal(d.AllUIDs(), []imap.UID{1, 3}) {
		t.Errorf("INBOX after MOVE: %v %v", d, err)
	}
}

// idle: a message delivered over LMTP reaches an IDLE-ing client within
// a second.
func (x *imapSuite) idle(t *testing.T) {
	c, exists := x.c2, x.exists
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let IDLE reach the server
	start := time.Now()
	deliver(t, x.s, x.rcpt, testMessage("idle wakeup", "delivered during IDLE"))
	acked := time.Since(start)
	select {
	case n := <-exists:
		if el := time.Since(start); n != 3 || el > time.Second {
			t.Errorf("IDLE: * %d EXISTS after %v (LMTP took %v)", n, el, acked)
		} else {
			t.Logf("IDLE: EXISTS %v after the LMTP transaction began (LMTP took %v)", el, acked)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("IDLE: no EXISTS within 3 s of the delivery")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatalf("IDLE: %v", err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Error(err)
	}
	if err := x.c.Noop().Wait(); err != nil || x.c.Mailbox().NumMessages != 3 {
		t.Errorf("NOOP after delivery: %d messages, %v", x.c.Mailbox().NumMessages, err)
	}
}

func (x *imapSuite) expunge(t *testing.T) {
	c := x.c
	// INBOX: UIDs 1, 3, 4 at seq 1, 2, 3.
	if _, err := c.Store(imap.UIDSetNum(3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	seqs, err := c.Expunge().Collect()
	if err != nil || !slices.Equal(seqs, []uint32{2}) {
		t.Errorf("EXPUNGE: %v %v", seqs, err)
	}
	// UID EXPUNGE removes only the given \Deleted messages.
	deliver(t, x.s, x.rcpt, testMessage("to be expunged", "five")) // UID 5
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.UIDSetNum(4, 5), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	seqs, err = c.UIDExpunge(imap.UIDSetNum(5)).Collect()
	if err != nil || !slices.Equal(seqs, []uint32{3}) {
		t.Errorf("UID EXPUNGE 5: %v %v", seqs, err)
	}
	if d, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait(); err != nil || !slices.Equal(d.AllUIDs(), []imap.UID{1, 4}) {
		t.Errorf("INBOX after UID EXPUNGE: %v %v", d, err)
	}
}

func (x *imapSuite) unselectClose(t *testing.T) {
	c := x.c
	// UID 4 is \Deleted. UNSELECT leaves it; CLOSE expunges it.
	if err := c.Unselect().Wait(); err != nil {
		t.Fatalf("UNSELECT: %v", err)
	}
	if st := statusOf(t, c, "INBOX"); *st.NumMessages != 2 || *st.NumDeleted != 1 {
		t.Errorf("after UNSELECT: %d messages, %d deleted", *st.NumMessages, *st.NumDeleted)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatalf("CLOSE: %v", err)
	}
	if st := statusOf(t, c, "INBOX"); *st.NumMessages != 1 || *st.NumDeleted != 0 || st.UIDNext != 6 {
		t.Errorf("after CLOSE: %d messages, %d deleted, UIDNEXT %d", *st.NumMessages, *st.NumDeleted, st.UIDNext)
	}
	_, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true}).Collect()
	wantIMAPError(t, "FETCH after CLOSE", err, imap.StatusResponseTypeBad, "")
}

// wire covers what imapclient cannot send or hides: LSUB, CHECK, LITERAL+
// and synchronizing literals, SEARCHRES, RFC822.* items and macros, and
// that UID comes first in FETCH responses.
func (x *imapSuite) wire(t *testing.T) {
	c := x.wireLogin(t)
	// LSUB.
	c.ok("CREATE Lists")
	c.ok("SUBSCRIBE Lists")
	if _, u := c.cmd(`LSUB "" "L*"`); len(u) != 1 || strings.ReplaceAll(u[0], `"`, "") != `* LSUB () / Lists` {
		t.Errorf("LSUB after SUBSCRIBE: %q", u)
	}
	c.ok("UNSUBSCRIBE Lists")
	if _, u := c.cmd(`LSUB "" "L*"`); len(u) != 0 {
		t.Errorf("LSUB after UNSUBSCRIBE: %q", u)
	}
	c.ok("DELETE Lists")
	// rev1 SELECT reports RECENT (the count may be 0).
	u := c.ok("SELECT INBOX")
	if !slices.ContainsFunc(u, func(l string) bool { return strings.HasSuffix(l, " RECENT") }) {
		t.Errorf("IMAP4rev1 SELECT without RECENT: %q", u)
	}
	c.ok("CHECK")
	// LITERAL+: no continuation request, the message follows at once.
	msg := testMessage("literal plus", "sent as a non-synchronizing literal")
	tag := c.nextTag()
	c.send(fmt.Sprintf("%s APPEND INBOX (\\Flagged) {%d+}\r\n%s\r\n", tag, len(msg), msg))
	tagged, untagged := c.until(tag)
	if !regexp.MustCompile(`^\S+ OK \[APPENDUID \d+ 6\]`).MatchString(tagged) || slices.ContainsFunc(untagged, func(l string) bool { return strings.HasPrefix(l, "+") }) {
		t.Errorf("APPEND {n+}: %q %q", untagged, tagged)
	}
	// A LITERAL+ literal over 4 KiB (LITERAL- would refuse it).
	big := testMessage("big literal plus", strings.Repeat("0123456789abcdef", 1024))
	tag = c.nextTag()
	c.send(fmt.Sprintf("%s APPEND INBOX {%d+}\r\n%s\r\n", tag, len(big), big))
	if tagged, _ := c.until(tag); !regexp.MustCompile(`^\S+ OK \[APPENDUID \d+ 7\]`).MatchString(tagged) {
		t.Errorf("APPEND {16k+}: %q", tagged)
	}
	// A synchronizing literal waits for "+".
	tag = c.nextTag()
	c.send(fmt.Sprintf("%s APPEND INBOX {%d}\r\n", tag, len(msg)))
	if l := c.readLine(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND {n}: %q instead of a continuation", l)
	}
	c.send(msg + "\r\n")
	if tagged, _ := c.until(tag); !regexp.MustCompile(`^\S+ OK \[APPENDUID \d+ 8\]`).MatchString(tagged) {
		t.Errorf("APPEND {n}: %q", tagged)
	}
	c.ok("NOOP")
	// UID first in FETCH replies, whatever the order asked for.
	for _, items := range []string{"(FLAGS UID)", "(RFC822.SIZE FLAGS)", "FAST", "ALL", "FULL"} {
		_, u := c.cmd("UID FETCH 6 %s", items)
		if len(u) != 1 || !strings.HasPrefix(u[0], "* 2 FETCH (UID 6 ") {
			t.Errorf("UID FETCH 6 %s: %q", items, u)
		}
	}
	for _, items := range []string{"FAST", "ALL", "FULL"} {
		_, u := c.cmd("FETCH 2 %s", items)
		want := []string{"FLAGS", "INTERNALDATE", "RFC822.SIZE"}
		if items != "FAST" {
			want = append(want, "ENVELOPE")
		}
		if items == "FULL" {
			want = append(want, "BODY (")
		}
		for _, w := range want {
			if len(u) != 1 || !strings.Contains(u[0], w) {
				t.Errorf("FETCH 2 %s: no %s in %q", items, w, u)
			}
		}
	}
	// RFC822, RFC822.HEADER, RFC822.TEXT.
	hdrEnd := strings.Index(msg, "\r\n\r\n") + 4
	for _, tc := range []struct{ item, want string }{
		{"RFC822.HEADER", msg[:hdrEnd]}, {"RFC822.TEXT", msg[hdrEnd:]}, {"RFC822", msg},
	} {
		_, u := c.cmd("UID FETCH 8 %s", tc.item)
		want := fmt.Sprintf("%s {%d}\r\n%s", tc.item, len(tc.want), tc.want)
		if len(u) != 1 || !strings.Contains(u[0], want) {
			t.Errorf("FETCH %s: %q", tc.item, u)
		}
	}
	// RFC822 (not .PEEK) sets \Seen.
	if _, u := c.cmd("UID FETCH 8 FLAGS"); len(u) != 1 || !strings.Contains(u[0], `\Seen`) {
		t.Errorf("after FETCH RFC822: %q", u)
	}
	// SEARCHRES (RFC 5182): save a result, then use it as "$".
	// RFC 5182's example answers SAVE alone with no ESEARCH at all;
	// imapserver adds ALL when no other option is given. Clients must
	// accept unsolicited responses, so only a wrong result counts.
	if _, u := c.cmd("UID SEARCH RETURN (SAVE) FLAGGED"); len(u) > 1 || len(u) == 1 && !strings.HasSuffix(u[0], " UID ALL 1,6") {
		t.Errorf("SEARCH RETURN (SAVE): %q", u)
	}
	// UIDs 1 (flagged by the store step) and 6 are \Flagged.
	if _, u := c.cmd("UID FETCH $ (UID)"); !slices.Equal(u, []string{"* 1 FETCH (UID 1)", "* 2 FETCH (UID 6)"}) {
		t.Errorf("UID FETCH $: %q", u)
	}
	if _, u := c.cmd("SEARCH UID $"); !slices.Equal(u, []string{"* SEARCH 1 2"}) {
		t.Errorf("SEARCH UID $: %q", u)
	}
	// SENTON, a date criterion imapclient cannot send; ESEARCH answer form.
	c.ok("UID STORE 8 +FLAGS.SILENT (\\Deleted)")
	c.ok("EXPUNGE")
	if _, u := c.cmd(`SEARCH RETURN () UNDELETED`); !slices.Equal(u, []string{`* ESEARCH (TAG "` + fmt.Sprintf("w%d", c.n) + `") ALL 1:3`}) {
		t.Errorf("SEARCH RETURN (): %q", u)
	}
	if _, u := c.cmd("SEARCH SENTON 15-Jan-2024"); !slices.Equal(u, []string{"* SEARCH 1"}) {
		t.Errorf("SEARCH SENTON: %q", u)
	}
	x.enableRev2(t, c)
}

// wireLogin opens a raw session in the suite's TLS mode and logs in.
func (x *imapSuite) wireLogin(t *testing.T) *wireIMAP {
	t.Helper()
	var c *wireIMAP
	if x.mode == modeStartTLS {
		c = dialWireIMAP(t, x.s.IMAP, nil)
		c.mustStartTLS(x.s.TLSConfig())
	} else {
		c = dialWireIMAP(t, x.s.IMAPS, x.s.TLSConfig())
	}
	c.ok("LOGIN %s %s", x.user, x.pass)
	return c
}

// enableRev2 (the end of the wire step): after ENABLE IMAP4rev2 the session speaks rev2: no RECENT,
// ESEARCH answers to SEARCH.
func (x *imapSuite) enableRev2(t *testing.T, c *wireIMAP) {
	c.ok("UNSELECT") // ENABLE is valid in the authenticated state only
	if _, u := c.cmd("ENABLE IMAP4rev2"); !slices.Equal(u, []string{"* ENABLED IMAP4rev2"}) {
		t.Errorf("ENABLE IMAP4rev2: %q", u)
	}
	u := c.ok("SELECT INBOX")
	if slices.ContainsFunc(u, func(l string) bool { return strings.HasSuffix(l, " RECENT") || strings.Contains(l, "[UNSEEN ") }) {
		t.Errorf("IMAP4rev2 SELECT sent rev1-only data: %q", u)
	}
	tag := c.nextTag()
	c.send(tag + " SEARCH ALL\r\n")
	if _, u := c.until(tag); !slices.Equal(u, []string{`* ESEARCH (TAG "` + tag + `") ALL 1:3`}) {
		t.Errorf("IMAP4rev2 SEARCH ALL: %q", u)
	}
	// rev2 LIST answers with UTF-8 names; a name with non-ASCII survives.
	c.ok(`CREATE "Ablage/Bücher"`)
	if _, u := c.cmd(`LIST "" "Ablage/*"`); len(u) != 1 || !strings.Contains(u[0], `"Ablage/Bücher"`) {
		t.Errorf("rev2 LIST: %q", u)
	}
	c.ok(`DELETE "Ablage/Bücher"`)
	c.cmd(`DELETE Ablage`)
	c.ok("LOGOUT")
}

// renameInbox: RENAME INBOX moves its messages into the new mailbox and
// leaves an empty INBOX that keeps receiving mail (RFC 9051 §6.3.6).
func (x *imapSuite) renameInbox(t *testing.T) {
	c := x.c
	before := statusOf(t, c, "INBOX")
	if err := c.Rename("INBOX", "Old Inbox", nil).Wait(); err != nil {
		t.Fatalf("RENAME INBOX: %v", err)
	}
	old, inbox := statusOf(t, c, "Old Inbox"), statusOf(t, c, "INBOX")
	if *old.NumMessages != *before.NumMessages || *inbox.NumMessages != 0 || *old.Size != *before.Size {
		t.Errorf("after RENAME INBOX: Old Inbox %d messages, INBOX %d (before %d)", *old.NumMessages, *inbox.NumMessages, *before.NumMessages)
	}
	deliver(t, x.s, x.rcpt, testMessage("after rename", "new INBOX mail"))
	if st := statusOf(t, c, "INBOX"); *st.NumMessages != 1 {
		t.Errorf("delivery after RENAME INBOX: INBOX has %d", *st.NumMessages)
	}
	if st := statusOf(t, c, "Old Inbox"); *st.NumMessages != *before.NumMessages {
		t.Errorf("delivery after RENAME INBOX went to Old Inbox (%d)", *st.NumMessages)
	}
}

func (x *imapSuite) logout(t *testing.T) {
	if err := x.c.Logout().Wait(); err != nil {
		t.Errorf("LOGOUT: %v", err)
	}
	select {
	case <-x.c.Closed():
	case <-time.After(5 * time.Second):
		t.Error("connection still open 5 s after LOGOUT")
	}
}
