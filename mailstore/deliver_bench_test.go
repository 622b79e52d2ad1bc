package mailstore

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDeliver measures Store.Deliver of 4 KB messages (durable on
// return: fsync on) from c concurrent callers, round-robin over u users,
// the shape of the LMTP inlet under load without the network.
func BenchmarkDeliver(b *testing.B) {
	body := msg("bench", strings.Repeat(strings.Repeat("x", 62)+"\r\n", 4096/64))
	for _, bc := range []struct{ users, conc int }{{10, 1}, {10, 4}, {10, 16}, {50, 16}} {
		b.Run(fmt.Sprintf("4KB/u%d/c%d", bc.users, bc.conc), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for i := range bc.users {
				newUser(b, s, fmt.Sprint("user", i))
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			start := time.Now()
			for range bc.conc {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if _, err := s.Deliver(ctx, fmt.Sprint("user", i%int64(bc.users)), strings.NewReader(body)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
