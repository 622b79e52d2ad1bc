package smtp_test

// SEALPOST-PATCH: DATA is read through a pooled buffer that is swapped in
// for the command and out again (data_sealpost.go). Commands pipelined
// around DATA must neither be lost nor read twice.

import (
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestDataBufferKeepsPipelinedBytes(t *testing.T) {
	for _, lmtp := range []bool{false, true} {
		be, s, c, scanner := testServer(t, func(s *smtp.Server) {
			s.LMTP = lmtp
			s.Backend.(*backend).implementLMTPData = true // anonymous sessions, also for SMTP
		})
		hello := "EHLO"
		if lmtp {
			hello = "LHLO"
		}
		big := strings.Repeat(".dotted "+strings.Repeat("b", 70)+"\r\n", 5000) // 400 KB
		msgs := []string{"first\r\n", big, "third\r\n", "fourth\r\n"}
		stuffed := func(m string) string { return strings.ReplaceAll("\n"+m, "\n.", "\n..")[1:] + ".\r\n" }
		tx := func(m string) string {
			return "MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n" + stuffed(m)
		}
		// All in one write: the connection's reader holds the start of the
		// first message when DATA begins, and what follows each end of DATA
		// is already buffered.
		io.WriteString(c, hello+" localhost\r\n"+tx(msgs[0])+tx(msgs[1])+tx(msgs[2]))
		// And one transaction in lock step.
		var replies []string
		read := func(n int) {
			for len(replies) < n && scanner.Scan() {
				if l := scanner.Text(); len(l) < 4 || l[3] != '-' {
					replies = append(replies, l)
				}
			}
		}
		read(1 + 3*4 + 1) // greeting, EHLO, 3 x (MAIL, RCPT, DATA, end of DATA)
		io.WriteString(c, "MAIL FROM:<a@x>\r\n")
		read(15)
		io.WriteString(c, "RCPT TO:<b@x>\r\n")
		read(16)
		io.WriteString(c, "DATA\r\n")
		read(17)
		io.WriteString(c, stuffed(msgs[3])+"QUIT\r\n")
		read(19)
		c.Close()
		s.Close()
		want := []string{"220", "250", "250", "250", "354", "250", "250", "250", "354", "250", "250", "250", "354", "250", "250", "250", "354", "250", "221"}
		if len(replies) != len(want) {
			t.Fatalf("lmtp %v: %d replies %q, want %d", lmtp, len(replies), replies, len(want))
		}
		for i, w := range want {
			if !strings.HasPrefix(replies[i], w) {
				t.Errorf("lmtp %v: reply %d is %q, want %s", lmtp, i, replies[i], w)
			}
		}
		if len(be.anonmsgs) != len(msgs) {
			t.Fatalf("lmtp %v: %d messages, want %d", lmtp, len(be.anonmsgs), len(msgs))
		}
		for i, m := range msgs {
			if got := string(be.anonmsgs[i].Data); got != m {
				t.Errorf("lmtp %v: message %d is %d bytes %.40q, want %d bytes %.40q", lmtp, i, len(got), got, len(m), m)
			}
		}
	}
}
