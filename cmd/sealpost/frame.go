package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"sealpost/mailstore"
)

// Streaming operations on the control socket (import, export, backup)
// continue after the request line with frames, in both directions: a JSON
// header line (at most 64 KiB), and when the header says Body, the data as
// chunks: a 4-byte big-endian length and that many bytes, ended by a zero
// length, or by abortChunk when the sender failed midway. Message bodies
// thus stream through without either side knowing or buffering their size.

const (
	maxFrameLine = 64 << 10
	maxChunk     = 256 << 10
	abortChunk   = 0xFFFFFFFF
	streamIdle   = 2 * time.Minute // no frame or chunk for this long ends the stream
)

type frame struct {
	Type     string                    `json:"type"` // ready, msg, result, mailbox, file, end, error
	Mailbox  string                    `json:"mailbox,omitempty"`
	Flags    []string                  `json:"flags,omitempty"`
	Date     time.Time                 `json:"date,omitzero"`
	Size     int64                     `json:"size,omitempty"`
	Path     string                    `json:"path,omitempty"`
	UID      uint32                    `json:"uid,omitempty"`
	Info     *mailstore.MailboxInfo    `json:"info,omitempty"`
	Manifest *mailstore.BackupManifest `json:"manifest,omitempty"`
	Error    string                    `json:"error,omitempty"`
	Code     string                    `json:"code,omitempty"`
	Fatal    bool                      `json:"fatal,omitempty"`
	Body     bool                      `json:"body,omitempty"` // chunks follow
}

// errFrame builds an error frame that keeps the sentinel's identity.
func errFrame(err error, fatal bool) *frame {
	return &frame{Type: "error", Error: err.Error(), Code: sentinelCode(err), Fatal: fatal}
}

// frameErr turns an error frame (or result) back into an error.
func frameErr(f *frame) error {
	if f.Error == "" {
		return nil
	}
	return codedError(f.Error, f.Code)
}

var errBodyAborted = errors.New("sender aborted the message")

type stream struct {
	c       net.Conn
	br      *bufio.Reader
	bw      *bufio.Writer
	touched time.Time
	stop    func() bool // client side: stops the cancellation hook
}

func (s *stream) close() {
	if s.stop != nil {
		s.stop()
	}
	s.c.Close()
}

func newStream(c net.Conn, br *bufio.Reader) *stream {
	if br == nil {
		br = bufio.NewReaderSize(c, 64<<10)
	}
	return &stream{c: c, br: br, bw: bufio.NewWriterSize(c, 64<<10)}
}

// touch pushes the idle deadline forward (at most once a second).
func (s *stream) touch() {
	if now := time.Now(); now.Sub(s.touched) > time.Second {
		s.touched = now
		s.c.SetDeadline(now.Add(streamIdle))
	}
}

func (s *stream) send(f *frame) error {
	s.touch()
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if len(b) >= maxFrameLine {
		return fmt.Errorf("control stream: frame too large (%d bytes)", len(b))
	}
	s.bw.Write(b)
	return s.bw.WriteByte('\n')
}

func (s *stream) flush() error {
	s.touch()
	return s.bw.Flush()
}

func (s *stream) recv() (*frame, error) {
	s.touch()
	line, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxFrameLine {
		return nil, errors.New("control stream: frame too large")
	}
	if err != nil {
		return nil, fmt.Errorf("control stream: %w", err)
	}
	var f frame
	if err := json.Unmarshal(line, &f); err != nil {
		return nil, fmt.Errorf("control stream: bad frame: %w", err)
	}
	return &f, nil
}

// chunkWriter writes its input as chunks; close ends the body.
type chunkWriter struct{ s *stream }

func (w chunkWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), maxChunk)
		w.s.touch()
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(k))
		if _, err := w.s.bw.Write(hdr[:]); err != nil {
			return n, err
		}
		if _, err := w.s.bw.Write(p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

func (w chunkWriter) close(failed bool) error {
	var hdr [4]byte
	if failed {
		binary.BigEndian.PutUint32(hdr[:], abortChunk)
	}
	_, err := w.s.bw.Write(hdr[:])
	return err
}

// sendBodyFrom sends what write produces as a body. If write fails, the
// receiver learns it through an abort marker and the error is returned.
func (s *stream) sendBodyFrom(write func(io.Writer) (int64, error)) (int64, error) {
	cw := chunkWriter{s}
	n, err := write(cw)
	if cerr := cw.close(err != nil); err == nil {
		err = cerr
	}
	return n, err
}

func (s *stream) sendBody(r io.Reader) (int64, error) {
	return s.sendBodyFrom(func(w io.Writer) (int64, error) { return io.Copy(w, r) })
}

// body returns a reader over the chunks of a body being received.
func (s *stream) body() *chunkReader { return &chunkReader{s: s} }

type chunkReader struct {
	s    *stream
	left uint32
	done bool
	err  error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for r.left == 0 {
		if r.done {
			return 0, io.EOF
		}
		r.s.touch()
		var hdr [4]byte
		if _, err := io.ReadFull(r.s.br, hdr[:]); err != nil {
			r.err = fmt.Errorf("control stream: %w", err)
			return 0, r.err
		}
		switch n := binary.BigEndian.Uint32(hdr[:]); {
		case n == 0:
			r.done = true
		case n == abortChunk:
			r.err = errBodyAborted
			return 0, r.err
		case n > maxChunk:
			r.err = errors.New("control stream: chunk too large")
			return 0, r.err
		default:
			r.left = n
		}
	}
	if uint32(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.s.br.Read(p)
	r.left -= uint32(n)
	if err != nil {
		r.err = fmt.Errorf("control stream: %w", err)
		if n > 0 {
			return n, nil
		}
		return 0, r.err
	}
	return n, nil
}

// drain reads the rest of the body. It fails only when the stream itself
// is broken (an aborted body is a clean end).
func (r *chunkReader) drain() error {
	_, err := io.Copy(io.Discard, r)
	if errors.Is(err, errBodyAborted) {
		return nil
	}
	return err
}
