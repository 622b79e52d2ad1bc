package msgmeta

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestNormalizeCRLF(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\r\nb\r\n"},
		{"\r\r\n\n", "\r\n\r\n\r\n"},
		{"\n\r", "\r\n\r\n"},
		{"mixed\r\nbare\nlone\rend", "mixed\r\nbare\r\nlone\r\nend"},
		{strings.Repeat("x\r", 20000) + "\n", strings.Repeat("x\r\n", 20000)},
		{strings.Repeat("y", 40000) + "\n", strings.Repeat("y", 40000) + "\r\n"},
	}
	for _, tc := range tests {
		readers := map[string]io.Reader{
			"plain": strings.NewReader(tc.in),
			// One byte at a time puts every CR and LF on a read boundary.
			"onebyte": iotest.OneByteReader(strings.NewReader(tc.in)),
			"dataerr": iotest.DataErrReader(strings.NewReader(tc.in)),
		}
		for name, r := range readers {
			got, err := io.ReadAll(NormalizeCRLF(r))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if string(got) != tc.want {
				t.Errorf("%s %q: got %q, want %q", name, clip(tc.in), clip(string(got)), clip(tc.want))
			}
		}
	}
	if err := iotest.TestReader(NormalizeCRLF(strings.NewReader("a\nb\r\nc\rd")), []byte("a\r\nb\r\nc\r\nd")); err != nil {
		t.Error(err)
	}
}

func TestNormalizeCRLFError(t *testing.T) {
	r := NormalizeCRLF(io.MultiReader(strings.NewReader("a\n"), iotest.ErrReader(io.ErrUnexpectedEOF)))
	got, err := io.ReadAll(r)
	if string(got) != "a\r\n" || err != io.ErrUnexpectedEOF {
		t.Errorf("got %q, %v", got, err)
	}
}

// FuzzNormalizeCRLF checks the reader against the definition: CRLF stays,
// every other CR or LF becomes CRLF, however the input is split into reads.
func FuzzNormalizeCRLF(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\r", "\n", "\r\r\n\n\r", "x\ry\nz\r\n"} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, in string, split uint8) {
		want := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(in, "\r\n", "\n"), "\r", "\n"), "\n", "\r\n")
		var r io.Reader = strings.NewReader(in)
		switch split % 3 {
		case 1:
			r = iotest.OneByteReader(r)
		case 2:
			r = iotest.HalfReader(r)
		}
		got, err := io.ReadAll(NormalizeCRLF(r))
		if err != nil || string(got) != want {
			t.Fatalf("%q: got %q, %v; want %q", in, got, err, want)
		}
	})
}
