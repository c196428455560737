package cron_test

import (
	"testing"

	"github.com/imbot-go/imbot/plugins/cron"
	"github.com/imbot-go/imbot/state"
	"github.com/imbot-go/imbot/state/statetest"
)

// The durable state file keeps a bot's last runs too.
var _ cron.Store = (*state.File)(nil)

func TestMemoryStoreConformance(t *testing.T) {
	statetest.TestRunStore(t, func(*testing.T) statetest.RunStore { return cron.NewMemoryStore() })
}
