package mailfmt

import (
	"testing"
	"unicode/utf8"
)

func TestUTF7(t *testing.T) {
	// RFC 3501 §5.1.3 and Dovecot's on-disk names.
	for dec, enc := range map[string]string{
		"Entwürfe": "Entw&APw-rfe", "&": "&-", "R&D": "R&-D", "日本語": "&ZeVnLIqe-",
		"~peter/mail/台北/日本語": "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "plain": "plain",
		"😀": "&2D3eAA-", "": "",
	} {
		if got := EncodeUTF7(dec); got != enc {
			t.Errorf("EncodeUTF7(%q) = %q, want %q", dec, got, enc)
		}
		if got, ok := DecodeUTF7(enc); !ok || got != dec {
			t.Errorf("DecodeUTF7(%q) = %q, %v; want %q", enc, got, ok, dec)
		}
	}
	for _, bad := range []string{"&Jjo!", "&", "&AGE-", "&2D0-", "&ZeV-", "caf\xc3\xa9", "a\x01"} {
		if got, ok := DecodeUTF7(bad); ok {
			t.Errorf("DecodeUTF7(%q) = %q, ok; want failure", bad, got)
		}
	}
}

func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"Entwürfe", "&", "&ZeVnLIqe-", "&-&-", "😀x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if utf8.ValidString(s) {
			if got, ok := DecodeUTF7(EncodeUTF7(s)); !ok || got != s {
				t.Fatalf("round trip %q -> %q -> %q (%v)", s, EncodeUTF7(s), got, ok)
			}
		}
		if d, ok := DecodeUTF7(s); ok && !utf8.ValidString(d) {
			t.Fatalf("DecodeUTF7(%q) gave invalid UTF-8 %q", s, d)
		}
	})
}
