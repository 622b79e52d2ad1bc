// Package certs provides the server's TLS certificate and the one TLS
// configuration every listener uses: TLS 1.2 or newer, forward-secret AEAD
// cipher suites only (RFC 9325 §4.2). Sealpost never accepts a password on a
// connection without TLS, so there is no "no certificate" mode: without a
// configured pair, a self-signed one is generated and kept.
//
// A Manager loads the configured certificate and key, or generates and reuses
// a self-signed pair, serves it through GetCertificate, and replaces it without
// a restart on SIGHUP or when the files change. A replacement that does not
// load (missing file, key not matching, expired) is refused and the previous
// pair keeps serving.
//
// The package does not obtain certificates (no ACME) and does not log key
// material; it imports nothing from Sealpost.
package certs
