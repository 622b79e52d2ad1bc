package lmtp

import (
	"strconv"
	"time"

	"github.com/emersion/go-smtp"
)

// Metrics observes deliveries. Set Options.Metrics; nil observes nothing.
// Methods must be fast and safe for concurrent use.
type Metrics interface {
	// Recipient counts one recipient's final reply: result is "250", "4xx"
	// or "5xx", reason one of the fixed words of replyReason. A recipient
	// refused at RCPT counts there; an accepted one counts after DATA.
	Recipient(result, reason string)
	// StoreDelivery reports how long the store kept one recipient waiting
	// after the end of DATA (the rest of the body write, fsyncs and commit;
	// a message to one recipient is written as it arrives), whatever the
	// outcome.
	StoreDelivery(d time.Duration)
}

// replyReason names a reply for metrics; the set is fixed so that labels
// stay few.
func replyReason(reply error) string {
	switch reply {
	case nil:
		return "delivered"
	case errUnknownUser:
		return "unknown_user"
	case errBadDomain:
		return "bad_domain"
	case errBadAddress:
		return "bad_address"
	case errOverQuota:
		return "over_quota"
	case errTooBig, smtp.ErrDataTooLarge:
		return "too_big"
	case errTemp:
		return "temporary"
	case errNoSender:
		return "no_sender"
	}
	return "other"
}

func replyClass(reply error) string {
	code := replyCode(reply)
	switch {
	case code == 250:
		return "250"
	case code >= 400 && code < 500:
		return "4xx"
	case code >= 500:
		return "5xx"
	}
	return strconv.Itoa(code)
}

// countRecipient reports one recipient's reply (nil: delivered).
func (s *Server) countRecipient(reply error) {
	if s.opts.Metrics == nil {
		return
	}
	s.opts.Metrics.Recipient(replyClass(reply), replyReason(reply))
}

func (s *Server) observeDelivery(d time.Duration) {
	if s.opts.Metrics != nil {
		s.opts.Metrics.StoreDelivery(d)
	}
}
