// Package mailstore is Sealpost's message store: users, their mailboxes,
// messages, flags and quotas, kept in bbolt with message bodies in files.
//
// # Layout
//
//	<data>/global.db                 users (name, password hash, quota)
//	<data>/users/<id>/mail.db        one bbolt file per user: mailboxes, message records
//	<data>/users/<id>/blobs/xx/<id>  message bodies, immutable, CRLF line endings
//	<data>/users/<id>/tmp/           bodies being written
//
// Bodies live outside bbolt so a slow client can stream a 50 MB attachment
// without holding a read transaction open (a long read transaction stops
// bbolt from remapping a growing file, which blocks every writer). Per-user
// files give isolation between users, parallel commits across users and
// cheap per-user export, delete and compaction.
//
// # Durability
//
// A message is acknowledged (Deliver or Append returns nil) only after its
// body file and its directory are fsynced and the bbolt transaction that
// references it has committed (bbolt fsyncs on commit). A crash before the
// commit leaves an orphan file, which is removed the next time the account
// is opened. Expunge commits first and removes files afterwards, so an
// expunged message can leave an orphan but never a dangling record.
//
// Concurrent writes to one account are group-committed: a single committer
// goroutine per account runs every queued write in one transaction and one
// fsync, then answers each caller. If the shared transaction fails, each
// write is retried alone so one bad write cannot fail its neighbours.
//
// # Metadata
//
// The envelope, body structure and part offsets are computed once when a
// message arrives (package msgmeta) and stored beside the record, so FETCH
// never re-parses a body. Malformed MIME is stored as it came and described
// safely (a multipart without parts becomes a text/plain leaf).
//
// # Events
//
// Every committed change is published to watchers after its commit, in
// commit order (each write transaction carries a per-account change
// sequence number), so IMAP sessions can keep consistent sequence numbers.
//
// mailstore imports no protocol package: flags are strings in IMAP spelling
// because that is the lingua franca of mail stores, UIDs are [UID].
package mailstore
