package main

import (
	"path/filepath"
	"testing"

	"sealpost/mailstore/mailfmt"
)

// BenchmarkImportMbox imports a generated mbox (2000 small messages and
// one of 4 MiB) into a fresh store, directly and through the control
// socket. Each message is fsynced before the next, as for a delivery.
func BenchmarkImportMbox(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.mbox")
	size := writeMbox(b, path, 2000, 4)
	for _, via := range []string{"direct", "control socket"} {
		b.Run(via, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				b.StopTimer()
				st := openStore(b, 64<<20)
				var a storeAdmin = localAdmin{st}
				if via != "direct" {
					a = startControl(b, st)
				}
				if _, err := a.CreateUser(bg, "ann", "pw", 0); err != nil {
					b.Fatal(err)
				}
				src, err := openSource("mbox", path, "INBOX", mailfmt.MboxRD)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				n := 0
				err = a.Import(bg, "ann", src.next, func(r importResult) error {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
					n++
					return nil
				})
				b.StopTimer()
				src.close()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(n-1)/b.Elapsed().Seconds(), "msgs/s")
				b.StartTimer()
			}
		})
	}
}
