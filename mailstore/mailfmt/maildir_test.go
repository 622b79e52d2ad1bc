package mailfmt

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSplitMaildirName(t *testing.T) {
	cases := []struct{ name, base, letters string }{
		{"1796114141.M330578P3174.vm,S=28,W=32:2,RSabc", "1796114141.M330578P3174.vm,S=28,W=32", "RSabc"},
		{"1796114141.M330578P3174.vm", "1796114141.M330578P3174.vm", ""},
		{"123.host:2,", "123.host", ""},
		{"123.host!2,FS", "123.host", "FS"},
		{"123.host;2,S", "123.host", "S"},
		{"123.host:2,S,extra", "123.host", "S"},
		{"123.host:1,experimental", "123.host:1,experimental", ""},
		{"a:2,b:2,T", "a:2,b", "T"},
	}
	for _, c := range cases {
		b, l := SplitMaildirName(c.name)
		if b != c.base || l != c.letters {
			t.Errorf("SplitMaildirName(%q) = %q, %q; want %q, %q", c.name, b, l, c.base, c.letters)
		}
	}
}

func TestMaildirFlags(t *testing.T) {
	kw := []string{"$Forwarded", "Junk", "", "$label1"}
	cases := []struct {
		letters string
		want    []string
	}{
		{"", nil},
		{"S", []string{FlagSeen}},
		{"DFPRST", []string{FlagDraft, FlagFlagged, FlagForwarded, FlagAnswered, FlagSeen, FlagDeleted}},
		{"Sabd", []string{FlagSeen, "$Forwarded", "Junk", "$label1"}},
		{"Pa", []string{FlagForwarded}}, // P and keyword a are the same flag
		{"cz", nil},                     // no such keywords
		{"Sx?", []string{FlagSeen}},
	}
	for _, c := range cases {
		if got := MaildirFlags(c.letters, kw); !slices.Equal(got, c.want) {
			t.Errorf("MaildirFlags(%q) = %q, want %q", c.letters, got, c.want)
		}
	}
	idx := func(k string) int { return slices.Index(kw, k) }
	l, dropped := MaildirLetters([]string{FlagSeen, FlagAnswered, "Junk", "Other", FlagDeleted, `\Recent`, "$Forwarded"}, idx)
	if l != "RSTab" || !slices.Equal(dropped, []string{"Other"}) {
		t.Errorf("MaildirLetters = %q %q", l, dropped)
	}
	if l, _ := MaildirLetters([]string{"$Forwarded", FlagSeen}, nil); l != "PS" {
		t.Errorf("without keywords $Forwarded is P: %q", l)
	}
}

func TestKeywordsFile(t *testing.T) {
	kw := ParseKeywordsFile("0 $Forwarded\n1 Junk\nbad line\n3 $label1\n30 toobig\nx y\n2 has space\n")
	want := []string{"$Forwarded", "Junk", "", "$label1"}
	if !slices.Equal(kw, want) {
		t.Fatalf("ParseKeywordsFile = %q", kw)
	}
	if got := ParseKeywordsFile(FormatKeywordsFile(kw)); !slices.Equal(got, want) {
		t.Errorf("round trip = %q", got)
	}
}

func TestParseUIDList(t *testing.T) {
	v3 := "3 V1796114141 N4 G8c7f\n1 :1796114141.M1P1.vm,S=28,W=32\n3 W40 S38 :1796114143.M3P1.vm,S=38\n2 :1796114142.M2P1.vm:2,S\nbad\n0 :zero\n"
	got := ParseUIDList(v3)
	want := map[string]uint32{"1796114141.M1P1.vm,S=28,W=32": 1, "1796114143.M3P1.vm,S=38": 3, "1796114142.M2P1.vm": 2}
	if len(got) != len(want) {
		t.Fatalf("ParseUIDList = %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: uid %d, want %d", k, got[k], v)
		}
	}
	if v1 := ParseUIDList("1 1234 5\n4 abc.host\n"); v1["abc.host"] != 4 {
		t.Errorf("v1: %v", v1)
	}
}

