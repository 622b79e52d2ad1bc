package mailstore

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Delimiter separates mailbox hierarchy levels.
const Delimiter = '/'

// Inbox is the canonical name of the mailbox deliveries go to.
const Inbox = "INBOX"

const (
	maxUserName    = 64
	maxMailboxName = 512 // bytes, whole path
	maxMailboxPart = 255
	maxDepth       = 32
)

// NormalizeUser returns the canonical (lower-case) form of a user name, or
// ErrBadName. Allowed: ASCII letters, digits and . _ - (not first), at most
// 64 characters. Domains are handled by the frontends.
func NormalizeUser(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" || len(n) > maxUserName {
		return "", fmt.Errorf("user name %q: %w", name, ErrBadName)
	}
	for i, r := range n {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || i > 0 && (r == '.' || r == '_' || r == '-')
		if !ok {
			return "", fmt.Errorf("user name %q: %w", name, ErrBadName)
		}
	}
	return n, nil
}

// NormalizeMailbox validates a mailbox path and returns its canonical form:
// INBOX in any case becomes "INBOX" (also as the first level of a path).
// Rejected: empty names, empty levels ("a//b", leading or trailing '/'),
// "." and ".." levels, control characters, invalid UTF-8, over-long names.
func NormalizeMailbox(name string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("mailbox name %q: %s: %w", name, why, ErrBadName)
	}
	if name == "" {
		return bad("empty")
	}
	if len(name) > maxMailboxName {
		return bad("too long")
	}
	if !utf8.ValidString(name) {
		return bad("invalid UTF-8")
	}
	parts := strings.Split(name, string(Delimiter))
	if len(parts) > maxDepth {
		return bad("too deep")
	}
	for _, p := range parts {
		switch {
		case p == "":
			return bad("empty level")
		case p == "." || p == "..":
			return bad("dot level")
		case len(p) > maxMailboxPart:
			return bad("level too long")
		}
		for _, r := range p {
			if unicode.IsControl(r) || r == utf8.RuneError {
				return bad("control character")
			}
		}
	}
	if strings.EqualFold(parts[0], Inbox) {
		parts[0] = Inbox
	}
	return strings.Join(parts, string(Delimiter)), nil
}

// parentNames returns the ancestors of a mailbox path, outermost first.
func parentNames(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == Delimiter {
			out = append(out, name[:i])
		}
	}
	return out
}

// isChildOf reports whether name lies below parent in the hierarchy.
func isChildOf(name, parent string) bool {
	return len(name) > len(parent)+1 && name[len(parent)] == Delimiter && name[:len(parent)] == parent
}
