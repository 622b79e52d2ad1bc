package lmtp

import (
	"bytes"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/iotest"
)

// The spool gives back exactly what it read, to several readers at once,
// around the chunk size and the switch to a file.
func TestSpool(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 1, spoolChunk - 1, spoolChunk, spoolChunk + 1, spoolMem - 1, spoolMem, spoolMem + 1, 3*spoolMem + 7} {
		msg := make([]byte, size)
		for i := range msg {
			msg[i] = byte(rng.Uint32())
		}
		sp := &spool{dir: t.TempDir()}
		if err := sp.readFrom(iotest.HalfReader(bytes.NewReader(msg))); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if sp.size != int64(size) || (sp.f != nil) != (size >= spoolMem) {
			t.Errorf("size %d: spooled %d bytes, in a file: %v", size, sp.size, sp.f != nil)
		}
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				got, err := io.ReadAll(iotest.HalfReader(sp.reader()))
				if err != nil || !bytes.Equal(got, msg) {
					t.Errorf("size %d: read back %d bytes (%v)", size, len(got), err)
				}
			})
		}
		wg.Wait()
		sp.close()
	}
	// A read error is returned, not taken for the end.
	sp := &spool{dir: t.TempDir()}
	defer sp.close()
	if err := sp.readFrom(iotest.TimeoutReader(bytes.NewReader(make([]byte, 100)))); err != iotest.ErrTimeout {
		t.Errorf("read error: %v", err)
	}
}
