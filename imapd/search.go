package imapd

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"sealpost/mailstore"
	"sealpost/mailstore/msgmeta"
)

// Search answers SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH
// (RFC 4731) and SEARCHRES (RFC 5182). Criteria are evaluated per message
// over the record (flags, dates, size, numbers), the stored envelope, and
// only when asked the header and the decoded text parts, streamed with
// bounded memory.
func (s *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, opts *imap.SearchOptions) (*imap.SearchData, error) {
	defer s.enter("SEARCH")()
	v := s.selected()
	if v == nil {
		return nil, errNoSelection
	}
	refs := v.all()
	var matched []msgRef
	if len(refs) > 0 {
		var err error
		if matched, err = s.search(v, refs, criteria); err != nil {
			return nil, err
		}
	}
	if opts.ReturnSave {
		v.saveSearch(savedResult(matched, opts))
	}
	return searchData(kind, matched), nil
}

// search evaluates the criteria over the view's messages refs (not empty).
func (s *session) search(v *mailboxView, refs []msgRef, criteria *imap.SearchCriteria) ([]msgRef, error) {
	id, err := v.target()
	if err != nil {
		return nil, s.viewErr(err)
	}
	maxUID := refs[len(refs)-1].uid
	ev := &evaluator{s: s}
	c := ev.static(criteria, uint32(len(refs)), maxUID, v.savedSearch())
	ev.collect(c)
	want := mailstore.FetchWant{RawEnvelope: ev.needEnvelope, Structure: ev.needText}
	var matched []msgRef
	i := 0
	err = s.acct.Fetch(s.ctx, id, nil, want, func(m *mailstore.MessageMeta) error {
		for i < len(refs) && refs[i].uid < m.UID {
			i++
		}
		if i == len(refs) || refs[i].uid != m.UID {
			return nil // arrived after the view: not the client's yet
		}
		mc := &ev.mc
		*mc = msgCtx{ev: ev, m: m, seq: refs[i].seq}
		defer mc.close()
		ok, err := ev.match(c, mc)
		if errors.Is(err, mailstore.ErrGone) {
			return nil // expunged meanwhile: it matches nothing
		}
		if ok {
			matched = append(matched, refs[i])
		}
		return err
	})
	if err != nil {
		return nil, s.fail("search", err, operand, "mailbox", v.name)
	}
	return matched, nil
}

// savedResult is what SAVE keeps (RFC 5182 §2.4): with MIN and/or MAX
// but not ALL or COUNT, only those; otherwise every match.
func savedResult(matched []msgRef, opts *imap.SearchOptions) []mailstore.UID {
	if len(matched) > 0 && (opts.ReturnMin || opts.ReturnMax) && !opts.ReturnAll && !opts.ReturnCount {
		var out []mailstore.UID
		if opts.ReturnMin {
			out = append(out, matched[0].uid)
		}
		if opts.ReturnMax && (len(out) == 0 || matched[len(matched)-1].uid != out[0]) {
			out = append(out, matched[len(matched)-1].uid)
		}
		return out
	}
	return uidsOf(matched)
}

// searchData builds the result as ranges; matched is ascending. All is
// always a typed set, even when empty, as imapserver's writer needs.
func searchData(kind imapserver.NumKind, matched []msgRef) *imap.SearchData {
	data := &imap.SearchData{Count: uint32(len(matched))}
	num := func(r msgRef) uint32 {
		if kind == imapserver.NumKindUID {
			return uint32(r.uid)
		}
		return r.seq
	}
	if len(matched) > 0 {
		data.Min, data.Max = num(matched[0]), num(matched[len(matched)-1])
	}
	var ranges [][2]uint32
	for _, r := range matched {
		n := num(r)
		if k := len(ranges); k > 0 && ranges[k-1][1]+1 == n {
			ranges[k-1][1] = n
		} else {
			ranges = append(ranges, [2]uint32{n, n})
		}
	}
	if kind == imapserver.NumKindUID {
		set := imap.UIDSet{}
		for _, r := range ranges {
			set = append(set, imap.UIDRange{Start: imap.UID(r[0]), Stop: imap.UID(r[1])})
		}
		data.All = set
	} else {
		set := imap.SeqSet{}
		for _, r := range ranges {
			set = append(set, imap.SeqRange{Start: r[0], Stop: r[1]})
		}
		data.All = set
	}
	return data
}

// evaluator holds what a SEARCH needs beyond the record: the text needles
// (lower-cased), so one pass over a message's text answers them all.
type evaluator struct {
	s            *session
	needEnvelope bool
	mc           msgCtx               // the message under evaluation
	env          msgmeta.EnvelopeView // its envelope, read in place
	buf          []byte               // scratch for envelope fields
	needText     bool                 // structure, header or body
	bodyNeedles  []string
	textNeedles  []string
}

