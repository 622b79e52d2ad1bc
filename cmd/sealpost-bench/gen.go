// gen.go: the message generator. Both servers receive byte-identical mail,
// so every message is a pure function of (seed, index): fills may run over
// several connections in any order and still give the same mailbox.

package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// needleWord appears in the text of about 1% of generated messages and
// nowhere else; SEARCH BODY looks for it.
const needleWord = "kumquat"

var (
	firstNames = []string{"Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi",
		"Ivan", "Judy", "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent",
		"Victor", "Walter", "Zoë", "José", "Åsa", "Jürgen", "Chloé"}
	lastNames = []string{"Anderson", "Baker", "Chen", "Dubois", "Evans", "Fischer", "García",
		"Haddad", "Ivanova", "Jensen", "Kowalski", "López", "Müller", "Nakamura", "O'Brien",
		"Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka"}
	mailDomains = []string{"example.org", "example.com", "example.net", "mail.example.org",
		"lists.example.com", "corp.example.net"}
	subjectWords = []string{"quarterly", "report", "meeting", "agenda", "invoice", "draft",
		"release", "notes", "budget", "review", "schedule", "update", "proposal", "contract",
		"migration", "server", "outage", "follow-up", "question", "holiday", "plan", "photos",
		"minutes", "roadmap", "feedback", "security", "patch", "ticket", "design", "launch"}
	bodyWords = []string{"the", "a", "we", "should", "please", "find", "attached", "about",
		"meeting", "tomorrow", "project", "deadline", "thanks", "regards", "server", "mailbox",
		"delivery", "customer", "numbers", "look", "into", "issue", "before", "Friday",
		"update", "and", "or", "with", "for", "this", "that", "will", "have", "been", "team",
		"review", "changes", "budget", "next", "week", "could", "you", "check", "again",
		"résumé", "naïve", "café", "Grüße", "déjà"}
	attachTypes = []struct{ ctype, ext string }{
		{"application/pdf", "pdf"}, {"image/png", "png"}, {"image/jpeg", "jpg"},
		{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"},
		{"application/zip", "zip"},
	}
)

// generator makes deterministic, realistic MIME messages with CRLF line
// ends: plain text, text+HTML alternatives, replies in threads, encoded
// names and subjects, base64 attachments. It has no state, so one value
// can be used from many goroutines.
type generator struct {
	seed  uint64
	start time.Time
}

func newGenerator(seed uint64) generator {
	return generator{seed: seed, start: time.Date(2025, 1, 6, 8, 0, 0, 0, time.UTC)}
}

// Salts keep the random streams of one message independent, so the subject
// of message j can be recomputed for a reply without generating j.
const (
	saltBody = iota + 1
	saltSubject
	saltID
	saltSize
)

func (g generator) rng(i int, salt uint64) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed*0x9e3779b97f4a7c15+salt, uint64(i)))
}

func pick(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }

// messageID is the Message-ID of message i.
func (g generator) messageID(i int) string {
	r := g.rng(i, saltID)
	return fmt.Sprintf("<%d.%016x@%s>", g.date(i).Unix(), r.Uint64(), pick(r, mailDomains))
}

func (g generator) date(i int) time.Time {
	return g.start.Add(time.Duration(i)*37*time.Minute + time.Duration(i%1800)*time.Second)
}

// subject is the original (non-reply) subject of message i.
func (g generator) subject(i int) string {
	r := g.rng(i, saltSubject)
	first := pick(r, subjectWords)
	s := fmt.Sprintf("%s %s %s", strings.ToUpper(first[:1])+first[1:], pick(r, subjectWords), pick(r, subjectWords))
	if r.IntN(8) == 0 {
		s = "=?UTF-8?Q?" + strings.ReplaceAll(s, " ", "_") + "_=E2=80=94_r=C3=A9sum=C3=A9?="
	}
	return s
}

// mixedSize draws the size of message i: 60% 2-10 KB, 25% 10-50 KB,
// 15% 50-200 KB, log-uniform inside each band (a mean of about 25 KB,
// close to a real office mailbox).
func (g generator) mixedSize(i int) int {
	r := g.rng(i, saltSize)
	band := r.Float64()
	lo, hi := 2048.0, 10240.0
	switch {
	case band >= 0.85:
		lo, hi = 51200, 204800
	case band >= 0.60:
		lo, hi = 10240, 51200
	}
	return int(math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo))))
}

