package smtp

// SEALPOST-PATCH: DATA is read through a large pooled buffer. The
// connection's own bufio.Reader (from textproto.NewConn) has 4 KB, so a
// 1 MB message took 256 read syscalls, and in a CPU profile of the LMTP
// inlet those cost more than the rest of go-smtp's DATA path. A 64 KB
// buffer for every connection would make idle connections expensive, so
// one is borrowed from a pool for the DATA command only.

import (
	"bufio"
	"io"
	"sync"
)

const dataBufSize = 64 << 10

var dataBufs = sync.Pool{New: func() interface{} { return bufio.NewReaderSize(nil, dataBufSize) }}

// useDataBuffer makes c.text.R a pooled 64 KB reader that first returns
// what the connection's reader had buffered and then reads the
// connection. The returned func, called once the DATA reader is done,
// puts the connection's reader back (it has nothing buffered left) and
// the pooled one into the pool, unless that holds bytes the client sent
// after the end of DATA (pipelining): then it stays the connection's
// reader.
func (c *Conn) useDataBuffer() (restore func()) {
	small := c.text.R
	big := dataBufs.Get().(*bufio.Reader)
	big.Reset(io.MultiReader(io.LimitReader(small, int64(small.Buffered())), c.dataSrc))
	c.text.R = big
	return func() {
		if c.text.R != big || big.Buffered() > 0 {
			return
		}
		c.text.R = small
		big.Reset(nil)
		dataBufs.Put(big)
	}
}