// static copies the criteria with "*" and "$" resolved against the view.
func (ev *evaluator) static(c *imap.SearchCriteria, n uint32, maxUID mailstore.UID, saved []mailstore.UID) *imap.SearchCriteria {
	out := *c
	out.SeqNum = nil
	for _, set := range c.SeqNum {
		st := imap.SeqSet{}
		for _, r := range set {
			lo, hi := r.Start, r.Stop
			if lo == 0 {
				lo = n
			}
			if hi == 0 {
				hi = n
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			st = append(st, imap.SeqRange{Start: lo, Stop: hi})
		}
		out.SeqNum = append(out.SeqNum, st)
	}
	out.UID = nil
	for _, set := range c.UID {
		st := imap.UIDSet{}
		if imap.IsSearchRes(set) {
			for _, uid := range saved {
				st = append(st, imap.UIDRange{Start: imap.UID(uid), Stop: imap.UID(uid)})
			}
		} else {
			for _, r := range set {
				lo, hi := r.Start, r.Stop
				if lo == 0 {
					lo = imap.UID(maxUID)
				}
				if hi == 0 {
					hi = imap.UID(maxUID)
				}
				if lo > hi {
					lo, hi = hi, lo
				}
				st = append(st, imap.UIDRange{Start: lo, Stop: hi})
			}
		}
		out.UID = append(out.UID, st)
	}
	out.Not = make([]imap.SearchCriteria, len(c.Not))
	for i := range c.Not {
		out.Not[i] = *ev.static(&c.Not[i], n, maxUID, saved)
	}
	out.Or = make([][2]imap.SearchCriteria, len(c.Or))
	for i := range c.Or {
		out.Or[i][0] = *ev.static(&c.Or[i][0], n, maxUID, saved)
		out.Or[i][1] = *ev.static(&c.Or[i][1], n, maxUID, saved)
	}
	return &out
}

// collect finds what the criteria need to read.
func (ev *evaluator) collect(c *imap.SearchCriteria) {
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		ev.needEnvelope = true
	}
	for _, h := range c.Header {
		if h.Value != "" && envelopeField(h.Key) {
			ev.needEnvelope = true
		} else {
			ev.needText = true // raw header: its extent comes with the structure
		}
	}
	for _, b := range c.Body {
		ev.needText = true
		ev.bodyNeedles = appendNeedle(ev.bodyNeedles, b)
	}
	for _, t := range c.Text {
		ev.needText = true
		ev.textNeedles = appendNeedle(ev.textNeedles, t)
	}
	for i := range c.Not {
		ev.collect(&c.Not[i])
	}
	for i := range c.Or {
		ev.collect(&c.Or[i][0])
		ev.collect(&c.Or[i][1])
	}
}

func appendNeedle(l []string, s string) []string {
	s = strings.ToLower(s)
	if !slices.Contains(l, s) {
		l = append(l, s)
	}
	return l
}

// match evaluates the criteria for one message: cheap tests first, then
// the envelope, then anything that reads the message file.
func (ev *evaluator) match(c *imap.SearchCriteria, mc *msgCtx) (bool, error) {
	m := mc.m
	for i := range c.SeqNum {
		if !c.SeqNum[i].Contains(mc.seq) {
			return false, nil
		}
	}
	for _, set := range c.UID {
		if !set.Contains(imap.UID(m.UID)) {
			return false, nil
		}
	}
	for _, f := range c.Flag {
		if f == flagRecent || !m.HasFlag(string(f)) {
			return false, nil // \Recent is never set: sessions do not track it
		}
	}
	for _, f := range c.NotFlag {
		if f != flagRecent && m.HasFlag(string(f)) {
			return false, nil
		}
	}
	if c.Larger > 0 && m.Size <= c.Larger {
		return false, nil
	}
	if c.Smaller > 0 && m.Size >= c.Smaller {
		return false, nil
	}
	// Dates compare by day, ignoring time and zone (RFC 9051 §6.4.4): the
	// day is the one in the date's own zone, the one the client sees in
	// INTERNALDATE or the Date header.
	if !c.Since.IsZero() || !c.Before.IsZero() {
		if !dayIn(day(m.InternalDate), c.Since, c.Before) {
			return false, nil
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		sent := day(m.InternalDate) // no usable Date: use the arrival
		if env := mc.envelope(); env != nil && env.HasDate {
			// The calendar day in the date's own zone.
			sent = day(time.Unix(env.DateUnix+int64(env.DateZone), 0).UTC())
		}
		if !dayIn(sent, c.SentSince, c.SentBefore) {
			return false, nil
		}
	}
	for _, h := range c.Header {
		ok, err := mc.headerHas(h.Key, h.Value)
		if !ok || err != nil {
			return false, err
		}
	}
	for _, b := range c.Body {
		ok, err := mc.bodyHas(strings.ToLower(b))
		if !ok || err != nil {
			return false, err
		}
	}
	for _, t := range c.Text {
		ok, err := mc.textHas(strings.ToLower(t))
		if !ok || err != nil {
			return false, err
		}
	}
	for i := range c.Not {
		ok, err := ev.match(&c.Not[i], mc)
		if ok || err != nil {
			return false, err
		}
	}
	for i := range c.Or {
		ok, err := ev.match(&c.Or[i][0], mc)
		if err != nil {
			return false, err
		}
		if !ok {
			if ok, err = ev.match(&c.Or[i][1], mc); !ok || err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// day is t's calendar date in its own zone, as midnight UTC.
func day(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// dayIn reports whether d is on or after since and before before (zero
// bounds are open).
func dayIn(d, since, before time.Time) bool {
	if !since.IsZero() && d.Before(day(since)) {
		return false
	}
	if !before.IsZero() && !d.Before(day(before)) {
		return false
	}
	return true
}

// envelopeField: header fields SEARCH answers from the stored, decoded
// envelope instead of reading the message.
func envelopeField(key string) bool {
	switch strings.ToLower(key) {
	case "from", "to", "cc", "bcc", "sender", "reply-to", "subject", "message-id", "in-reply-to":
		return true
	}
	return false
}

// flagRecent is the IMAP4rev1 \Recent flag (go-imap keeps it internal).
const flagRecent imap.Flag = `\Recent`
