package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The "Use with Postfix" recipe exactly as README.md shows it, with the
// production paths; TestPostfixREADME checks that the README carries every
// line. postfixLab.prod maps these paths to the lab's temp dir.
const (
	recipeDataDir   = "install -d -o sealpost -g sealpost -m 0700 /var/lib/sealpost"
	recipeSocketDir = "install -d -o sealpost -g postfix -m 2750 /var/spool/postfix/sealpost"
	recipeTOML      = `data_dir = "/var/lib/sealpost"
domains  = ["example.com"]

[lmtp]
socket       = "/var/spool/postfix/sealpost/lmtp.sock"
socket_group = "postfix"`
	// LMTP: the socket path is relative to Postfix's queue directory, so it
	// works with Debian's chrooted lmtp(8) (master.cf "lmtp ... y").
	recipeMainLMTP = `virtual_mailbox_domains = example.com
virtual_transport = lmtp:unix:sealpost/lmtp.sock`
	// pipe(8) → sealpost deliver, for virtual domains and, through
	// local(8)'s mailbox_transport, for local recipients.
	recipeMainPipe = `virtual_mailbox_domains = example.com
virtual_transport = sealpost
sealpost_destination_recipient_limit = 1
mailbox_transport = sealpost
local_recipient_maps =`
	recipeMasterPipe = `sealpost  unix  -  n  n  -  -  pipe
  null_sender= user=sealpost argv=/usr/local/bin/sealpost deliver -d ${user} -f ${sender} --config /etc/sealpost/sealpost.toml`
)

// postfixLab is a private Postfix instance (own config, queue and data
// directories under a temp dir, smtpd on a free loopback port) in front of
// a sealpost server that runs as an unprivileged user, set up the way the
// README tells an admin to. The system's Postfix instance is never touched:
// every postfix command gets -c.
type postfixLab struct {
	t            *testing.T
	root         string // 0755: postfix and the sealpost user traverse it
	conf, queue  string
	maillog      string
	smtp         string // smtpd host:port
	spUser       string // stands in for the "sealpost" account
	spGroup      string
	cred         *syscall.Credential
	sp           *Server
	prod         *strings.Replacer // production paths → lab paths
	spConfigPath string
	postfixUp    func() // waits until Postfix is started
}

// needPostfix skips (or fails under CI) unless a private Postfix instance
// can run here: root, the postfix binaries and the postfix/postdrop/nobody
// accounts.
func needPostfix(t *testing.T) {
	t.Helper()
	needTool(t, "postfix")
	needTool(t, "postqueue")
	needTool(t, "swaks")
	why := ""
	if os.Geteuid() != 0 {
		why = "a private Postfix instance needs root"
	} else if _, err := user.Lookup("postfix"); err != nil {
		why = "no postfix user"
	} else if _, err := user.LookupGroup("postdrop"); err != nil {
		why = "no postdrop group"
	} else if _, err := user.Lookup("nobody"); err != nil {
		why = "no nobody user"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (required in CI)", why)
	}
	t.Skip(why)
}

