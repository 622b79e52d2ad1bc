// peer.go: the Dovecot reference peer, started beforehand by
// ../shared/peers/dovecot/start.sh. The bench only connects to it: it
// never stops, restarts or reconfigures it, and it only deletes mail it
// delivered itself or mail of the bench users it owns.

package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// peerConfig locates the peer. Defaults come from the variables start.sh
// takes and writes to $PEER_DIR/peer.env (PEER_ADDR or PEER_HOST,
// PEER_IMAPS_PORT, PEER_POP3S_PORT, PEER_LMTP_PORT, PEER_USERS, PEER_PASS,
// PEER_DIR, PEER_CERT), so `set -a; . /tmp/peer-dovecot/peer.env` works.
type peerConfig struct {
	addr                   string
	imaps, pop3s, lmtpPort int
	users                  int
	pass                   string
	dir                    string
	cert                   string
}

func envOr(def string, keys ...string) string {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return def
}

func envInt(def int, key string) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return v
	}
	return def
}

func (p *peerConfig) register(fs *flag.FlagSet) {
	dir := envOr("/tmp/peer-dovecot", "PEER_DIR")
	fs.StringVar(&p.addr, "peer-addr", envOr("127.0.0.1", "PEER_ADDR", "PEER_HOST"), "Dovecot peer address")
	fs.IntVar(&p.imaps, "peer-imaps", envInt(20993, "PEER_IMAPS_PORT"), "Dovecot peer IMAPS port")
	fs.IntVar(&p.pop3s, "peer-pop3s", envInt(20995, "PEER_POP3S_PORT"), "Dovecot peer POP3S port")
	fs.IntVar(&p.lmtpPort, "peer-lmtp", envInt(20024, "PEER_LMTP_PORT"), "Dovecot peer LMTP (TCP) port")
	fs.IntVar(&p.users, "peer-users", envInt(50, "PEER_USERS"), "the peer has users user1..userN")
	fs.StringVar(&p.pass, "peer-pass", envOr("peerpass", "PEER_PASS"), "password of the peer's users")
	fs.StringVar(&p.dir, "peer-dir", dir, "the peer's run dir (master pid, config)")
	fs.StringVar(&p.cert, "peer-cert", envOr(filepath.Join(dir, "tls", "cert.pem"), "PEER_CERT"), "the peer's certificate (trusted for TLS)")
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// openPeer checks that the peer answers and returns it as a target.
func openPeer(p peerConfig) (*target, error) {
	pem, err := os.ReadFile(p.cert)
	if err != nil {
		return nil, fmt.Errorf("dovecot peer certificate: %w (is the peer running? see ../shared/peers/dovecot/start.sh)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("dovecot peer certificate %s: no PEM certificate", p.cert)
	}
	t := &target{
		name:  nameDovecot,
		imaps: hostPort(p.addr, p.imaps), pop3s: hostPort(p.addr, p.pop3s), lmtp: hostPort(p.addr, p.lmtpPort),
		pass:       p.pass,
		tls:        &tls.Config{RootCAs: pool, ServerName: "localhost"},
		rcptDomain: "localhost",
		pidsTTL:    250 * time.Millisecond,
	}
	for _, a := range []string{t.imaps, t.pop3s, t.lmtp} {
		c, err := net.DialTimeout("tcp", a, 3*time.Second)
		if err != nil {
			return nil, fmt.Errorf("dovecot peer does not answer on %s: %w (start it with ../shared/peers/dovecot/start.sh)", a, err)
		}
		c.Close()
	}
	master, err := peerMaster(p.dir)
	if err != nil {
		return nil, err
	}
	t.pids = func() []int { return processTree(master) }
	fsync := "unknown"
	if conf, err := os.ReadFile(filepath.Join(p.dir, "dovecot.conf")); err == nil {
		fsync = confValue(string(conf), "mail_fsync")
		if mode := confValue(string(conf), "mail_location"); mode != "" {
			fsync += ", " + mode
		}
	}
	ver := "dovecot"
	if out, err := exec.Command("dovecot", "--version").Output(); err == nil {
		ver = "Dovecot " + strings.TrimSpace(string(out))
	}
	t.describe = fmt.Sprintf("%s, master pid %d (%s), mail_fsync=%s", ver, master, p.dir, fsync)
	return t, nil
}

// peerMaster reads the master pid that start.sh's dovecot wrote and checks
// it is a live dovecot process.
func peerMaster(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "run", "master.pid"))
	if err != nil {
		return 0, fmt.Errorf("dovecot peer master pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("dovecot peer master pid %q: %w", b, err)
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "dovecot" {
		return 0, errors.New("dovecot peer master pid file is stale: the peer is not running")
	}
	return pid, nil
}

// confValue returns the value of the first top-level "key = value" line.
func confValue(conf, key string) string {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + `\s*=\s*(.*?)\s*$`)
	if m := re.FindStringSubmatch(conf); m != nil {
		return m[1]
	}
	return ""
}