func TestMaildirPlusPlusNames(t *testing.T) {
	cases := []struct{ mailbox, dir string }{
		{"INBOX", ""},
		{"Sent", ".Sent"},
		{"Work/Projects", ".Work.Projects"},
		{"Entwürfe", ".Entw&APw-rfe"},
		{"v1.2/R&D", `.v1\2e2.R&-D`},
		{`back\slash`, `.back\5cslash`},
		{"日本語/台北", ".&ZeVnLIqe-.&U,BTFw-"},
	}
	for _, c := range cases {
		if got := MaildirPlusPlusDir(c.mailbox); got != c.dir {
			t.Errorf("MaildirPlusPlusDir(%q) = %q, want %q", c.mailbox, got, c.dir)
		}
		if c.dir != "" {
			if got := MaildirPlusPlusName(c.dir); got != c.mailbox {
				t.Errorf("MaildirPlusPlusName(%q) = %q, want %q", c.dir, got, c.mailbox)
			}
		}
	}
}

func writeFile(t *testing.T, path, data string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		os.Chtimes(path, mtime, mtime)
	}
}

// A maildir laid out as Dovecot writes it: new/ and cur/, uidlist order
// that differs from mtime order, keywords, Maildir++ and LAYOUT=fs folders.
func TestMaildirReader(t *testing.T) {
	root := t.TempDir()
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	writeFile(t, root+"/dovecot-keywords", "0 $Forwarded\n1 Junk\n", time.Time{})
	writeFile(t, root+"/dovecot-uidlist", "3 V1 N3\n1 :200.b\n2 :100.a\n", time.Time{})
	writeFile(t, root+"/cur/100.a:2,Sb", "Subject: second by uid\n\n", t0)
	writeFile(t, root+"/cur/200.b:2,RSa", "Subject: first by uid\n\n", t0.Add(time.Hour))
	writeFile(t, root+"/new/300.c", "Subject: new, not in uidlist\n\n", t0.Add(2*time.Hour))
	writeFile(t, root+"/tmp/400.d", "Subject: being delivered\n\n", time.Time{})
	writeFile(t, root+"/.Work.Projects/cur/1.x:2,F", "Subject: project\n\n", t0)
	writeFile(t, root+"/.Work.Projects/maildirfolder", "", time.Time{})
	os.MkdirAll(root+"/.Empty/cur", 0o700)
	writeFile(t, root+"/.Entw&APw-rfe/new/1.y", "Subject: draft\n\n", t0)
	writeFile(t, root+"/Archive/2024/cur/1.z:2,S", "Subject: fs layout\n\n", t0)
	writeFile(t, root+"/.notafolder", "x", time.Time{})

	r, err := NewMaildirReader(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var names []string
	for _, f := range r.Folders() {
		names = append(names, f.Name)
	}
	if want := []string{"INBOX", "Archive/2024", "Empty", "Entwürfe", "Work/Projects"}; !slices.Equal(names, want) {
		t.Fatalf("folders %q, want %q", names, want)
	}
	type got struct {
		mbox, subject string
		flags         []string
		date          time.Time
	}
	var all []got
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(m.Body)
		subj := strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "Subject: ")
		all = append(all, got{m.Mailbox, subj, m.Flags, m.Date})
	}
	want := []got{
		{"INBOX", "first by uid", []string{FlagAnswered, FlagSeen, "$Forwarded"}, t0.Add(time.Hour)},
		{"INBOX", "second by uid", []string{FlagSeen, "Junk"}, t0},
		{"INBOX", "new, not in uidlist", nil, t0.Add(2 * time.Hour)},
		{"Archive/2024", "fs layout", []string{FlagSeen}, t0},
		{"Entwürfe", "draft", nil, t0},
		{"Work/Projects", "project", []string{FlagFlagged}, t0},
	}
	if len(all) != len(want) {
		t.Fatalf("got %d messages: %+v", len(all), all)
	}
	for i := range want {
		w, g := want[i], all[i]
		if g.mbox != w.mbox || g.subject != w.subject || !slices.Equal(g.flags, w.flags) || !g.date.Equal(w.date) {
			t.Errorf("message %d: %+v, want %+v", i, g, w)
		}
	}
}

