package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/examples/internal/devserver/devservertest"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

// replicaEnv holds a replica's config when this test binary runs as a
// replica process of TestFailover.
const replicaEnv = "IMBOT_CLUSTER_REPLICA"

// TestReplicaProcess is a replica of the bot, when a test started this
// binary as one; it skips otherwise.
func TestReplicaProcess(t *testing.T) {
	cfg := os.Getenv(replicaEnv)
	if cfg == "" {
		t.Skip("the body of the replica processes of TestFailover")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	require.NoError(t, run(ctx, []string{"replica", cfg}, os.Stdout, os.Stderr))
}

func TestMain(m *testing.M) {
	replicaCommand = testReplica
	os.Exit(m.Run())
}

// testReplica is the command of a replica process in the tests: this
// test binary run as TestReplicaProcess.
func testReplica(cfg replicaConfig) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestReplicaProcess$")
	cmd.Env = append(os.Environ(), replicaEnv+"="+cfg.flag())
	return cmd
}

// go run ./examples/cluster, on a small stream: three replicas split
// the partitions, the first is killed half way, and every message is
// answered once.
func TestRun(t *testing.T) {
	r := redistest.Start(t)
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), []string{"-redis", r.Addr(), "-messages", "60", "-conversations", "6", "-lease", "500ms"}, &stdout, &stderr)
	require.NoError(t, err, "run; stderr:\n%s", stderr.String())
	out := stdout.String()
	assert.Regexp(t, `^3 replicas ready; partitions held: map\[r1:2[12] r2:2[12] r3:2[12]\]`, out)
	assert.Contains(t, out, "killed r1 (SIGKILL) after 30 messages.\n")
	assert.Contains(t, out, "every one of the 60 messages was answered; 0 answered twice.\n")
}

func TestRunHelp(t *testing.T) {
	devservertest.Help(t, run, "cluster", "redis", "replicas", "conversations", "messages", "lease")
}

// testFleet returns a fleet of replica processes, this test binary run
// as TestReplicaProcess, of the bot on s and r, stopped at t's cleanup.
func testFleet(t *testing.T, s *imtest.Server, r *redistest.Server, ttl time.Duration) *fleet {
	f := newFleet(testReplica, replicaConfig{APIURL: s.URL(), FrontierURL: s.FrontierURL(), AppSecret: s.Config.AppSecret, Redis: r.Addr(),
		Prefix: redisstate.BotPrefix(s.AppID(), botID), LeaseTTL: ttl}, os.Stderr)
	t.Cleanup(func() { assert.NoError(t, f.close(), "stopping the replicas") })
	return f
}

// TestFailover runs 3 replicas over 100 conversations and 2000 messages;
// one is killed (SIGKILL) a third of the way, a second stopped gracefully
// two thirds of the way and a new one started: every message is
// answered once, the first handlings of each conversation are in order,
// the only messages handled twice are the killed replica's, and the
// takeover comes within 2 lease TTLs of the kill.
func TestFailover(t *testing.T) {
	const ttl = time.Second
	const convs, messages = 100, 2000
	s := imtest.NewServer(t)
	r := redistest.Start(t)
	f := testFleet(t, s, r, ttl)
	for _, name := range []string{"r1", "r2", "r3"} {
		require.NoError(t, f.start(name, imtest.DefaultTimeout))
	}
	ctx := t.Context()
	c, err := newChat(ctx, s.Options(userID), convs)
	require.NoError(t, err)
	t.Cleanup(c.close)

	var killedAt time.Time
	for i := range messages {
		switch i {
		case messages / 3:
			require.NoError(t, f.kill("r1"))
			killedAt = time.Now()
		case 2 * messages / 3:
			require.NoError(t, f.stop("r2"), "r2's graceful stop")
			require.NoError(t, f.start("r4", imtest.DefaultTimeout))
		}
		require.NoError(t, c.send(ctx, i), "sending message %d", i)
	}
	require.NoError(t, awaitReplies(ctx, c, messages, 30*time.Second))
	_, extra, _ := c.answered(messages)
	assert.Zero(t, extra, "replies beyond one per message")

	hs, err := f.awaitHandlings(ctx, messages, 10*time.Second)
	require.NoError(t, err)
	type key struct {
		conv  im.ConversationID
		index int64
	}
	first := make(map[key]handling)
	order := make(map[im.ConversationID][]int64) // first handlings, in the order the replicas said them
	var again []handling
	for _, h := range hs {
		k := key{h.Conv, h.Index}
		if prev, ok := first[k]; ok {
			again = append(again, h)
			assert.Equal(t, "r1", prev.Replica, "message %d of %s handled again by %s: only the killed replica leaves work to redo", h.Index, h.Conv, h.Replica)
			continue
		}
		first[k] = h
		order[h.Conv] = append(order[h.Conv], h.Index)
	}
	for _, conv := range c.convs {
		got := order[conv.ID]
		assert.Len(t, got, messages/convs, "messages of %s handled", conv.ID)
		assert.True(t, slices.IsSorted(got) && len(slices.Compact(slices.Clone(got))) == len(got),
			"first handlings of %s in order: %v", conv.ID, got)
	}
	rep := summarize(hs, "r1", killedAt)
	t.Logf("handled by replica %v; %d handled again; takeover %v after the kill (lease TTL %v); %d moves of a conversation, longest overlap %v",
		rep.byReplica, len(again), rep.takeover, ttl, rep.moves, rep.overlap)
	assert.Zero(t, rep.overlap, "time a conversation was handled by two replicas at once")
	assert.Positive(t, rep.takeover, "a replica handled the killed one's conversations")
	assert.LessOrEqual(t, rep.takeover, 2*ttl, "takeover time")
}
