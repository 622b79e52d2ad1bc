package certs

import "crypto/tls"

// cipherSuites are the TLS 1.2 suites we accept: ECDHE key exchange (forward
// secrecy) with an AEAD cipher, as RFC 9325 §4.2 recommends. Go's default
// list still contains CBC-SHA suites; TLS 1.3 suites are not configurable
// and all qualify.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig returns a new server configuration that takes its certificate
// from m (so reloads apply to new connections) and accepts TLS 1.2 with the
// suites above, or TLS 1.3. The server chooses the suite: Go always applies
// its own server-side preference order (PreferServerCipherSuites is ignored
// since Go 1.18). Callers may change the returned config, e.g. NextProtos.
func (m *Manager) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   append([]uint16(nil), cipherSuites...),
		GetCertificate: m.GetCertificate,
	}
}
