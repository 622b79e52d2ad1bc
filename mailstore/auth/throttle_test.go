package auth

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// event is one step of a throttle script.
type event struct {
	op       byte // 'f' n failures, 'd' n failures with distinct users, 's' success, 'w' wait
	ip, user string
	n        int
	d        time.Duration
}

func fail(ip, user string, n int) event { return event{op: 'f', ip: ip, user: user, n: n} }
func failSpray(ip string, n int) event  { return event{op: 'd', ip: ip, n: n} }
func succeed(ip, user string) event     { return event{op: 's', ip: ip, user: user} }
func wait(d time.Duration) event        { return event{op: 'w', d: d} }

// failEach fails user once from each of n addresses 10.9.x.y.
func failEach(user string, n int) []event {
	var evs []event
	for i := range n {
		evs = append(evs, fail(fmt.Sprintf("10.9.%d.%d", i/256, i%256), user, 1))
	}
	return evs
}

func run(th *Throttle, now time.Time, evs []event) time.Time {
	for _, e := range evs {
		ip, _ := netip.ParseAddr(e.ip)
		switch e.op {
		case 'f':
			for range e.n {
				th.Failure(ip, e.user, now)
			}
		case 'd':
			for i := range e.n {
				th.Failure(ip, fmt.Sprintf("spray%d", i), now)
			}
		case 's':
			th.Success(ip, e.user, now)
		case 'w':
			now = now.Add(e.d)
		}
	}
	return now
}

