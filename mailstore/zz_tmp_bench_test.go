package mailstore

import (
	"fmt"
	"strings"
	"testing"
)

func BenchmarkDeliver1MB(b *testing.B) {
	body := msg("bench", strings.Repeat(strings.Repeat("x", 74)+"\r\n", 1<<20/76))
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	newUser(b, s, "u")
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		if _, err := s.Deliver(ctx, "u", strings.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
	_ = fmt.Sprint
}
