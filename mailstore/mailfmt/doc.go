// Package mailfmt reads and writes the files other mail servers and clients
// keep mail in, for migrating into and out of Sealpost: mbox (mboxrd and
// mboxo quoting, Dovecot's Content-Length and status headers, Thunderbird's
// .sbd folder trees), Maildir and Maildir++ (info flags, Dovecot keyword
// files, modified UTF-7 folder names) and Dovecot passwd-files.
//
// Everything streams: a reader hands out one message at a time as an
// io.Reader over the file, so memory stays bounded by line and header
// buffers (and, for Maildir, one folder's list of file names) whatever the
// size of the mailbox or of one message.
//
// It knows nothing about the store: messages carry IMAP flag spellings and
// '/'-separated mailbox names, and callers move them in and out.
package mailfmt
