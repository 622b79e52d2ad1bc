package mailfmt

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// PasswdEntry is one user of a Dovecot passwd-file
// (user:password:uid:gid:gecos:home:shell:extra_fields).
type PasswdEntry struct {
	Line   int
	User   string // as written, possibly user@domain
	Scheme string // upper-case {SCHEME} prefix without braces; "" if none
	Hash   string // the password field without the {SCHEME} prefix
	// Quota is the storage limit from a quota_rule / userdb_quota_rule
	// extra field ("*:storage=1G"), in bytes; 0 when none.
	Quota int64
}

// ParsePasswdLine parses one passwd-file line. Empty lines and comments
// give ok == false and no error.
func ParsePasswdLine(line string) (e PasswdEntry, ok bool, err error) {
	line = strings.TrimRight(line, "\r\n")
	t := strings.TrimSpace(line)
	if t == "" || strings.HasPrefix(t, "#") {
		return e, false, nil
	}
	fields := strings.Split(line, ":")
	if len(fields) < 2 {
		return e, false, fmt.Errorf("%w: no password field", ErrFormat)
	}
	e.User = strings.TrimSpace(fields[0])
	if e.User == "" {
		return e, false, fmt.Errorf("%w: empty user name", ErrFormat)
	}
	pw := fields[1]
	if rest, found := strings.CutPrefix(pw, "{"); found {
		name, h, closed := strings.Cut(rest, "}")
		if !closed {
			return e, false, fmt.Errorf("%w: unterminated {scheme}", ErrFormat)
		}
		e.Scheme, pw = strings.ToUpper(name), h
	}
	e.Hash = pw
	if len(fields) >= 8 {
		// Extra fields are space-separated key=value pairs; the field may
		// itself contain ':' (quota rules do), so rejoin the tail.
		extra := strings.Join(fields[7:], ":")
		for _, kv := range strings.Fields(extra) {
			k, v, _ := strings.Cut(kv, "=")
			switch strings.ToLower(k) {
			case "quota_rule", "userdb_quota_rule":
				q, qerr := parseQuotaRule(v)
				if qerr != nil {
					return e, false, qerr
				}
				if q > 0 {
					e.Quota = q
				}
			}
		}
	}
	return e, true, nil
}

// parseQuotaRule reads Dovecot's "*:storage=1G" (also the old "bytes=").
// Rules for other mailboxes and percentages are ignored.
func parseQuotaRule(v string) (int64, error) {
	box, rule, ok := strings.Cut(v, ":")
	if !ok || box != "*" {
		return 0, nil
	}
	for _, part := range strings.Split(rule, ":") {
		k, val, _ := strings.Cut(part, "=")
		if k != "storage" && k != "bytes" {
			continue
		}
		if strings.HasSuffix(val, "%") || strings.HasPrefix(val, "+") || strings.HasPrefix(val, "-") {
			return 0, nil
		}
		n, err := parseDovecotSize(val)
		if err != nil {
			return 0, fmt.Errorf("%w: quota rule %q: %v", ErrFormat, v, err)
		}
		return n, nil
	}
	return 0, nil
}

// parseDovecotSize reads "1024", "100k", "10M", "1G", "1T" (binary units,
// as Dovecot), with an optional trailing "B".
func parseDovecotSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(s), "B"), "b")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mult = 1 << 10
		case 'm', 'M':
			mult = 1 << 20
		case 'g', 'G':
			mult = 1 << 30
		case 't', 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// ReadPasswdFile calls fn for each entry of a passwd-file, and bad for each
// line that cannot be parsed (with its line number). Lines are capped at
// 64 KiB.
func ReadPasswdFile(r io.Reader, fn func(PasswdEntry) error, bad func(line int, err error)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		e, ok, err := ParsePasswdLine(sc.Text())
		if err != nil {
			bad(n, err)
			continue
		}
		if !ok {
			continue
		}
		e.Line = n
		if err := fn(e); err != nil {
			return err
		}
	}
	return sc.Err()
}
