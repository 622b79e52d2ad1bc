package lmtp

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// spool keeps the message of a transaction with several recipients, so
// that each recipient's delivery can re-read it: in memory up to spoolMem
// bytes, in an unlinked temp file beyond. The memory is a list of pooled
// fixed-size chunks that the data is read into directly: nothing is
// regrown, copied again or cleared per message.
type spool struct {
	dir    string
	chunks []*[spoolChunk]byte
	f      *os.File
	size   int64
}

const (
	spoolMem   = 1 << 20
	spoolChunk = 64 << 10
)

var spoolChunks = sync.Pool{New: func() any { return new([spoolChunk]byte) }}

// readFrom reads r to EOF into the spool.
func (s *spool) readFrom(r io.Reader) error {
	for s.f == nil {
		off := int(s.size % spoolChunk)
		if off == 0 {
			if s.size+spoolChunk > spoolMem {
				if err := s.toFile(); err != nil {
					return err
				}
				break
			}
			s.chunks = append(s.chunks, spoolChunks.Get().(*[spoolChunk]byte))
		}
		n, err := r.Read(s.chunks[len(s.chunks)-1][off:])
		s.size += int64(n)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	n, err := io.Copy(s.f, r)
	s.size += n
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// toFile moves what is in memory to a new unlinked temp file.
func (s *spool) toFile() error {
	f, err := os.CreateTemp(s.dir, "lmtp-spool-")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	os.Remove(f.Name())
	s.f = f
	for i, c := range s.chunks {
		if _, err := f.Write(c[:min(spoolChunk, s.size-int64(i)*spoolChunk)]); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	s.release()
	return nil
}

// reader returns a new reader of the whole message; several may be read
// at once.
func (s *spool) reader() io.Reader {
	if s.f != nil {
		return io.NewSectionReader(s.f, 0, s.size)
	}
	return &chunkReader{s: s}
}

// close frees the spool; its readers must be done.
func (s *spool) close() {
	s.release()
	if s.f != nil {
		s.f.Close()
	}
}

func (s *spool) release() {
	for _, c := range s.chunks {
		spoolChunks.Put(c)
	}
	s.chunks = nil
}

type chunkReader struct {
	s   *spool
	off int64
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.off >= r.s.size {
		return 0, io.EOF
	}
	c := r.s.chunks[r.off/spoolChunk]
	end := min(spoolChunk, r.s.size-r.off/spoolChunk*spoolChunk)
	n := copy(p, c[r.off%spoolChunk:end])
	r.off += int64(n)
	return n, nil
}