func person(r *rand.Rand) (name, addr string) {
	f, l := pick(r, firstNames), pick(r, lastNames)
	local := strings.ToLower(strings.NewReplacer("'", "", " ", "").Replace(f + "." + l))
	return f + " " + l, asciiOnly(local) + "@" + pick(r, mailDomains)
}

func asciiOnly(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c < 128 {
			b.WriteRune(c)
		} else {
			b.WriteByte('x')
		}
	}
	return b.String()
}

// encodeName quotes or RFC 2047-encodes a display name.
func encodeName(name string) string {
	if asciiOnly(name) != name {
		return "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(name)) + "?="
	}
	if strings.ContainsAny(name, "'.,") {
		return `"` + name + `"`
	}
	return name
}

// paragraphs returns about size bytes of text wrapped at 72 columns
// (at most one sentence more).
func paragraphs(r *rand.Rand, size int, needle bool) string {
	var b strings.Builder
	line := 0
	for b.Len() < size {
		n := 6 + r.IntN(14)
		for k := range n {
			w := pick(r, bodyWords)
			if needle {
				w, needle = needleWord, false
			}
			if k == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			if k == n-1 {
				w += "."
			}
			if line > 0 && line+1+len(w) > 72 {
				b.WriteString("\r\n")
				line = 0
			} else if line > 0 {
				b.WriteByte(' ')
				line++
			}
			b.WriteString(w)
			line += len(w)
		}
		if r.IntN(5) == 0 { // end of paragraph
			b.WriteString("\r\n\r\n")
			line = 0
		}
	}
	if line > 0 {
		b.WriteString("\r\n")
	}
	return b.String()
}

func htmlOf(text string) string {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"></head><body>\r\n")
	for _, p := range strings.Split(strings.TrimSpace(text), "\r\n\r\n") {
		b.WriteString("<p style=\"font-family: Arial, sans-serif; font-size: 14px\">")
		b.WriteString(strings.ReplaceAll(p, "\r\n", "<br>\r\n"))
		b.WriteString("</p>\r\n")
	}
	b.WriteString("</body></html>\r\n")
	return b.String()
}

// base64Lines writes n random bytes base64-encoded in 76-column lines.
func base64Lines(b *bytes.Buffer, r *rand.Rand, n int) {
	raw := make([]byte, 57) // 57 raw bytes are one 76-column line
	enc := make([]byte, 76)
	for n > 0 {
		k := min(n, len(raw))
		for j := 0; j < k; j += 8 {
			v := r.Uint64()
			for m := j; m < min(j+8, k); m++ {
				raw[m] = byte(v)
				v >>= 8
			}
		}
		base64.StdEncoding.Encode(enc, raw[:k])
		b.Write(enc[:base64.StdEncoding.EncodedLen(k)])
		b.WriteString("\r\n")
		n -= k
	}
}

