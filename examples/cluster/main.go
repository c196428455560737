// Command cluster runs one bot as three replicas that divide its
// conversations through Redis, kills one in the middle of a stream of
// messages, and shows its conversations taken over with nothing lost:
//
//	go run ./examples/cluster [-redis 127.0.0.1:6379] [-replicas 3] [-conversations 20] [-messages 400]
//
// It starts the embedded IM server, and a redis-server from PATH (Debian
// package redis-server) unless -redis (or IMBOT_REDIS) names one. Each
// replica is a process of its own, this program run as "cluster replica
// CONFIG", logged in as the bot's user (100) as a device of its own; its
// logs on stderr show the partitions it takes and lets go. A user (1001)
// sends the messages over group conversations with the bot, and the
// program prints who handled what, how long the takeover took, and
// whether any message was lost or answered twice.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbot-go/imbot/examples/internal/devserver"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

// userID is the user who chats with the bot.
const userID im.UserID = 1001

func main() { devserver.Main("cluster", run) }

// replicaCommand returns the command of a replica process: this program
// run as "cluster replica CONFIG". The tests, whose binary is not this
// program, run themselves instead.
var replicaCommand = func(cfg replicaConfig) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	return exec.Command(self, "replica", cfg.flag())
}

// run runs the demo, or one replica when args are "replica CONFIG".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 2 && args[0] == "replica" {
		var cfg replicaConfig
		if err := json.Unmarshal([]byte(args[1]), &cfg); err != nil {
			return fmt.Errorf("replica config: %w", err)
		}
		return runReplica(ctx, cfg, stdout, stderr)
	}
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	redisAddr := fs.String("redis", os.Getenv("IMBOT_REDIS"), "Redis address (default $IMBOT_REDIS; empty: start a redis-server from PATH)")
	replicas := fs.Int("replicas", 3, "replicas of the bot")
	convs := fs.Int("conversations", 20, "conversations with the bot")
	messages := fs.Int("messages", 400, "messages to send; the first replica is killed half way")
	lease := fs.Duration("lease", 2*time.Second, "the partitions' lease TTL: how long a dead replica's conversations wait")
	return devserver.Run(fs, args, stderr, func(srv *devserver.Server) error {
		if *replicas < 2 || *convs < 1 || *messages < 2 {
			return errors.New("need -replicas ≥ 2, -conversations ≥ 1 and -messages ≥ 2")
		}
		if *redisAddr == "" {
			dir, err := os.MkdirTemp("", "imbot-cluster-redis-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			rs, err := redistest.Launch(dir)
			if err != nil {
				return fmt.Errorf("%w (or pass -redis)", err)
			}
			defer rs.Stop()
			*redisAddr = rs.Addr()
		}
		f := newFleet(replicaCommand,
			replicaConfig{APIURL: srv.URL(), FrontierURL: srv.FrontierURL(), AppSecret: srv.AppSecret(), Redis: *redisAddr,
				// A prefix of this run's own: the server is new, and its conversation ids too.
				Prefix:   fmt.Sprintf("%srun-%d:", redisstate.BotPrefix(devserver.AppID, botID), time.Now().UnixNano()),
				LeaseTTL: *lease},
			stderr)
		defer f.close()
		rc := redis.NewClient(&redis.Options{Addr: *redisAddr})
		defer rc.Close()
		st, err := redisstate.Open(ctx, rc, redisstate.Options{Prefix: f.base.Prefix})
		if err != nil {
			return err
		}
		view, err := st.Cluster(redisstate.ClusterOptions{})
		if err != nil {
			return err
		}
		return demo(ctx, srv, f, view, demoConfig{replicas: *replicas, convs: *convs, messages: *messages}, stdout)
	})
}

type demoConfig struct{ replicas, convs, messages int }

