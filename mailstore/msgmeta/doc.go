// Package msgmeta computes, once at delivery time, everything an IMAP server
// needs to answer FETCH without re-parsing a message: the ENVELOPE
// (RFC 9051 §7.5.2), the BODYSTRUCTURE tree and the byte offsets of every
// MIME part (RFC 2045, RFC 2046), plus a compact, versioned binary codec to
// keep them in the store.
//
// Parse streams: it reads a message line by line with bounded buffers, so a
// 50 MB attachment costs no more memory than a 4 KB note. It never fails on
// broken MIME. Whatever comes in is described safely: a multipart whose
// boundary is missing or never appears becomes a single text/plain leaf, so
// every multipart it returns has at least one child (go-imap panics on a
// multipart without children), and every message/rfc822 part carries an
// Envelope and an embedded Message.
//
// The package is pure: it knows nothing of bbolt or go-imap. The IMAP layer
// converts Envelope and Part to its own types, fills IMAP defaults (Sender
// and Reply-To from From, "7BIT" for an empty Encoding) and serves BODY[...]
// sections by slicing the stored message with the offsets.
//
// It must not hold a message body in memory, panic on any input, or drop
// mail because its headers are malformed.
package msgmeta