// header writes the common header of message i; extra lines ("Name:
// value") come first, as a delivering MTA would prepend them.
func (g generator) header(b *bytes.Buffer, r *rand.Rand, i int, extra []string) {
	for _, e := range extra {
		b.WriteString(e)
		b.WriteString("\r\n")
	}
	fromName, fromAddr := person(r)
	toName, toAddr := person(r)
	date := g.date(i)
	fmt.Fprintf(b, "Return-Path: <%s>\r\n", fromAddr)
	fmt.Fprintf(b, "Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\r\n\tby mail.example.org (Postfix) with ESMTPS id %X\r\n\tfor <%s>; %s\r\n",
		r.IntN(4)+1, pick(r, mailDomains), r.IntN(4)+1, pick(r, mailDomains), r.IntN(250)+1,
		r.Uint32(), toAddr, date.Add(3*time.Second).Format(time.RFC1123Z))
	fmt.Fprintf(b, "From: %s <%s>\r\n", encodeName(fromName), fromAddr)
	fmt.Fprintf(b, "To: %s <%s>\r\n", encodeName(toName), toAddr)
	if r.IntN(3) == 0 {
		ccName, ccAddr := person(r)
		fmt.Fprintf(b, "Cc: %s <%s>\r\n", encodeName(ccName), ccAddr)
	}
	subject := g.subject(i)
	if i > 0 && r.IntN(10) < 3 { // a reply in an earlier thread
		j := r.IntN(i)
		subject = "Re: " + g.subject(j)
		fmt.Fprintf(b, "In-Reply-To: %s\r\nReferences: %s\r\n", g.messageID(j), g.messageID(j))
	}
	fmt.Fprintf(b, "Subject: %s\r\n", subject)
	fmt.Fprintf(b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(b, "Message-ID: %s\r\n", g.messageID(i))
	b.WriteString("MIME-Version: 1.0\r\n")
	if r.IntN(4) == 0 {
		b.WriteString("List-Id: Project discussion <project.lists.example.com>\r\n")
	}
}

// message returns message i of about size bytes (at least about 1 KB).
// Large ones are mostly multipart/mixed with a base64 attachment; the
// rest are text+HTML alternatives or plain text.
func (g generator) message(i, size int, extra ...string) []byte {
	r := g.rng(i, saltBody)
	var b bytes.Buffer
	b.Grow(size + 1024)
	g.header(&b, r, i, extra)
	needle := r.IntN(100) == 0
	budget := max(size-b.Len()-200, 200)
	bnd := fmt.Sprintf("=_boundary_%016x", r.Uint64())
	kind := r.IntN(10)
	switch {
	case size > 12*1024 && kind < 8:
		g.withAttachment(&b, r, i, budget, bnd, needle)
	case kind%2 == 0:
		text := paragraphs(r, max(budget*9/20, 200), needle) // HTML is about 1.2x the text
		fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n", bnd)
		fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", bnd, text)
		fmt.Fprintf(&b, "--%s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", bnd, htmlOf(text))
		fmt.Fprintf(&b, "--%s--\r\n", bnd)
	default:
		b.WriteString("Content-Type: text/plain; charset=utf-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		b.WriteString(paragraphs(r, budget, needle))
	}
	return b.Bytes()
}

// bigMessage returns message i as a multipart/mixed of about size bytes,
// nearly all of it one base64 attachment (a 50 MB scan or archive).
func (g generator) bigMessage(i, size int, extra ...string) []byte {
	r := g.rng(i, saltBody)
	var b bytes.Buffer
	b.Grow(size + 4096)
	g.header(&b, r, i, extra)
	g.withAttachment(&b, r, i, max(size-b.Len()-200, 1024), fmt.Sprintf("=_boundary_%016x", r.Uint64()), false)
	return b.Bytes()
}

func (g generator) withAttachment(b *bytes.Buffer, r *rand.Rand, i, budget int, bnd string, needle bool) {
	text := paragraphs(r, min(max(budget/10, 300), 6000), needle)
	at := attachTypes[r.IntN(len(attachTypes))]
	// base64 is 4/3 of the raw size, plus CRLF per 76 columns.
	rawLen := max((budget-len(text)-400)*3/4*76/78, 100)
	name := fmt.Sprintf("%s-%d.%s", pick(r, subjectWords), i, at.ext)
	fmt.Fprintf(b, "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n", bnd)
	b.WriteString("This is a multi-part message in MIME format.\r\n\r\n")
	fmt.Fprintf(b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", bnd, text)
	fmt.Fprintf(b, "--%s\r\nContent-Type: %s; name=\"%s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"%s\"\r\n\r\n",
		bnd, at.ctype, name, name)
	base64Lines(b, r, rawLen)
	fmt.Fprintf(b, "--%s--\r\n", bnd)
}

// plain returns a text/plain message of exactly size bytes (at least 1 KB),
// like the fixed-size messages of an LMTP throughput test.
func (g generator) plain(i, size int, extra ...string) []byte {
	r := g.rng(i, saltBody)
	var b bytes.Buffer
	b.Grow(size)
	g.header(&b, r, i, extra)
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	body := paragraphs(r, max(size-b.Len(), 0), false)
	b.WriteString(body)
	out := b.Bytes()
	if len(out) > size-2 {
		out = out[:size-2]
	}
	out = bytes.TrimRight(out, "\r") // never cut a CRLF in half
	for len(out) < size-2 {
		out = append(out, '.')
	}
	return append(out, '\r', '\n')
}
