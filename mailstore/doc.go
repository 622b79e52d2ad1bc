// Package mailstore is Sealpost's message store: users, their mailboxes,
// messages, flags and quotas, kept in bbolt; small message bodies live in
// bbolt too, larger ones in files.
//
// # Layout
//
//	<data>/global.db                 users (name, password hash, quota)
//	<data>/users/<id>/mail.db        one bbolt file per user: mailboxes, message records,
//	                                 bodies up to 64 KiB (Options.InlineBodyMax)
//	<data>/users/<id>/blobs/xx/<id>  larger message bodies, immutable, CRLF line endings
//	<data>/users/<id>/tmp/           empty (bodies of older versions were written here)
//
// Large bodies live outside bbolt so a slow client can stream a 50 MB
// attachment without holding a read transaction open (a long read
// transaction stops bbolt from remapping a growing file, which blocks
// every writer); a small body is copied out of its transaction when
// opened. Keeping small bodies in bbolt saves creating and fsyncing a file
// per message, the largest cost of a delivery (bodies.go). Per-user
// files give isolation between users, parallel commits across users and
// cheap per-user export, delete and compaction.
//
// # Durability
//
// A message is acknowledged (Deliver or Append returns nil) only after the
// bbolt transaction that records it has committed (bbolt fsyncs on
// commit); a small body is part of that transaction. A body file and its
// directory are fsynced before that commit. A body file is written
// straight to its final name in blobs/ and fsynced by its writer; the
// account's committer fsyncs the directories of a whole batch of new
// bodies, once each, right before the commit that records them. Names
// share their shard for 100 ms at a time (newBlobName), so concurrent
// deliveries need one directory fsync between them. Directories are
// made durable before anything is put in them: Open fsyncs the data
// directory after creating users/ and global.db, and opening an account
// creates users/<id>, tmp/, blobs/ and all 256 blobs/xx shards at once and
// fsyncs their parents, so no writer ever creates a directory.
//
// Cleanup after a crash. A crash before the commit leaves an orphan body
// file; an expunge commits first and removes files afterwards, so it can
// leave an orphan but never a dangling record. Open sweeps what needs no
// account: partly written files in every user's tmp/ and the directory of
// a user whose record is gone (DeleteUser removes the record first).
// Orphans in blobs/ are removed when the account is first opened, before
// it serves any write: telling them apart needs the account's records, and
// reading every account's records at start would make start-up time grow
// with the size of the whole store. Until then an orphan only takes disk
// space: it is not counted in the quota and nothing can reach it.
//
// A message may have MaxMessageSize bytes as read (CRLF normalisation may
// make the stored copy larger); Deliver accepts TraceAllowance more for
// the trace headers the delivery inlet prepends.
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