func cat(parts ...[]event) []event {
	var all []event
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestThrottle(t *testing.T) {
	const (
		attacker = "192.0.2.66"
		other    = "198.51.100.7"
	)
	tests := []struct {
		name       string
		opts       ThrottleOptions
		events     []event
		ip, user   string
		wantDelay  time.Duration
		wantRefuse bool
	}{
		{"fresh", ThrottleOptions{}, nil, attacker, "ann", 0, false},
		{"two failures free", ThrottleOptions{}, []event{failSpray(attacker, 2)}, attacker, "ann", 0, false},
		{"third failure delays 1s", ThrottleOptions{}, []event{failSpray(attacker, 3)}, attacker, "ann", time.Second, false},
		{"4 failures 2s", ThrottleOptions{}, []event{failSpray(attacker, 4)}, attacker, "ann", 2 * time.Second, false},
		{"5 failures 4s", ThrottleOptions{}, []event{failSpray(attacker, 5)}, attacker, "ann", 4 * time.Second, false},
		{"6 failures 8s", ThrottleOptions{}, []event{failSpray(attacker, 6)}, attacker, "ann", 8 * time.Second, false},
		{"7 failures capped 15s", ThrottleOptions{}, []event{failSpray(attacker, 7)}, attacker, "ann", 15 * time.Second, false},
		{"49 failures still only delayed", ThrottleOptions{}, []event{failSpray(attacker, 49)}, attacker, "ann", 15 * time.Second, false},
		{"50 failures refused", ThrottleOptions{}, []event{failSpray(attacker, 50)}, attacker, "ann", 15 * time.Second, true},
		{"refusal is per source", ThrottleOptions{}, []event{failSpray(attacker, 50)}, other, "ann", 0, false},
		{"refusal lasts a window", ThrottleOptions{}, []event{failSpray(attacker, 50), wait(14 * time.Minute)}, attacker, "ann", 15 * time.Second, true},
		{"refusal ends after window", ThrottleOptions{}, []event{failSpray(attacker, 50), wait(15 * time.Minute)}, attacker, "ann", 15 * time.Second, false},
		{"failures decay", ThrottleOptions{}, []event{failSpray(attacker, 5), wait(5 * time.Minute)}, attacker, "x", time.Second, false},
		{"few failures forgotten in minutes", ThrottleOptions{}, []event{failSpray(attacker, 3), wait(5 * time.Minute)}, attacker, "x", 0, false},
		{"many failures remembered for a window", ThrottleOptions{}, []event{failSpray(attacker, 49), wait(15 * time.Minute)}, attacker, "x", 15 * time.Second, false},
		{"many failures forgotten in an hour", ThrottleOptions{}, []event{failSpray(attacker, 49), wait(time.Hour)}, attacker, "x", 0, false},
		{"slow attacker delayed but not refused", ThrottleOptions{}, repeat(200, failSpray(attacker, 1), wait(20*time.Second)), attacker, "x", 15 * time.Second, false},
		{"faster attacker refused", ThrottleOptions{}, repeat(200, failSpray(attacker, 1), wait(15*time.Second)), attacker, "x", 15 * time.Second, true},

		{"account and source refused at 10", ThrottleOptions{}, []event{fail(attacker, "ann", 10)}, attacker, "ann", 15 * time.Second, true},
		{"other account from that source only delayed", ThrottleOptions{}, []event{fail(attacker, "ann", 10)}, attacker, "bob", 15 * time.Second, false},
		{"no account DoS: real user elsewhere", ThrottleOptions{}, []event{fail(attacker, "ann", 10)}, other, "ann", 0, false},
		{"account and source delays", ThrottleOptions{}, []event{fail(attacker, "ann", 5), failSpray(other, 10)}, other, "ann", 15 * time.Second, false},
		{"user names fold case", ThrottleOptions{}, []event{fail(attacker, "Ann", 10)}, attacker, "aNN", 15 * time.Second, true},

		{"account cap below limit", ThrottleOptions{}, failEach("ann", 19), other, "ann", 0, false},
		{"account cap adds small delay", ThrottleOptions{}, failEach("ann", 20), other, "ann", 2 * time.Second, false},
		{"account cap never refuses", ThrottleOptions{}, failEach("ann", 500), other, "ann", 2 * time.Second, false},
		{"account cap is per account", ThrottleOptions{}, failEach("ann", 20), other, "bob", 0, false},
		{"account cap drains", ThrottleOptions{}, cat(failEach("ann", 20), []event{wait(time.Minute)}), other, "ann", 0, false},

		{"success forgives own typos", ThrottleOptions{}, []event{fail(other, "ann", 4), succeed(other, "ann")}, other, "ann", 0, false},
		{"success forgives own typos for others on the source", ThrottleOptions{}, []event{fail(other, "ann", 4), succeed(other, "ann")}, other, "bob", 0, false},
		{"success keeps failures against other accounts", ThrottleOptions{}, []event{failSpray(attacker, 3), fail(attacker, "mallory", 3), succeed(attacker, "mallory")}, attacker, "x", time.Second, false},
		{"success does not lift a source refusal", ThrottleOptions{}, []event{failSpray(attacker, 50), succeed(attacker, "mallory")}, attacker, "mallory", 15 * time.Second, true},
		{"success elsewhere does not help the attacker", ThrottleOptions{}, []event{fail(attacker, "ann", 10), succeed(other, "ann")}, attacker, "ann", 15 * time.Second, true},

		{"loopback is not exempt", ThrottleOptions{}, []event{failSpray("127.0.0.1", 50)}, "127.0.0.1", "ann", 15 * time.Second, true},
		{"IPv6 loopback is not exempt", ThrottleOptions{}, []event{failSpray("::1", 3)}, "::1", "ann", time.Second, false},
		{"IPv6 /64 is one source", ThrottleOptions{}, []event{failSpray("2001:db8:1:2::1", 2), failSpray("2001:db8:1:2:ffff::9", 2)}, "2001:db8:1:2::77", "x", 2 * time.Second, false},
		{"other IPv6 /64 is another source", ThrottleOptions{}, []event{failSpray("2001:db8:1:2::1", 10)}, "2001:db8:1:3::1", "x", 0, false},
		{"IPv4-mapped is IPv4", ThrottleOptions{}, []event{failSpray("::ffff:192.0.2.66", 3)}, attacker, "x", time.Second, false},
		{"clock going back", ThrottleOptions{}, []event{failSpray(attacker, 3), wait(-time.Hour), failSpray(attacker, 1)}, attacker, "x", 2 * time.Second, false},
		{"empty user counts only per source", ThrottleOptions{}, []event{fail(attacker, "", 3)}, other, "", 0, false},

		{"custom options", ThrottleOptions{Window: time.Minute, FreeFailures: 1, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, IPLimit: 5},
			[]event{failSpray(attacker, 3)}, attacker, "x", 400 * time.Millisecond, false},
		{"custom limit", ThrottleOptions{Window: time.Minute, IPLimit: 5}, []event{failSpray(attacker, 5)}, attacker, "x", 4 * time.Second, true},
		{"custom window", ThrottleOptions{Window: time.Minute, IPLimit: 5}, []event{failSpray(attacker, 5), wait(time.Minute)}, attacker, "x", 0, false},
		{"custom window still refusing", ThrottleOptions{Window: time.Minute, IPLimit: 5}, []event{failSpray(attacker, 5), wait(59 * time.Second)}, attacker, "x", 0, true},
		{"custom account delay", ThrottleOptions{AccountLimit: 2, AccountDelay: 500 * time.Millisecond}, failEach("ann", 2), other, "ann", 500 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := NewThrottle(tt.opts)
			now := run(th, t0, tt.events)
			delay, refuse := th.Check(netip.MustParseAddr(tt.ip), tt.user, now)
			if delay != tt.wantDelay || refuse != tt.wantRefuse {
				t.Errorf("Check = %v, %v; want %v, %v", delay, refuse, tt.wantDelay, tt.wantRefuse)
			}
		})
	}
}

