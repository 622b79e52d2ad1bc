package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/emersion/go-smtp"

	"sealpost/mailstore/lmtp"
)

// Exit codes from sysexits.h, which Postfix's local(8) and pipe(8) read:
// 75 makes Postfix defer and retry, the others bounce.
const (
	exOK          = 0
	exUsage       = 64
	exDataErr     = 65
	exNoUser      = 67
	exTempFail    = 75
	deliverUsageS = `Usage: sealpost deliver -d USER [-f SENDER] [--socket PATH | --lmtp HOST:PORT] [--data DIR | --config FILE]

Delivers the message on stdin to USER's INBOX through the running server's
LMTP socket (only the server may open the store). Exit status per sysexits:
0 delivered, 67 unknown user, 75 temporary failure (server down, over quota:
Postfix retries), 65 message refused, 64 usage error. The reason goes to stderr.

Examples:
  sealpost deliver -d ann -f sender@example.org --data /var/lib/sealpost < message.eml

Postfix master.cf (a pipe(8) transport running as the sealpost user):
  sealpost  unix  -  n  n  -  -  pipe
    null_sender= user=sealpost argv=/usr/local/bin/sealpost deliver -d ${user} -f ${sender} --config /etc/sealpost/sealpost.toml
Postfix main.cf (virtual domains, local recipients):
  virtual_transport = sealpost
  mailbox_transport = sealpost
  sealpost_destination_recipient_limit = 1
Not mailbox_command: it runs as the recipient, who cannot reach the socket.
`
)

func cmdDeliver(args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("deliver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, deliverUsageS) }
	user := fs.String("d", "", "recipient user (or address)")
	from := fs.String("f", "", "envelope sender")
	sock := fs.String("socket", "", "LMTP unix socket (default <data>/lmtp.sock)")
	tcp := fs.String("lmtp", "", "LMTP TCP address instead of the socket")
	data := fs.String("data", "", "data directory")
	cfgPath := fs.String("config", "", "config file")
	if err := fs.Parse(args); err != nil {
		return boolCode(errors.Is(err, flag.ErrHelp), exOK, exUsage)
	}
	if *user == "" || fs.NArg() != 0 {
		fmt.Fprint(stderr, deliverUsageS)
		return exUsage
	}
	network, addr := "unix", *sock
	switch {
	case *tcp != "":
		network, addr = "tcp", *tcp
	case addr == "":
		dir := *data
		if dir == "" {
			cfg := defaultConfig()
			if *cfgPath != "" {
				c, err := loadConfig(*cfgPath)
				if err != nil {
					fmt.Fprintln(stderr, "sealpost deliver:", err)
					return exTempFail
				}
				cfg = c
			}
			dir = cfg.DataDir
			if cfg.LMTP.Socket != "" {
				addr = cfg.LMTP.Socket
			}
		}
		if addr == "" {
			addr = filepath.Join(dir, "lmtp.sock")
		}
	}

	br := bufio.NewReaderSize(stdin, 64<<10)
	// An mbox "From " envelope line (pipe(8) flag F) is not part of the message.
	if head, err := br.Peek(5); err == nil && bytes.Equal(head, []byte("From ")) {
		br.ReadString('\n')
	}
	if _, err := br.Peek(1); err != nil {
		fmt.Fprintln(stderr, "sealpost deliver: empty message on stdin")
		return exDataErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	err := lmtp.DeliverOne(ctx, network, addr, *from, *user, br)
	code, msg := deliverExit(err)
	if code != exOK {
		fmt.Fprintf(stderr, "sealpost deliver: %s: %s\n", *user, msg)
	}
	return code
}

// deliverExit maps the LMTP outcome to a sysexits code and a reason.
func deliverExit(err error) (int, string) {
	if err == nil {
		return exOK, "delivered"
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return exTempFail, "temporary failure (is sealpost serve running?): " + err.Error()
	}
	text := fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	badRcpt := se.EnhancedCode[0] == 5 && se.EnhancedCode[1] == 1 && se.EnhancedCode[2] >= 1 && se.EnhancedCode[2] <= 3
	switch {
	case se.Code/100 == 5 && badRcpt: // 5.1.1 no such user, 5.1.2 domain, 5.1.3 syntax
		return exNoUser, "unknown user (" + text + ")"
	case se.Code/100 == 4:
		return exTempFail, "temporary failure (" + text + ")"
	case se.Code/100 == 5: // too big, line too long, ...: retrying cannot help
		return exDataErr, "refused (" + text + ")"
	}
	return exTempFail, "unexpected reply (" + text + ")"
}
