package lmtp

import (
	"errors"
	"syscall"

	"github.com/emersion/go-smtp"

	"sealpost/mailstore"
)

var (
	errUnknownUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errBadDomain   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 2}, Message: "Domain not handled here"}
	errBadAddress  = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Malformed recipient address"}
	errOverQuota   = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
	// RFC 5321 §4.2.3 452 "insufficient system storage", RFC 3463 X.3.1
	// "mail system full": the MTA keeps the message and retries.
	errNoSpace    = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, try again later"}
	errTooBig     = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	errTemp       = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
	errNoSender   = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "MAIL FROM first"}
	errLongSender = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "Sender address too long"}
	errLongRcpt   = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Recipient address too long"}
	errLongLine   = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 4, 0}, Message: "Line too long"}
)

// toSMTP maps a store error to the LMTP reply. Unexpected errors become a
// temporary failure so the MTA keeps the message and retries; their text
// never reaches the MTA.
func toSMTP(err error) error {
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, mailstore.ErrNoSuchUser):
		return errUnknownUser
	case errors.Is(err, mailstore.ErrOverQuota):
		return errOverQuota
	case errors.Is(err, mailstore.ErrNoSpace), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		// The store's own writes come as ErrNoSpace; the spool's (a large
		// message is spooled in the data directory) as the errno.
		return errNoSpace
	case errors.Is(err, mailstore.ErrTooBig), errors.Is(err, smtp.ErrDataTooLarge):
		return errTooBig
	case errors.Is(err, smtp.ErrTooLongLine):
		// Only a line longer than the message size limit gets here (see
		// linelimit.go); it will not fit on a retry either.
		return errLongLine
	default:
		return errTemp
	}
}
