// Package imapd serves IMAP4rev1 (RFC 3501) and IMAP4rev2 (RFC 9051) over
// the mailstore, using go-imap v2's imapserver (pinned to v2.0.0-beta.8) as
// the protocol engine. It listens in two ways: plaintext with STARTTLS
// (Serve) and implicit TLS (ServeTLS, RFC 8314).
//
// It never accepts a credential on a connection without TLS: before
// STARTTLS the server advertises LOGINDISABLED and no AUTH= mechanism, and
// LOGIN and AUTHENTICATE answer NO [PRIVACYREQUIRED] without looking at the
// password. imapserver decides "TLS is on" by asserting that its net.Conn is
// a *tls.Conn, so connection wrappers (byte counters, close tracking) always
// sit under tls.Server, never over it. InsecureAuth stays false everywhere.
//
// # What imapd adds to imapserver
//
// imapserver is a protocol shell. imapd supplies:
//
//   - its own update tracker (updates.go) instead of imapserver's racy
//     MailboxTracker: each selected session keeps the client's view of the
//     mailbox (the UID list the client's sequence numbers refer to) and a
//     queue of store events, and reports EXISTS/EXPUNGE/FETCH FLAGS from it;
//   - read-only enforcement for EXAMINE (STORE, EXPUNGE, MOVE, implicit \Seen
//     and the expunge of CLOSE never touch an examined mailbox);
//   - FETCH served from metadata computed at delivery (mailstore/msgmeta)
//     and bodies streamed from the stored file with exact literal sizes;
//   - SEARCH over records, envelopes, headers and decoded text parts;
//   - connection limits, a TLS handshake deadline, graceful Shutdown, slog.
//
// imapd builds on a patched copy of go-imap (third_party/go-imap, see
// SEALPOST-PATCH.md there). The patch makes sure that the data of a literal
// is never parsed as commands, even when imapserver refuses the literal or
// never reaches it.
//
// # Invariants
//
//   - The store's Watch callback only queues: it never blocks, never writes
//     to a socket and never calls the store. Socket writes happen only on
//     goroutines imapserver gives us (the command goroutine, or the IDLE
//     goroutine while the command goroutine waits for DONE).
//   - Sequence numbers in commands and responses refer to the session's own
//     view. The view changes only when updates are written to the client:
//     EXPUNGE shrinks it (never during FETCH, STORE or SEARCH), EXISTS grows
//     it. Watch is registered before the Snapshot that seeds the view, and
//     events the snapshot already reflects (Seq <= Snapshot.Seq) are dropped.
//   - A command acts on the mailbox the view follows after absorbing the
//     queued events (mailboxView.target). So no command started after a
//     DELETE, or after a RENAME INBOX, touches the old mailbox. After RENAME
//     INBOX the view follows the new INBOX, which continues the old
//     UIDVALIDITY and UIDNEXT.
//   - A view keeps at most 10000 unreported events. Beyond that the session
//     ends with BYE at its next command.
//   - No client data (passwords, SASL exchanges, bodies) is ever logged, and
//     imapserver's DebugWriter is never set.
//
// # Known gaps and limits
//
//   - CONDSTORE/QRESYNC, ID, QUOTA, MULTIAPPEND and \Recent are not
//     implemented (imapserver beta.8 has no server side for them).
//   - A command line may be at most 64 KiB, as Dovecot's default (our patch
//     raised imapserver's 50 KiB). A longer line gets "* BYE Command line
//     too long" and the connection closes. Clients that work with Dovecot
//     already split their UID sets below that.
//   - A literal outside APPEND may be at most 4096 bytes (NO [TOOBIG]).
//     When such a literal is non-synchronizing, its data is read and
//     thrown away if it is at most 1 MiB. A larger one ends the
//     connection with BYE.
//   - APPEND stores line ends as CRLF (mailstore normalises every message,
//     so that RFC822.SIZE and sections are exact). This also applies to a
//     binary literal (~{n}, RFC 3516): a bare LF or CR in it becomes CRLF,
//     so the stored message can differ from what was sent, and its size
//     with it. Real clients append MIME messages, whose binary parts are
//     base64 or quoted-printable, so their bytes do not change.
package imapd