func repeat(n int, evs ...event) []event {
	var all []event
	for range n {
		all = append(all, evs...)
	}
	return all
}

func TestThrottleBounded(t *testing.T) {
	th := NewThrottle(ThrottleOptions{MaxEntries: 100})
	now := t0
	first := netip.MustParseAddr("10.0.0.1")
	for range 5 {
		th.Failure(first, "", now)
	}
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		th.Failure(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), fmt.Sprint("u", i), now)
	}
	if n := len(th.buckets); n > 100 || th.lru.Len() != n {
		t.Fatalf("%d buckets (list %d), want at most 100", n, th.lru.Len())
	}
	if d, _ := th.Check(first, "", now); d != 0 {
		t.Errorf("oldest source not evicted: delay %v", d)
	}
}

func TestThrottleSweeps(t *testing.T) {
	th := NewThrottle(ThrottleOptions{})
	for i := range 100 {
		th.Failure(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), "ann", t0)
	}
	th.Failure(netip.MustParseAddr("10.1.1.1"), "bob", t0.Add(3*time.Hour))
	if n := len(th.buckets); n != 3 {
		t.Errorf("%d buckets three hours later, want the 3 of the last failure", n)
	}
}

func TestThrottleLongUserNames(t *testing.T) {
	th := NewThrottle(ThrottleOptions{})
	ip := netip.MustParseAddr("192.0.2.1")
	long := string(make([]byte, 1<<20))
	for range 10 {
		th.Failure(ip, long, t0)
	}
	if _, refuse := th.Check(ip, long, t0); !refuse {
		t.Error("long user name not throttled")
	}
	for k := range th.buckets {
		if len(k.user) > 80 {
			t.Fatalf("bucket key of %d bytes", len(k.user))
		}
	}
}

func TestThrottleConcurrent(t *testing.T) {
	th := NewThrottle(ThrottleOptions{MaxEntries: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				ip := netip.AddrFrom4([4]byte{10, byte(g), 0, byte(i % 40)})
				user := fmt.Sprint("u", i%7)
				now := t0.Add(time.Duration(i) * time.Second)
				th.Check(ip, user, now)
				if i%5 == 4 {
					th.Success(ip, user, now)
				} else {
					th.Failure(ip, user, now)
				}
			}
		})
	}
	wg.Wait()
	if n := len(th.buckets); n > 50 {
		t.Errorf("%d buckets, want at most 50", n)
	}
}
