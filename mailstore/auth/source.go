package auth

import "net/netip"

// SourceKey returns the source a Throttle counts ip's failures under: an
// IPv4 address as it is, an IPv6 address by its /64. Callers that keep
// their own per-source state (such as a cap on concurrent attempts) use it
// so that their notion of "one source" matches the throttle's.
func SourceKey(ip netip.Addr) netip.Addr { return sourceKey(ip) }
