package mailfmt

import (
	"sort"
	"strconv"
	"strings"
)

// Maildir info (cr.yp.to/proto/maildir.html): a file name ends in ":2,"
// and flag letters in ASCII order. Upper-case letters are the standard
// flags, lower-case ones are Dovecot keywords, indexes into the folder's
// dovecot-keywords file ('a' = 0).
var maildirLetters = []struct {
	letter byte
	flag   string
}{
	{'D', FlagDraft}, {'F', FlagFlagged}, {'P', FlagForwarded}, // "passed"
	{'R', FlagAnswered}, {'S', FlagSeen}, {'T', FlagDeleted}, // "trashed"
}

// infoSeparators are the characters that may start the info part: ':' is
// the standard; '!' and ';' are used where ':' is not allowed in file
// names (mbsync's InfoDelimiter, maildir on Windows shares).
const infoSeparators = ":!;"

// SplitMaildirName splits a maildir file name into its unique part and its
// flag letters. A name without an info part has no flags.
func SplitMaildirName(name string) (base, letters string) {
	for i := len(name) - 1; i >= 0; i-- {
		if strings.IndexByte(infoSeparators, name[i]) >= 0 && strings.HasPrefix(name[i+1:], "2,") {
			letters = name[i+3:]
			// Dovecot stops at a further ',' (extension fields after flags).
			if j := strings.IndexByte(letters, ','); j >= 0 {
				letters = letters[:j]
			}
			return name[:i], letters
		}
	}
	return name, ""
}

// MaildirFlags turns info letters into IMAP flags; kw maps lower-case
// letters to keyword names (nil: keywords are dropped). Unknown letters
// are ignored.
func MaildirFlags(letters string, kw []string) []string {
	var flags []string
	for i := 0; i < len(letters); i++ {
		c := letters[i]
		if c >= 'a' && c <= 'z' {
			if n := int(c - 'a'); n < len(kw) && kw[n] != "" {
				flags = addFlag(flags, kw[n])
			}
			continue
		}
		for _, ml := range maildirLetters {
			if ml.letter == c {
				flags = addFlag(flags, ml.flag)
			}
		}
	}
	return flags
}

// MaildirLetters turns IMAP flags into info letters in ASCII order. index
// returns a keyword's letter index (0-25) or -1 if it has none; keywords
// without a letter are returned in dropped.
func MaildirLetters(flags []string, index func(kw string) int) (letters string, dropped []string) {
	var up, low []byte
	for _, f := range flags {
		done := false
		for _, ml := range maildirLetters {
			// $Forwarded is a keyword for Dovecot, which ignores 'P': keep
			// it a keyword when keywords are written.
			if ml.flag == FlagForwarded && index != nil {
				continue
			}
			if strings.EqualFold(f, ml.flag) {
				up = append(up, ml.letter)
				done = true
			}
		}
		if done || f == "" || f[0] == '\\' {
			continue
		}
		n := -1
		if index != nil && validKeyword(f) {
			n = index(f)
		}
		if n < 0 || n > 25 {
			dropped = append(dropped, f)
			continue
		}
		low = append(low, 'a'+byte(n))
	}
	all := append(up, low...)
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return string(dedupSorted(all)), dropped
}

func dedupSorted(b []byte) []byte {
	out := b[:0]
	for i, c := range b {
		if i == 0 || c != b[i-1] {
			out = append(out, c)
		}
	}
	return out
}

// ParseKeywordsFile parses a Dovecot dovecot-keywords file: lines
// "<index> <name>". It returns names by index; bad lines are skipped, as
// Dovecot does.
func ParseKeywordsFile(data string) []string {
	var kw []string
	for _, line := range strings.Split(data, "\n") {
		num, name, ok := strings.Cut(strings.TrimRight(line, "\r"), " ")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > 25 || !validKeyword(name) {
			continue
		}
		for len(kw) <= n {
			kw = append(kw, "")
		}
		kw[n] = name
	}
	return kw
}

// FormatKeywordsFile writes keyword names (by index) as a dovecot-keywords file.
func FormatKeywordsFile(kw []string) string {
	var b strings.Builder
	for i, k := range kw {
		if k != "" {
			b.WriteString(strconv.Itoa(i) + " " + k + "\n")
		}
	}
	return b.String()
}

// mbox status headers, as written by Dovecot, mutt and others:
// Status: R (read) O (old, not recent); X-Status: A (answered) F (flagged)
// T (draft) D (deleted); X-Keywords: keywords separated by spaces or
// commas. Thunderbird keeps its own X-Mozilla-Status bit field and
// X-Mozilla-Keys.

// StatusFlags returns the flags an mbox message's status headers describe.
// name is the header field name (any case), value its unfolded value.
func StatusFlags(flags []string, name, value string) []string {
	switch strings.ToLower(name) {
	case "status":
		if strings.ContainsRune(value, 'R') {
			flags = addFlag(flags, FlagSeen)
		}
	case "x-status":
		for _, m := range []struct {
			c rune
			f string
		}{{'A', FlagAnswered}, {'F', FlagFlagged}, {'T', FlagDraft}, {'D', FlagDeleted}} {
			if strings.ContainsRune(value, m.c) {
				flags = addFlag(flags, m.f)
			}
		}
	case "x-keywords", "x-mozilla-keys":
		for _, k := range strings.FieldsFunc(value, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
			if validKeyword(k) {
				flags = addFlag(flags, k)
			}
		}
	case "x-mozilla-status":
		v, err := strconv.ParseUint(strings.TrimSpace(value), 16, 16)
		if err != nil {
			break
		}
		for _, m := range []struct {
			bit uint64
			f   string
		}{{0x1, FlagSeen}, {0x2, FlagAnswered}, {0x4, FlagFlagged}, {0x8, FlagDeleted}, {0x1000, FlagForwarded}} {
			if v&m.bit != 0 {
				flags = addFlag(flags, m.f)
			}
		}
	}
	return flags
}

// hiddenHeaders are mbox bookkeeping headers: they describe the message's
// state in one mbox file and are not part of the message. Dovecot hides
// the same set (plus Thunderbird's) from IMAP clients.
var hiddenHeaders = map[string]bool{
	"status": true, "x-status": true, "x-keywords": true, "x-uid": true,
	"x-imap": true, "x-imapbase": true, "content-length": true,
	"x-mozilla-status": true, "x-mozilla-status2": true, "x-mozilla-keys": true,
}

// StatusHeaders returns the mbox status header lines (LF-terminated) that
// describe flags.
func StatusHeaders(flags []string) string {
	var b strings.Builder
	b.WriteString("Status: ")
	if hasFlag(flags, FlagSeen) {
		b.WriteString("R")
	}
	b.WriteString("O\n")
	var x []byte
	for _, m := range []struct {
		c byte
		f string
	}{{'A', FlagAnswered}, {'F', FlagFlagged}, {'T', FlagDraft}, {'D', FlagDeleted}} {
		if hasFlag(flags, m.f) {
			x = append(x, m.c)
		}
	}
	if len(x) > 0 {
		b.WriteString("X-Status: " + string(x) + "\n")
	}
	if kws := keywords(flags); len(kws) > 0 {
		b.WriteString("X-Keywords: " + strings.Join(kws, " ") + "\n")
	}
	return b.String()
}
