package redisstate_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/middleware"
	"github.com/imbot-go/imbot/state/redisstate"
)

// Each replica of a bot opens a Store of the bot's prefix on the one
// Redis they share, and hands it to the bot, its middleware and its
// cron plugin (cron.Options{Store: st, Leader: st.Leader("cron")}).
// Work done under a lease commits only while the lease is held. (This
// example needs a Redis on localhost:6379, so it is not run.)
func Example() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
	defer client.Close()
	st, err := redisstate.Open(ctx, client, redisstate.Options{Prefix: redisstate.BotPrefix(1, 100)})
	if err != nil {
		log.Fatal(err)
	}
	opts := bot.Options{Progress: st} // and the bot's own options
	dedup := middleware.Dedup(st, 10*time.Minute)
	limit := middleware.RateLimit(middleware.RateLimitOptions{Global: middleware.Limit{Rate: 20, Burst: 40}, Store: st})
	_, _, _ = opts, dedup, limit // bot.New(opts), then b.Use(dedup, limit)

	lead, release, err := st.Leader("report").Acquire(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer release()
	token, _ := redisstate.Fence(lead)
	fmt.Println("leading with token", token)
	switch err := st.SetLastRun(lead, "report", time.Now()); {
	case errors.Is(err, redisstate.ErrFenced):
		fmt.Println("the lease was lost: another replica leads now")
	case err != nil:
		log.Fatal(err)
	}
}

// Every key of a bot begins with its prefix; the braces keep them in
// one Redis Cluster slot.
func ExampleBotPrefix() {
	p := redisstate.BotPrefix(7, 100)
	fmt.Println(p)
	fmt.Println(p + "handled")
	fmt.Println(p + "lease:cron")
	// Output:
	// imbot:{7:100}:
	// imbot:{7:100}:handled
	// imbot:{7:100}:lease:cron
}

// Replicas of one bot divide its conversations: each opens the shared
// Store and its Cluster under a name of its own (the pod's, say), logs
// in as a device of its own, and hands both to the bot; the bot then
// handles only the conversations of the partitions it holds. With a
// Cluster, middleware.Dedup is not needed. (This example needs a Redis
// and an IM server, so it is not run.)
func ExampleStore_Cluster() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer client.Close()
	st, err := redisstate.Open(ctx, client, redisstate.Options{Prefix: redisstate.BotPrefix(1, 100), LeaseTTL: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	const replica = "bot-7d9f-x2"
	cluster, err := st.Cluster(redisstate.ClusterOptions{Replica: replica})
	if err != nil {
		log.Fatal(err)
	}
	opts := bot.Options{Progress: st, Cluster: cluster} // and the bot's own options
	opts.Client.DeviceID = replica
	b, err := bot.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	go func() { // once running, which partitions it holds, and who holds the others
		<-b.Ready()
		owners, _ := cluster.Owners(ctx)
		fmt.Println("this replica holds", b.Partitions(), "of", len(owners), "held")
	}()
	log.Fatal(b.Run(ctx))
}
