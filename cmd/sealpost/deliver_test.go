package main

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestDeliverExit(t *testing.T) {
	se := func(code int, enh smtp.EnhancedCode) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: "m"}
	}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"delivered", nil, exOK},
		{"server down", fmt.Errorf("connect to /x/lmtp.sock: %w", &net.OpError{Op: "dial", Err: errors.New("connection refused")}), exTempFail},
		{"connection lost", errors.New("send message: write: broken pipe"), exTempFail},
		{"unknown user", se(550, smtp.EnhancedCode{5, 1, 1}), exNoUser},
		{"domain not handled", se(550, smtp.EnhancedCode{5, 1, 2}), exNoUser},
		{"bad address", se(553, smtp.EnhancedCode{5, 1, 3}), exNoUser},
		{"over quota", se(452, smtp.EnhancedCode{4, 2, 2}), exTempFail},
		{"store failure", se(451, smtp.EnhancedCode{4, 3, 0}), exTempFail},
		{"shutting down", se(421, smtp.EnhancedCode{4, 4, 2}), exTempFail},
		{"too big", se(552, smtp.EnhancedCode{5, 3, 4}), exDataErr},
		{"line too long", se(500, smtp.EnhancedCode{5, 4, 0}), exDataErr},
		{"long sender", se(501, smtp.EnhancedCode{5, 1, 7}), exDataErr},
		{"generic permanent", se(554, smtp.EnhancedCode{5, 0, 0}), exDataErr},
		// After DATA the client returns the per-recipient replies as an
		// LMTPDataError, which wraps them.
		{"LMTP unknown user", smtp.LMTPDataError{"ann@x": se(550, smtp.EnhancedCode{5, 1, 1})}, exNoUser},
		{"LMTP too big", smtp.LMTPDataError{"ann@x": se(552, smtp.EnhancedCode{5, 3, 4})}, exDataErr},
		{"LMTP temporary", smtp.LMTPDataError{"ann@x": se(451, smtp.EnhancedCode{4, 3, 0})}, exTempFail},
		{"odd reply", se(354, smtp.NoEnhancedCode), exTempFail},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, msg := deliverExit(tc.err)
			if got != tc.want {
				t.Fatalf("exit %d (%s), want %d", got, msg, tc.want)
			}
			if got != exOK && msg == "" {
				t.Fatal("no reason given")
			}
		})
	}
}