func TestMaildirWriteRead(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Maildir")
	w := NewMaildirWriter(root)
	t0 := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	in := []Message{
		{Mailbox: "INBOX", Flags: []string{FlagSeen, "$Forwarded", "Junk"}, Date: t0, Body: strings.NewReader("Subject: a\r\n\r\nline\r\n")},
		{Mailbox: "Work/Pro.jects", Flags: []string{FlagDraft, FlagDeleted, FlagFlagged, FlagAnswered}, Date: t0.Add(time.Minute), Body: strings.NewReader("Subject: b\r\n\r\nx\ry\r\n")},
		{Mailbox: "Entwürfe", Date: t0, Body: strings.NewReader("Subject: c\r\n\r\n")},
	}
	for i := range in {
		if _, dropped, err := w.Write(&in[i]); err != nil || dropped != nil {
			t.Fatal(err, dropped)
		}
	}
	if _, err := w.Folder("Empty"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, `.Work.Pro\2ejects`, "maildirfolder")); err != nil {
		t.Error("no maildirfolder marker:", err)
	}
	r, err := NewMaildirReader(root)
	if err != nil {
		t.Fatal(err)
	}
	var folders []string
	for _, f := range r.Folders() {
		folders = append(folders, f.Name)
	}
	if !slices.Equal(folders, []string{"INBOX", "Empty", "Entwürfe", "Work/Pro.jects"}) {
		t.Fatalf("folders %q", folders)
	}
	wantBody := map[string]string{"INBOX": "Subject: a\n\nline\n", "Work/Pro.jects": "Subject: b\n\nx\ry\n", "Entwürfe": "Subject: c\n\n"}
	n := 0
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		b, _ := io.ReadAll(m.Body)
		if string(b) != wantBody[m.Mailbox] {
			t.Errorf("%s: body %q", m.Mailbox, b)
		}
		var src *Message
		for i := range in {
			if in[i].Mailbox == m.Mailbox {
				src = &in[i]
			}
		}
		if !m.Date.Equal(src.Date) {
			t.Errorf("%s: date %v, want %v", m.Mailbox, m.Date, src.Date)
		}
		gotF, wantF := slices.Clone(m.Flags), slices.Clone(src.Flags)
		slices.Sort(gotF)
		slices.Sort(wantF)
		if !slices.Equal(gotF, wantF) {
			t.Errorf("%s: flags %q, want %q", m.Mailbox, gotF, wantF)
		}
	}
	if n != 3 {
		t.Fatalf("read %d messages", n)
	}
}

// More than 26 keywords in a folder: the rest are reported as dropped.
func TestMaildirKeywordLimit(t *testing.T) {
	w := NewMaildirWriter(t.TempDir())
	var flags []string
	for i := 0; i < 30; i++ {
		flags = append(flags, "kw"+string(rune('A'+i)))
	}
	_, dropped, err := w.Write(&Message{Mailbox: "INBOX", Flags: flags, Body: strings.NewReader("x\n")})
	if err != nil || len(dropped) != 4 {
		t.Fatalf("dropped %q, err %v", dropped, err)
	}
}

