package state

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// The embedded server's bucket and counter names that Open compares are
// a copy of those in imserver/records.go; this test keeps it up to date.
func TestIMServerNames(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("../imserver/records.go")
	require.NoError(t, err)
	names := func(re string) []string {
		var got []string
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(string(src), -1) {
			got = append(got, m[1])
		}
		return got
	}
	require.Equal(t, names(`(?m)^\s+bucket\w+\s*=\s*"([^"]+)"`), imserverBuckets, "the server's buckets, in imserver/records.go's order")
	require.Equal(t, names(`(?m)^\s+counter\w+\s*=\s*"([^"]+)"`), imserverCounters, "the server's counters, in imserver/records.go's order")
}
