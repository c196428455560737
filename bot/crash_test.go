package bot_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/state"
)

// The crash test runs the bot in a child process: the test binary again,
// with crashChildEnv set, which TestMain sends to crashChild.
const (
	crashChildEnv   = "IMBOT_TEST_CRASH_CHILD"
	crashWorkers    = 4
	crashConvs      = 50
	crashPerConv    = 20
	crashKillAfter  = 300 // replies seen before the first bot is killed
	crashAppIDEnv   = "IMBOT_TEST_APP_ID"
	crashAPIEnv     = "IMBOT_TEST_API_URL"
	crashWSEnv      = "IMBOT_TEST_FRONTIER_URL"
	crashTokenEnv   = "IMBOT_TEST_TOKEN"
	crashStateEnv   = "IMBOT_TEST_STATE"
	crashRunsLogEnv = "IMBOT_TEST_RUNS_LOG"
)

// crashChild runs a bot on the durable state file until it is killed (or
// interrupted): it appends "<conversation> <index>" to the runs log as
// each handler starts, then replies "ack <index>".
func crashChild() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 1
	}
	appID, err := strconv.ParseInt(os.Getenv(crashAppIDEnv), 10, 64)
	if err != nil {
		return fail(err)
	}
	store, err := state.Open(os.Getenv(crashStateEnv), nil)
	if err != nil {
		return fail(err)
	}
	defer store.Close()
	runs, err := os.OpenFile(os.Getenv(crashRunsLogEnv), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fail(err)
	}
	defer runs.Close()
	token := os.Getenv(crashTokenEnv)
	b, err := bot.New(bot.Options{
		Client: im.Options{
			AppID: appID, UserID: botID, APIURL: os.Getenv(crashAPIEnv), FrontierURL: os.Getenv(crashWSEnv),
			Token:         func(context.Context) (string, error) { return token, nil },
			ReconnectWait: func(int) time.Duration { return 10 * time.Millisecond },
		},
		Workers:  crashWorkers,
		Progress: store,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fail(err)
	}
	var mu sync.Mutex
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		m := c.Event.Message
		mu.Lock()
		_, err := fmt.Fprintf(runs, "%s %d\n", m.ConversationID, m.Index)
		mu.Unlock()
		if err != nil {
			return err
		}
		_, err = c.Reply("ack " + strconv.FormatInt(m.Index, 10))
		return err
	}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() { // ends with the process
		<-b.Ready()
		fmt.Println("ready")
	}()
	if err := b.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}

// TestKilledBotResumesOnItsStateFile kills a bot process (SIGKILL, no
// shutdown) while 1000 messages across 50 conversations arrive, then
// starts it again on the same state file: every message gets exactly one
// reply, in order within its conversation, and a handler runs twice only
// for the messages in flight at the kill.
func TestKilledBotResumesOnItsStateFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts bot processes; skipped with -short")
	}
	s := imtest.NewServer(t)
	dir := t.TempDir()
	env := append(os.Environ(),
		crashChildEnv+"=1",
		crashAppIDEnv+"="+strconv.FormatInt(s.AppID(), 10),
		crashAPIEnv+"="+s.URL(),
		crashWSEnv+"="+s.FrontierURL(),
		crashTokenEnv+"="+s.Token(botID),
		crashStateEnv+"="+filepath.Join(dir, "bot.state"),
		crashRunsLogEnv+"="+filepath.Join(dir, "runs.log"),
	)
	// The observer is in every conversation and counts the bot's replies.
	observer := s.NewUser(t, 999)
	replies := make(chan string, crashConvs*crashPerConv*2)
	observer.Client.OnMessageReceived(func(e im.MessageEvent) {
		if e.Message.Sender == botID {
			replies <- string(e.Message.ConversationID) + " " + e.Message.Text()
		}
	})
	senders := make([]*imtest.User, 10)
	for i := range senders {
		senders[i] = s.NewUser(t, im.UserID(1+i))
	}
	refs := make([]im.ConversationRef, crashConvs)
	for i := range refs {
		refs[i] = senders[i%len(senders)].CreateGroup(t, botID, observer.ID())
	}

	child := startCrashChild(t, env)
	var sends sync.WaitGroup
	for si, u := range senders {
		sends.Go(func() {
			for n := range crashPerConv {
				for ci := si; ci < crashConvs; ci += len(senders) {
					_, err := u.Client.SendMessage(context.Background(), refs[ci],
						im.OutgoingMessage{Content: im.TextContent(strconv.Itoa(n))})
					if !assert.NoError(t, err, "send") {
						return
					}
				}
			}
		})
	}
	seen := map[string]int{}
	collect := func(n int, then func()) {
		deadline := time.NewTimer(60 * time.Second)
		defer deadline.Stop()
		for len(seen) < n {
			select {
			case r := <-replies:
				seen[r]++
			case <-deadline.C:
				t.Fatalf("%d of %d replies within 60s", len(seen), n)
			}
		}
		then()
	}
	collect(crashKillAfter, child.kill)
	child = startCrashChild(t, env)
	collect(crashConvs*crashPerConv, func() {})
	sends.Wait()
	child.stop(t)

	// The server's record: each conversation holds one "ack i" per user
	// message i, in order.
	ctx := context.Background()
	for _, ref := range refs {
		var users, acks []int64
		for anchor := int64(0); ; {
			page, err := observer.Client.LoadMessages(ctx, ref, im.MessageDirectionNewer, anchor, 100)
			require.NoError(t, err)
			for _, m := range page.Messages {
				switch m.Sender {
				case botID:
					i, err := strconv.ParseInt(strings.TrimPrefix(m.Text(), "ack "), 10, 64)
					require.NoError(t, err, "%s: bot message %q", ref.ID, m.Text())
					acks = append(acks, i)
				case observer.ID():
				default:
					users = append(users, m.Index)
				}
			}
			if !page.HasMore || len(page.Messages) == 0 {
				break
			}
			anchor = page.Next
		}
		assert.Len(t, users, crashPerConv, "%s: user messages", ref.ID)
		assert.Equal(t, users, acks, "%s: the acks of the user messages; want one each, in order", ref.ID)
	}
	// The runs log: every message's handler ran; more than once only for
	// the few in flight when the first bot died.
	runs := map[string]int{}
	f, err := os.Open(filepath.Join(dir, "runs.log"))
	require.NoError(t, err)
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		runs[sc.Text()]++
	}
	again := 0
	for _, n := range runs {
		again += n - 1
	}
	assert.Len(t, runs, crashConvs*crashPerConv, "messages whose handlers ran")
	assert.LessOrEqual(t, again, crashWorkers, "handlers that ran again (at most those in flight at the kill)")
	for r, n := range seen {
		assert.LessOrEqual(t, n, 1, "times reply %q was pushed", r)
	}
}

// crashProcess is a running bot child process.
type crashProcess struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once Wait returned, with err set
	err    error
}

func startCrashChild(t *testing.T, env []string) *crashProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &crashProcess{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() { // ends when the child exits
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
			}
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.kill)
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("bot process exited before it was ready: %v", p.err)
	case <-time.After(waitFor):
		t.Fatalf("bot process not ready within %v", waitFor)
	}
	return p
}

// kill ends the process at once (SIGKILL: no shutdown of any kind) and
// waits for it. Killing an exited process does nothing.
func (p *crashProcess) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// stop asks the process to shut down gracefully and checks its exit.
func (p *crashProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	select {
	case <-p.exited:
		assert.NoError(t, p.err, "bot process")
	case <-time.After(2 * waitFor):
		t.Errorf("bot process did not stop within %v", 2*waitFor)
	}
}