func TestLFReader(t *testing.T) {
	for in, want := range map[string]string{
		"a\r\nb\r\n": "a\nb\n", "a\rb": "a\rb", "\r": "\r", "\r\r\n": "\r\n", "": "", "x\r": "x\r",
	} {
		// One byte at a time, so CRLF pairs straddle reads.
		b, _ := io.ReadAll(NewLFReader(&oneByte{s: in}))
		if string(b) != want {
			t.Errorf("LF(%q) = %q, want %q", in, b, want)
		}
		b, _ = io.ReadAll(NewLFReader(strings.NewReader(in)))
		if string(b) != want {
			t.Errorf("LF(%q) = %q, want %q", in, b, want)
		}
	}
}

type oneByte struct{ s string }

func (o *oneByte) Read(p []byte) (int, error) {
	if o.s == "" {
		return 0, io.EOF
	}
	p[0] = o.s[0]
	o.s = o.s[1:]
	return 1, nil
}

func TestMboxTree(t *testing.T) {
	dir := t.TempDir()
	m := "From a Mon Jan 5 09:01:02 2026\nS: x\n\nb\n\n"
	writeFile(t, dir+"/inbox", m, time.Time{})
	writeFile(t, dir+"/Sent", m, time.Time{})
	writeFile(t, dir+"/Sent.msf", "index", time.Time{})
	writeFile(t, dir+"/Work.sbd/Projects", m, time.Time{})
	writeFile(t, dir+"/Work", "", time.Time{})
	writeFile(t, dir+"/Lists/go-nuts", m, time.Time{}) // Dovecot: plain directories
	writeFile(t, dir+"/Entw&APw-rfe", m, time.Time{})
	writeFile(t, dir+"/notes.txt", "just text", time.Time{})
	writeFile(t, dir+"/.imap/INBOX/dovecot.index", "x", time.Time{})
	files, skipped, err := MboxTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if want := []string{"INBOX", "Entwürfe", "Lists/go-nuts", "Sent", "Work", "Work/Projects"}; !slices.Equal(names, want) {
		t.Errorf("mailboxes %q, want %q", names, want)
	}
	if len(skipped) != 2 {
		t.Errorf("skipped %q", skipped)
	}
	if p := MboxTreePath("Work/Projects/2026"); p != filepath.Join("Work.sbd", "Projects.sbd", "2026") {
		t.Errorf("MboxTreePath = %q", p)
	}
}

func FuzzMaildirName(f *testing.F) {
	for _, s := range []string{"1.M2P3.host,S=4:2,DFRSTabz", "x:2,", "a!2,S", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		kw := []string{"a0", "a1", "a2"}
		_, letters := SplitMaildirName(name)
		flags := MaildirFlags(letters, kw)
		// Whatever was read can be written back and read again unchanged;
		// the index allocates letters for new keywords, as the writer does.
		back, dropped := MaildirLetters(flags, func(k string) int {
			if i := slices.Index(kw, k); i >= 0 {
				return i
			}
			kw = append(kw, k)
			return len(kw) - 1
		})
		if len(dropped) != 0 {
			t.Fatalf("dropped %q", dropped)
		}
		if again := MaildirFlags(back, kw); len(again) != len(flags) {
			t.Fatalf("%q -> %q -> %q -> %q", letters, flags, back, again)
		}
	})
}

func FuzzUIDList(f *testing.F) {
	f.Add("3 V1 N2\n1 :a.b,S=3\n2 W3 :c:2,S\n")
	f.Fuzz(func(t *testing.T, s string) {
		for base, uid := range ParseUIDList(s) {
			if uid == 0 || base == "" {
				t.Fatalf("entry %q=%d", base, uid)
			}
		}
	})
}

func FuzzKeywordsFile(f *testing.F) {
	f.Add("0 $Forwarded\n1 Junk\n")
	f.Fuzz(func(t *testing.T, s string) {
		kw := ParseKeywordsFile(s)
		if len(kw) > 26 {
			t.Fatalf("%d keywords", len(kw))
		}
		if again := ParseKeywordsFile(FormatKeywordsFile(kw)); !slices.Equal(again, kw) {
			t.Fatalf("%q -> %q", kw, again)
		}
	})
}
