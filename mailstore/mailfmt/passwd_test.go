package mailfmt

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePasswdLine(t *testing.T) {
	cases := []struct {
		line string
		want PasswdEntry
		ok   bool
		err  bool
	}{
		{line: "", ok: false},
		{line: "  # comment", ok: false},
		{line: "ann:{SHA512-CRYPT}$6$salt$hash:5000:5000::/home/ann::", ok: true,
			want: PasswdEntry{User: "ann", Scheme: "SHA512-CRYPT", Hash: "$6$salt$hash"}},
		{line: "bob@example.com:{blf-crypt}$2y$05$abc", ok: true,
			want: PasswdEntry{User: "bob@example.com", Scheme: "BLF-CRYPT", Hash: "$2y$05$abc"}},
		{line: "carol:$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA", ok: true,
			want: PasswdEntry{User: "carol", Hash: "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA"}},
		{line: "dave:{PLAIN}secret:::::: userdb_quota_rule=*:storage=1G", ok: true,
			want: PasswdEntry{User: "dave", Scheme: "PLAIN", Hash: "secret", Quota: 1 << 30}},
		{line: "erin:{PLAIN}x:1:1:Erin:/home/erin:/bin/false:quota_rule=*:storage=512M userdb_mail=maildir:~/Maildir", ok: true,
			want: PasswdEntry{User: "erin", Scheme: "PLAIN", Hash: "x", Quota: 512 << 20}},
		{line: "frank:{PLAIN}x:::::: quota_rule=*:storage=10%", ok: true,
			want: PasswdEntry{User: "frank", Scheme: "PLAIN", Hash: "x"}},
		{line: "gina:{PLAIN}x:::::: quota_rule=Trash:storage=+100M quota_rule2=*:storage=2G", ok: true,
			want: PasswdEntry{User: "gina", Scheme: "PLAIN", Hash: "x"}},
		{line: "nopassword", err: true},
		{line: ":{PLAIN}x", err: true},
		{line: "x:{SHA512-CRYPT$6$", err: true},
		{line: "y:{PLAIN}x:::::: quota_rule=*:storage=lots", err: true},
	}
	for _, c := range cases {
		got, ok, err := ParsePasswdLine(c.line)
		if c.err {
			if !errors.Is(err, ErrFormat) {
				t.Errorf("%q: err %v, want ErrFormat", c.line, err)
			}
			continue
		}
		if err != nil || ok != c.ok || got != c.want {
			t.Errorf("%q: %+v %v %v, want %+v %v", c.line, got, ok, err, c.want, c.ok)
		}
	}
}

func TestReadPasswdFile(t *testing.T) {
	in := "# users\nann:{PLAIN}a\n\nbroken\nbob:{PLAIN}b\n"
	var users []string
	var bad []int
	err := ReadPasswdFile(strings.NewReader(in), func(e PasswdEntry) error {
		users = append(users, e.User)
		return nil
	}, func(line int, err error) { bad = append(bad, line) })
	if err != nil || strings.Join(users, ",") != "ann,bob" || len(bad) != 1 || bad[0] != 4 {
		t.Fatalf("users %q bad %v err %v", users, bad, err)
	}
}

func FuzzPasswdLine(f *testing.F) {
	for _, s := range []string{"ann:{SHA512-CRYPT}$6$a$b:1:1::/h::quota_rule=*:storage=1G", "a:b", "::::::::", "{:}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		e, ok, err := ParsePasswdLine(line)
		if err == nil && ok && (e.User == "" || e.Quota < 0 || strings.Contains(e.User, ":")) {
			t.Fatalf("bad entry %+v from %q", e, line)
		}
	})
}
