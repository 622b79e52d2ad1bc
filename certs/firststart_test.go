package certs

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// A first start (no pair yet) is routine: logged at info, not as an
// unusable certificate.
func TestGenerateFirstStartLog(t *testing.T) {
	var buf lockedBuf
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	newManager(t, Options{GenerateDir: filepath.Join(t.TempDir(), "tls"), Logger: log})
	out := buf.b.String()
	if strings.Contains(out, "level=WARN") || !strings.Contains(out, "no certificate configured, generating a self-signed one") {
		t.Errorf("first start logged:\n%s", out)
	}
}
