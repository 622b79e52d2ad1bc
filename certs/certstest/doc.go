// Package certstest makes throwaway TLS certificates for tests, the way
// net/http/httptest does for HTTPS: a self-signed certificate for localhost,
// 127.0.0.1 and ::1, and a client configuration that trusts it. It must not
// be used outside tests.
package certstest
