package certstest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"testing"
)

func TestNew(t *testing.T) {
	server, client := New(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	// Dial, and STARTTLS-style tls.Client over a plain connection.
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, client)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("tls.Client handshake: %v", err)
	}
	tc.Close()
	// Without ServerName, the IP address must verify too.
	byIP := client.Clone()
	byIP.ServerName = ""
	if c, err := tls.Dial("tcp", ln.Addr().String(), byIP); err != nil {
		t.Fatalf("Dial by IP: %v", err)
	} else {
		c.Close()
	}
}

func TestWritePair(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := WritePair(t, dir, "mx.example.org", "192.0.2.1")
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, %v", fi.Mode().Perm(), err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"mx.example.org", "192.0.2.1"} {
		if err := pair.Leaf.VerifyHostname(h); err != nil {
			t.Error(err)
		}
	}
	if _, err := pair.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "mx.example.org"}); err != nil {
		t.Errorf("pool does not trust the pair: %v", err)
	}
}
