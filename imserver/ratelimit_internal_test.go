package imserver

import (
	"testing"
	"time"
)

// TestSendLimitsForgetFullBuckets checks that the per-user buckets do not
// pile up: a sweep forgets the buckets that have filled again, and a
// forgotten user starts with a full burst, as before.
func TestSendLimitsForgetFullBuckets(t *testing.T) {
	if d := (*sendLimits)(nil).wait(1, time.Now()); d != 0 {
		t.Fatalf("the nil (off) limit waits %v", d)
	}
	l := newSendLimits(1, 1)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for user := range int64(100) {
		if d := l.wait(user, t0); d != 0 {
			t.Fatalf("user %d's first send waits %v", user, d)
		}
	}
	if d := l.wait(7, t0); d != time.Second {
		t.Fatalf("user 7's second send at once waits %v, want 1s", d)
	}
	if n := l.tracked(); n != 100 {
		t.Fatalf("%d buckets kept, want 100", n)
	}
	later := t0.Add(time.Minute)
	if d := l.wait(1, later); d != 0 {
		t.Fatalf("a minute later user 1 waits %v", d)
	}
	if n := l.tracked(); n != 1 {
		t.Fatalf("after the sweep %d buckets kept, want 1 (user 1's, just used)", n)
	}
	if d := l.wait(1, later); d != time.Second {
		t.Fatalf("user 1's bucket was not kept after its send: the next waits %v", d)
	}
}
