// Package pop3d serves POP3 (RFC 1939) with CAPA and response codes
// (RFC 2449, RFC 3206), STLS (RFC 2595), implicit TLS (RFC 8314) and SASL
// AUTH (RFC 5034) with PLAIN (RFC 4616). It never accepts a credential on a
// connection without TLS: before STLS, CAPA lists neither USER nor SASL,
// and USER, PASS, APOP and AUTH answer "-ERR [AUTH]" without calling the
// Authenticator.
//
// The protocol engine is ours, on the standard library plus go-sasl; the
// store is behind two small interfaces defined here, Authenticator and
// Maildrop, which cmd/sealpost adapts to the mailstore.
//
// Semantics kept from RFC 1939:
//   - The maildrop is the INBOX snapshot taken at login; later deliveries
//     are not shown in the session. Message numbers never shift.
//   - LIST and STAT report the octets RETR sends before dot-stuffing: the
//     stored CRLF octets, plus the CRLF that ends an unterminated last line.
//   - DELE only marks. QUIT from TRANSACTION enters UPDATE and deletes the
//     marked messages in one atomic Maildrop.Delete. A dropped connection,
//     a timeout or a server shutdown deletes nothing.
//   - One POP3 session per maildrop: a second login gets "-ERR [IN-USE]".
//   - A message expunged elsewhere (IMAP) during the session answers -ERR
//     to RETR and TOP; the session goes on.
//
// Input is bounded: command lines up to 255 octets (RFC 2449 §4), SASL
// lines up to 8 KiB, a deadline on every read and write, an absolute time
// limit for logging in, and the connection is closed after a few bad
// commands before login (a client speaking another protocol) or
// Options.MaxErrors consecutive ones after.
//
// pop3d must not log passwords, SASL exchanges or message bodies, and must
// not wrap the *tls.Conn: the TLS check is a type assertion on it.
package pop3d