// newPostfixLab lays out the directories, starts sealpost as "nobody" and
// Postfix with the given main.cf recipe lines.
func newPostfixLab(t *testing.T, mainRecipe string) *postfixLab {
	t.Helper()
	needPostfix(t)
	// Not t.TempDir (0700 parents) and not a TMPDIR that the postfix and
	// sealpost users cannot traverse.
	base := os.TempDir()
	if !worldSearchable(base) {
		base = "/tmp"
	}
	root, err := os.MkdirTemp(base, "sealpost-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	os.Chmod(root, 0o755)
	lab := &postfixLab{t: t, root: root, conf: filepath.Join(root, "postfix"),
		queue: filepath.Join(root, "queue"), maillog: filepath.Join(root, "maillog"), smtp: freePort(t)}

	nobody, _ := user.Lookup("nobody")
	g, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	lab.spUser, lab.spGroup = nobody.Username, g.Name
	lab.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}

	// The sealpost account must be able to execute the binary (pipe(8)
	// runs `sealpost deliver` as that user), so copy it out of TestMain's
	// private temp dir.
	bin := filepath.Join(root, "bin", "sealpost")
	os.Mkdir(filepath.Dir(bin), 0o755)
	copyFile(t, binary, bin, 0o755)
	lab.spConfigPath = filepath.Join(root, "sealpost.toml")
	lab.prod = strings.NewReplacer(
		"-o sealpost -g sealpost", "-o "+lab.spUser+" -g "+lab.spGroup,
		"-o sealpost", "-o "+lab.spUser,
		"user=sealpost", "user="+lab.spUser,
		"/var/spool/postfix", lab.queue,
		"/var/lib/sealpost", filepath.Join(root, "data"),
		"/usr/local/bin/sealpost", bin,
		"/etc/sealpost/sealpost.toml", lab.spConfigPath,
	)

	for _, d := range []string{lab.conf, lab.queue} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pfData := filepath.Join(root, "postfix-data")
	os.Mkdir(pfData, 0o700)
	pf, _ := user.Lookup("postfix")
	pfUID, _ := strconv.Atoi(pf.Uid)
	if err := os.Chown(pfData, pfUID, -1); err != nil {
		t.Fatal(err)
	}
	// The admin's steps from the README, run literally.
	for _, cmd := range []string{recipeDataDir, recipeSocketDir} {
		lab.run(lab.prod.Replace(cmd))
	}
	if err := os.WriteFile(lab.spConfigPath, []byte(lab.prod.Replace(recipeTOML)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lab.writeMain(mainRecipe)
	lab.writeMaster()

	lab.startSealpost()
	// `postfix start` takes seconds (postfix-script checks the install):
	// let the test add its users meanwhile; send waits for it.
	var startErr error
	started := make(chan struct{})
	go func() {
		defer close(started)
		if out, err := exec.Command("postfix", "-c", lab.conf, "start").CombinedOutput(); err != nil {
			startErr = fmt.Errorf("postfix start: %v: %s", err, out)
		}
	}()
	lab.postfixUp = sync.OnceFunc(func() {
		if <-started; startErr != nil {
			t.Fatalf("%v\npostfix log:\n%s", startErr, lab.log())
		}
		lab.waitListen(lab.smtp)
	})
	t.Cleanup(func() {
		if <-started; startErr == nil {
			exec.Command("postfix", "-c", lab.conf, "stop").Run()
		}
		if t.Failed() {
			t.Logf("postfix log:\n%s", lab.log())
		}
	})
	return lab
}

// writeMain writes main.cf: the lab's own settings, then the recipe.
func (lab *postfixLab) writeMain(recipe string) {
	base := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %s
data_directory = %s
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.test
mydomain = example.test
mydestination = localhost
mynetworks = 127.0.0.0/8
recipient_delimiter = +
alias_maps =
alias_database =
biff = no
maillog_file = %s
maillog_file_prefixes = %s
# Nothing is retried by itself within a test: only postqueue -f does.
queue_run_delay = 1s
minimal_backoff_time = 1000s
maximal_backoff_time = 4000s
`, lab.queue, filepath.Join(lab.root, "postfix-data"), lab.maillog, lab.root)
	if err := os.WriteFile(filepath.Join(lab.conf, "main.cf"), []byte(base+lab.prod.Replace(recipe)+"\n"), 0o644); err != nil {
		lab.t.Fatal(err)
	}
}

// writeMaster writes master.cf: Debian's services with chroot off, except
// lmtp, which stays chrooted as in Debian's default master.cf.
func (lab *postfixLab) writeMaster() {
	master := lab.smtp + ` inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
local     unix  - n n -  - local
virtual   unix  - n n -  - virtual
lmtp      unix  - - y -  - lmtp
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
` + lab.prod.Replace(recipeMasterPipe) + "\n"
	if err := os.WriteFile(filepath.Join(lab.conf, "master.cf"), []byte(master), 0o644); err != nil {
		lab.t.Fatal(err)
	}
}

// startSealpost runs `sealpost serve --config` as the unprivileged user,
// with only IMAPS besides the LMTP socket.
func (lab *postfixLab) startSealpost() {
	t := lab.t
	t.Helper()
	if lab.sp == nil {
		lab.sp = &Server{t: t, Data: filepath.Join(lab.root, "data"), IMAPS: freePort(t),
			Socket: filepath.Join(lab.queue, "sealpost", "lmtp.sock")}
		t.Cleanup(lab.sp.Stop)
	}
	s := lab.sp
	s.log = &syncBuffer{}
	s.cmd = exec.Command(filepath.Join(lab.root, "bin", "sealpost"), "serve", "--config", lab.spConfigPath,
		"--imap", "", "--imaps", s.IMAPS, "--pop3", "", "--pop3s", "", "--log-level", "debug")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: lab.cred}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.IMAPS, time.Second)
		if err == nil {
			c.Close()
			if _, err := os.Stat(s.Socket); err == nil {
				return
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("sealpost serve exited:\n%s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sealpost did not start:\n%s", s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (lab *postfixLab) waitListen(addr string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			lab.t.Fatalf("postfix does not listen on %s:\n%s", addr, lab.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run runs a command (a string is split on spaces) and fails on error.
func (lab *postfixLab) run(name string, args ...string) string {
	lab.t.Helper()
	if len(args) == 0 {
		f := strings.Fields(name)
		name, args = f[0], f[1:]
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		lab.t.Fatalf("%s %s: %v\n%s\npostfix log:\n%s", name, strings.Join(args, " "), err, out, lab.log())
	}
	return string(out)
}

// log returns what Postfix logged so far.
func (lab *postfixLab) log() string {
	b, _ := os.ReadFile(lab.maillog)
	return string(b)
}

// send submits a message (CRLF lines) to Postfix's smtpd with swaks.
func (lab *postfixLab) send(from, to, msg string) {
	lab.t.Helper()
	lab.postfixUp()
	f := filepath.Join(lab.root, "msg.eml")
	// swaks appends "\r\n." to the data unless it already ends in a
	// terminating dot line, which it then takes as the end of the message.
	if err := os.WriteFile(f, []byte(msg+"."), 0o600); err != nil {
		lab.t.Fatal(err)
	}
	out, code := swaks(lab.t, "--server", lab.smtp, "--from", from, "--to", to, "--data", "@"+f, "--suppress-data")
	if code != 0 || !strings.Contains(out, "250 2.0.0 Ok: queued") {
		lab.t.Fatalf("swaks to %s: exit %d:\n%s", to, code, out)
	}
}

// queued is one message in `postqueue -j` output.
type queued struct {
	Queue      string `json:"queue_name"`
	ID         string `json:"queue_id"`
	Recipients []struct {
		Address string `json:"address"`
		Reason  string `json:"delay_reason"`
	} `json:"recipients"`
}

func (lab *postfixLab) mailq() []queued {
	lab.t.Helper()
	out, err := exec.Command("postqueue", "-c", lab.conf, "-j").Output()
	if err != nil {
		lab.t.Fatalf("postqueue -j: %v", err)
	}
	var qs []queued
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var q queued
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			lab.t.Fatalf("postqueue -j: %v: %s", err, sc.Text())
		}
		qs = append(qs, q)
	}
	return qs
}

// waitQueueEmpty waits until Postfix has delivered or bounced everything.
func (lab *postfixLab) waitQueueEmpty() {
	lab.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		qs := lab.mailq()
		if len(qs) == 0 {
			return
		}
		// Nothing retries by itself here (minimal_backoff_time): deferred
		// mail would only wait for the deadline.
		for _, q := range qs {
			if q.Queue == "deferred" {
				lab.t.Fatalf("mail deferred: %+v\n%s", q, lab.log())
			}
		}
		if time.Now().After(deadline) {
			lab.t.Fatalf("queue not empty after 30s: %+v\n%s", qs, lab.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deferred returns the delay reason of rcpt's message if it sits in the
// deferred queue.
func (lab *postfixLab) deferred(rcpt string) (string, bool) {
	lab.t.Helper()
	for _, q := range lab.mailq() {
		for _, r := range q.Recipients {
			if q.Queue == "deferred" && r.Address == rcpt {
				return r.Reason, true
			}
		}
	}
	return "", false
}

// waitDeferred waits until rcpt's message is deferred and returns why.
func (lab *postfixLab) waitDeferred(rcpt string) string {
	lab.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if reason, ok := lab.deferred(rcpt); ok {
			return reason
		}
		if time.Now().After(deadline) {
			lab.t.Fatalf("no deferred message for %s after 30s: %+v\n%s", rcpt, lab.mailq(), lab.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (lab *postfixLab) flush() { lab.run("postqueue", "-c", lab.conf, "-f") }

// worldSearchable reports whether every directory from dir up to / lets
// any user through.
func worldSearchable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
