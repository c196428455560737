package state_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/middleware"
	"github.com/imbot-go/imbot/state"
	"github.com/imbot-go/imbot/state/statetest"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path) // the child of TestCrashKeepsCommits
		return
	}
	goleak.VerifyTestMain(m)
}

// open opens a new File in a temporary directory, closed at the test's
// cleanup.
func open(t *testing.T) *state.File {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "state.db"), nil)
}

// openAt opens the File at path, closed at the test's cleanup.
func openAt(t *testing.T, path string, opts *state.Options) *state.File {
	t.Helper()
	f, err := state.Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// reopen closes f and opens its file again.
func reopen(t *testing.T, f *state.File) *state.File {
	t.Helper()
	require.NoError(t, f.Close(), "Close")
	return openAt(t, f.Path(), nil)
}

func TestProgressConformance(t *testing.T) {
	t.Parallel()
	statetest.TestDurableProgressStore(t,
		func(t *testing.T) bot.ProgressStore { return open(t) },
		func(t *testing.T, s bot.ProgressStore) bot.ProgressStore { return reopen(t, s.(*state.File)) })
}

func TestDedupConformance(t *testing.T) {
	t.Parallel()
	statetest.TestDurableDedupStore(t,
		func(t *testing.T) middleware.DedupStore { return open(t) },
		func(t *testing.T, s middleware.DedupStore) middleware.DedupStore { return reopen(t, s.(*state.File)) })
}

func TestRateConformance(t *testing.T) {
	t.Parallel()
	statetest.TestDurableRateStore(t,
		func(t *testing.T) middleware.RateStore { return open(t) },
		func(t *testing.T, s middleware.RateStore) middleware.RateStore { return reopen(t, s.(*state.File)) })
}

func TestRunConformance(t *testing.T) {
	t.Parallel()
	statetest.TestDurableRunStore(t,
		func(t *testing.T) statetest.RunStore { return open(t) },
		func(t *testing.T, s statetest.RunStore) statetest.RunStore { return reopen(t, s.(*state.File)) })
}
