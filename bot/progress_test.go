package bot_test

import (
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/state"
	"github.com/imbot-go/imbot/state/statetest"
)

func TestMemoryProgressConformance(t *testing.T) {
	t.Parallel()
	statetest.TestProgressStore(t, func(*testing.T) bot.ProgressStore { return new(bot.MemoryProgress) })
}

// A bot whose progress is in a state file handles each message once
// across a restart of the process: the next run opens the file again,
// skips what the run before handled and handles what came meanwhile.
func TestRestartOnStateFile(t *testing.T) {
	s := imtest.NewServer(t)
	path := filepath.Join(t.TempDir(), "bot.state")
	u := s.NewUser(t, 1)
	var convs []im.ConversationRef
	for range 3 {
		convs = append(convs, u.CreateGroup(t, botID))
	}
	h := newHandled()
	// run opens the file and starts a bot on it; stop stops the bot and
	// closes the file, as a process that ends would.
	run := func() (stop func()) {
		t.Helper()
		f, err := state.Open(path, nil)
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() }) // after the bot's stop, registered later
		b := s.NewBot(t, botID, func(o *bot.Options) { o.Progress = f })
		b.Handle(recorder(h))
		stopBot := start(t, b)
		return func() {
			stopBot()
			assert.NoError(t, f.Close(), "Close")
		}
	}
	send := func(from, to int) {
		for i := from; i < to; i++ {
			for _, c := range convs {
				u.Send(t, c, strconv.Itoa(i))
			}
		}
	}
	stop := run()
	send(0, 5)
	h.waitFor(t, 15, waitFor)
	stop()
	send(5, 10) // while no bot runs
	run()
	h.waitFor(t, 30, waitFor)
	first := map[im.ConversationID]int64{}
	for _, c := range convs {
		first[c.ID] = 1
	}
	h.check(t, convs, first, 10)
}