// demo starts the replicas, sends the messages as userID and kills the
// first replica half way, waits for every reply, and prints the story.
func demo(ctx context.Context, srv *devserver.Server, f *fleet, view *redisstate.Cluster, cfg demoConfig, stdout io.Writer) error {
	for i := range cfg.replicas {
		if err := f.start(replicaName(i), time.Minute); err != nil {
			return err
		}
	}
	split, err := awaitSplit(ctx, view, cfg.replicas, time.Minute)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d replicas ready; partitions held: %v (their logs say which: bot: partitions taken).\n", cfg.replicas, split)
	c, err := newChat(ctx, srv.ClientOptions(userID), cfg.convs)
	if err != nil {
		return err
	}
	defer c.close()
	var killedAt time.Time
	for i := range cfg.messages {
		if i == cfg.messages/2 {
			if err := f.kill(replicaName(0)); err != nil {
				return err
			}
			killedAt = time.Now()
			fmt.Fprintf(stdout, "killed %s (SIGKILL) after %d messages.\n", replicaName(0), i)
		}
		if err := c.send(ctx, i); err != nil {
			return err
		}
	}
	if err := awaitReplies(ctx, c, cfg.messages, time.Minute); err != nil {
		return err
	}
	hs, err := f.awaitHandlings(ctx, cfg.messages, time.Minute)
	if err != nil {
		return err
	}
	r := summarize(hs, replicaName(0), killedAt)
	_, extra, _ := c.answered(cfg.messages)
	fmt.Fprintf(stdout, "every one of the %d messages was answered; %d answered twice.\n", cfg.messages, extra)
	fmt.Fprintf(stdout, "handled by replica: %v\n", r.byReplica)
	fmt.Fprintf(stdout, "%d handlings were of a message handled before (the killed replica's unfinished work).\n", r.again)
	if r.takeover > 0 {
		fmt.Fprintf(stdout, "the killed replica's conversations were handled again %v after the kill.\n", r.takeover.Round(time.Millisecond))
	}
	return nil
}

func replicaName(i int) string { return fmt.Sprint("r", i+1) }

// awaitSplit waits until every partition is held, by n replicas
// holding as many each, give or take one, and returns how many each
// holds.
func awaitSplit(ctx context.Context, view *redisstate.Cluster, n int, timeout time.Duration) (map[string]int, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond) // the leases change at the replicas' ticks, seconds apart
	defer tick.Stop()
	for {
		owners, err := view.Owners(ctx)
		if err != nil {
			return nil, err
		}
		counts := make(map[string]int)
		for _, r := range owners {
			counts[r]++
		}
		fewest, most := redisstate.DefaultPartitions, 0
		for _, k := range counts {
			fewest, most = min(fewest, k), max(most, k)
		}
		if len(owners) == redisstate.DefaultPartitions && len(counts) == n && most-fewest <= 1 {
			return counts, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the partitions were not split among %d replicas within %v: %v", n, timeout, counts)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// awaitReplies waits until each of the first n messages has a reply.
func awaitReplies(ctx context.Context, c *chat, n int, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		got, _, changed := c.answered(n)
		if got == n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("%d of %d messages answered within %v", got, n, timeout)
		}
	}
}

// report is what the replicas' handlings say.
type report struct {
	byReplica map[string]int
	again     int           // handlings of a message handled before
	takeover  time.Duration // from the kill to the first handling, by another replica, in a conversation the killed one handled
	moves     int           // times a conversation's handler changed
	// overlap is the longest a conversation was handled by two replicas
	// at once. The handlings of a conversation, in the order read, fall
	// into runs of one replica each; two replicas at once show as runs
	// that alternate between them, X Y X Y, where a conversation that
	// moves and moves back in good order shows X Y X. The overlap of
	// such a pattern is from the start of the first Y run to the end of
	// the second X run.
	overlap time.Duration
}

// handlerRun is a run of one replica's handlings of a conversation.
type handlerRun struct {
	replica     string
	first, last time.Time
}

func summarize(hs []handling, killed string, killedAt time.Time) report {
	r := report{byReplica: make(map[string]int)}
	type key struct {
		conv  im.ConversationID
		index int64
	}
	seen := make(map[key]bool)
	ownerAtKill := make(map[im.ConversationID]string) // each conversation's last handler before the kill
	runs := make(map[im.ConversationID][]handlerRun)
	for _, h := range hs {
		rs := runs[h.Conv]
		if n := len(rs); n > 0 && rs[n-1].replica == h.Replica {
			rs[n-1].last = h.At
		} else {
			if n > 0 {
				r.moves++
			}
			rs = append(rs, handlerRun{h.Replica, h.At, h.At})
			runs[h.Conv] = rs
		}
		if n := len(rs); n >= 4 && rs[n-1].replica == rs[n-3].replica && rs[n-2].replica == rs[n-4].replica {
			r.overlap = max(r.overlap, rs[n-2].last.Sub(rs[n-3].first))
		}
		r.byReplica[h.Replica]++
		k := key{h.Conv, h.Index}
		if seen[k] {
			r.again++
		}
		seen[k] = true
		switch {
		case killedAt.IsZero() || !h.At.After(killedAt):
			ownerAtKill[h.Conv] = h.Replica
		case r.takeover == 0 && h.Replica != killed && ownerAtKill[h.Conv] == killed:
			r.takeover = h.At.Sub(killedAt)
		}
	}
	return r
}
