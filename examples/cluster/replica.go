package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/examples/internal/devserver"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/plugins/cron"
	"github.com/imbot-go/imbot/state/redisstate"
)

// botID is the user the replicas of the bot log in as, each as its own
// device.
const botID im.UserID = 100

// replicaConfig is what a replica process is told by the process that
// starts it: JSON in the -replica flag.
type replicaConfig struct {
	Name        string        // the replica's name: its device and its name in the cluster
	APIURL      string        // the IM server's
	FrontierURL string        // the IM server's
	AppSecret   string        // the IM server's, to mint the bot's tokens
	Redis       string        // the Redis address
	Prefix      string        // the bot's keys in Redis
	LeaseTTL    time.Duration // the partitions' lease TTL, and the cron leader's
	// Announce is a conversation to post an announcement to every
	// second, by the cron plugin, which the replicas elect one of to
	// run (announceLine); "" for none.
	Announce im.ConversationID `json:",omitempty"`
}

func (c replicaConfig) flag() string {
	b, _ := json.Marshal(c) // plain fields: cannot fail
	return string(b)
}

// handledLine is what a replica prints on stdout for each message it
// handles, for the process that watches it: the conversation, the
// message's index, and the replica.
const handledLine = "handled %s %d %s\n"

// runReplica runs one replica of the bot until ctx ends: an echo bot
// whose progress, partitions and leases are in Redis, so that the
// replicas divide the conversations between them. It prints a line on
// stdout for each message it handles (handledLine) and logs its
// partitions on stderr.
func runReplica(ctx context.Context, cfg replicaConfig, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil)).With("replica", cfg.Name)
	rc := redis.NewClient(&redis.Options{Addr: cfg.Redis})
	defer rc.Close()
	st, err := redisstate.Open(ctx, rc, redisstate.Options{Prefix: cfg.Prefix, LeaseTTL: cfg.LeaseTTL})
	if err != nil {
		return err
	}
	cluster, err := st.Cluster(redisstate.ClusterOptions{Replica: cfg.Name, Logger: log})
	if err != nil {
		return err
	}
	b, err := bot.New(bot.Options{
		Client: im.Options{
			AppID: devserver.AppID, UserID: botID, DeviceID: cfg.Name,
			APIURL: cfg.APIURL, FrontierURL: cfg.FrontierURL,
			Token:       imserver.TokenSource(devserver.AppID, int64(botID), cfg.AppSecret, time.Hour),
			TokenExpiry: imserver.TokenExpiry,
			Logger:      log,
		},
		Progress: st,
		Cluster:  cluster,
		Logger:   log,
	})
	if err != nil {
		return err
	}
	if cfg.Announce != "" {
		p, err := announcer(cfg, st, log)
		if err != nil {
			return err
		}
		if err := b.Plug(p); err != nil {
			return err
		}
	}
	var mu sync.Mutex // one handled line at a time
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		m := c.Event.Message
		if !c.FromUser() || m.Text() == "" {
			return nil
		}
		mu.Lock()
		_, err := fmt.Fprintf(stdout, handledLine, m.ConversationID, m.Index, cfg.Name)
		mu.Unlock()
		if err != nil {
			return err
		}
		_, err = c.Reply(cfg.Name + ": " + m.Text())
		return err
	}))
	running, stop := context.WithCancel(ctx)
	defer stop()
	go func() { // ends when the bot is ready, or once Run returned
		select {
		case <-b.Ready():
			mu.Lock()
			fmt.Fprintln(stdout, readyLine)
			mu.Unlock()
		case <-running.Done():
		}
	}()
	return b.Run(ctx)
}

// announceJob is the id of the announcement's cron job, announceLine
// its text: the occurrence's scheduled time (RFC 3339, UTC) and the
// replica that posted it, for a reader to count the posts of each
// occurrence and tell who leads.
const (
	announceJob  = "announce"
	announceLine = "occurrence %s by %s"
)

// announcer returns the cron plugin that posts the announcement to
// cfg.Announce every second while this replica leads: the replicas
// compete for one lease, st.Leader("cron"), and keep the job's last run
// in st, where a new leader finds what the last one posted. The job's
// missed-run policy is the default, cron.MissedSkip: the occurrences
// that fall due while no replica leads are not posted late.
func announcer(cfg replicaConfig, st *redisstate.Store, log *slog.Logger) (*cron.Plugin, error) {
	return cron.New(cron.Options{
		Jobs: []cron.Job{{
			ID: announceJob,
			// Every second of the clock, seconds first: the same
			// occurrences, with the same idempotency keys, whichever
			// replica leads. (An @every job counts from when its
			// leader started.)
			Spec:     "* * * * * *",
			TimeZone: "UTC",
			Targets:  cron.Targets{Conversations: []im.ConversationID{cfg.Announce}},
			Compose: func(_ context.Context, o cron.Occurrence) (im.OutgoingMessage, error) {
				return im.OutgoingMessage{Content: im.TextContent(fmt.Sprintf(announceLine, o.Time.Format(time.RFC3339), cfg.Name))}, nil
			},
		}},
		Store:  st,
		Leader: loggedLeader{next: st.Leader("cron"), log: log},
	})
}

// leadingMsg is what a replica logs when it starts leading the cron
// jobs.
const leadingMsg = "cron: leading"

// loggedLeader is a cron.Leader that logs when this replica starts and
// stops leading the cron jobs: the plugin does not say, and the logs
// then tell who posted when.
type loggedLeader struct {
	next cron.Leader
	log  *slog.Logger
}

// Acquire implements cron.Leader.
func (l loggedLeader) Acquire(ctx context.Context) (context.Context, func(), error) {
	lead, release, err := l.next.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	l.log.Info(leadingMsg)
	return lead, func() {
		// The plugin releases once lead ended: its cause says why.
		l.log.Info("cron: lead ended", "cause", context.Cause(lead))
		release()
	}, nil
}
