package statetest_test

import (
	"testing"

	"github.com/imbot-go/imbot/plugins/cron"
	"github.com/imbot-go/imbot/state/statetest"
)

// The in-process election of the cron plugin passes the Leader suite,
// as plugins sharing one LocalLeader use it.
func TestLocalLeaderConformance(t *testing.T) {
	statetest.TestLeader(t, func(_ *testing.T, n int) []statetest.Leader {
		l := cron.NewLocalLeader()
		ls := make([]statetest.Leader, n)
		for i := range ls {
			ls[i] = l
		}
		return ls
	})
}
