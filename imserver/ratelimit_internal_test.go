package imserver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSendLimitsForgetFullBuckets checks that the per-user buckets do not
// pile up: a sweep forgets the buckets that have filled again, and a
// forgotten user starts with a full burst, as before.
func TestSendLimitsForgetFullBuckets(t *testing.T) {
	require.Zero(t, (*sendLimits)(nil).wait(1, time.Now()), "the nil (off) limit waits")
	l := newSendLimits(1, 1)
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for user := range int64(100) {
		require.Zero(t, l.wait(user, t0), "user %d's first send waits", user)
	}
	require.Equal(t, time.Second, l.wait(7, t0), "user 7's second send at once waits")
	require.Equal(t, 100, l.tracked(), "buckets kept")
	later := t0.Add(time.Minute)
	require.Zero(t, l.wait(1, later), "a minute later user 1 waits")
	require.Equal(t, 1, l.tracked(), "buckets kept after the sweep (user 1's, just used)")
	require.Equal(t, time.Second, l.wait(1, later), "user 1's bucket was not kept after its send: the next waits")
}
