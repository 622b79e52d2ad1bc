// Package lmtp is Sealpost's delivery inlet: an LMTP server (RFC 2033) on a
// unix socket or TCP that MTAs such as Postfix hand mail to.
//
// After DATA it answers once per recipient, and 250 only once that
// recipient's copy is durable in the store. Unknown users get 550 5.1.1,
// a full mailbox 452 4.2.2, and any store failure 451 4.3.0 so the MTA
// retries; the mapping lives in errors.go. go-smtp would turn a plain Go
// error into a permanent 554, so every error is mapped.
//
// Message lines have no length limit of their own (only the message size
// counts, see linelimit.go); command lines are capped at MaxCommandLine.
// A message of the advertised SIZE is never refused for the trace headers
// the inlet prepends (Return-Path, Delivered-To): addresses are capped so
// those always fit in mailstore.TraceAllowance.
//
// A message to one recipient goes from the connection straight into the
// store, which commits it only once DATA has arrived whole; a message to
// several is spooled first (spool.go) and read by each delivery.
//
// It also holds the LMTP client side used by `sealpost deliver`.
package lmtp
