// Package redisstate keeps a bot's state in Redis, where several
// processes of one bot can share it: the progress through its inbox, the
// dedup window, the rate buckets (one limit for all the replicas), the
// cron plugin's last runs, the friends plugin's daily cap (one count for
// all the replicas), leases with fencing, such as the cron plugin's
// leader, and the division of the conversations among the replicas.
//
//	client := redis.NewClient(&redis.Options{Addr: addr})
//	defer client.Close()
//	st, err := redisstate.Open(ctx, client, redisstate.Options{Prefix: redisstate.BotPrefix(appID, botUser)})
//	if err != nil {
//		return err
//	}
//	opts.Progress = st // bot.Options
//	b.Use(middleware.Dedup(st, 10*time.Minute),
//		middleware.RateLimit(middleware.RateLimitOptions{Global: global, Store: st}))
//	announcer, err := cron.New(cron.Options{Jobs: jobs, Store: st, Leader: st.Leader("cron")})
//	welcomer, err := friends.New(friends.Options{All: true, DailyCap: 100, CapStore: st})
//	cluster, err := st.Cluster(redisstate.ClusterOptions{Replica: hostname})
//	opts.Cluster = cluster // bot.Options
//
// A [Store] implements the small interfaces behind which imbot keeps
// state: [bot.ProgressStore], [middleware.DedupStore],
// [middleware.RateStore], the cron plugin's Store ([Store.LastRun],
// [Store.SetLastRun]) and Leader ([Store.Leader]), the friends plugin's
// CapStore ([Store.TakeCap], [Store.ReturnCap]), and [bot.Cluster]
// ([Store.Cluster]). It passes the
// conformance suites of package statetest, as the in-memory stores and
// the file store (package state) do, against a real redis-server.
//
// # Replicas
//
// What holds across replicas sharing a Store: one rate limit for all
// of them, one daily cap of the friends plugin for all of them, one cron
// leader at a time whose commits are fenced (each occurrence posted
// once), one progress that a restarted replica resumes from, and, with
// a [Cluster], the conversations divided among them, each handled by
// one replica at a time: set bot.Options.Cluster to st.Cluster(...)
// (see "Conversation ownership"). Without a Cluster, each replica
// handles every message it receives, and each receives
// them all: a shared middleware.Dedup drops the second copy of most,
// and the server answers a repeated reply (same client id) with the
// message it has, but two replicas that check a message at the same
// moment both handle it. So without a Cluster, run one replica per bot
// for each message to be handled once.
//
// # Conversation ownership
//
// A [Cluster] implements [bot.Cluster] over Redis. A conversation, or
// a bot.FriendKey, belongs to one of ClusterOptions.Partitions
// partitions (64 by default, the same on every replica) by the FNV-1a
// hash of its id ([Cluster.Partition]), and each partition is held by
// one replica at a time, under a lease.
//
// Members. Each replica in [Cluster.Run] refreshes its membership every
// quarter of Options.LeaseTTL, T, with one script that runs on Redis's
// clock, so that the replicas' clocks do not matter: the members are a
// sorted set scored by their expiry, now + T; the script drops those
// whose expiry passed and returns the others. A replica whose Run ends
// leaves the set at once; one that dies drops out T after its last
// refresh.
//
// Assignment. Every replica computes the same assignment from the
// members: a rendezvous hash of each pair of a member and a partition,
// taken from the highest down, bounded so that each member gets n/m of
// the n partitions, rounded down or up. A member that joins or leaves
// moves its share of the partitions and a few more.
//
// Leases. At each tick a replica tries once to take each partition
// assigned to it that it does not hold, from its third tick as a member
// on (a replica that joins, or finds that Redis lost the members, waits
// T/2 for the others to show up, so that it does not take every
// partition for itself only to hand most back, and so that the holders
// of leases Redis lost see it at their renewal first): partition p's lease is that of
// Store.Leader("part:<p>"), with its fencing token. While another
// replica holds it (finishing, or dead until the lease expires), the
// next tick tries again. Once it is taken, Run calls the bot with a
// bot.Claim whose Lease fences the commits made under it, as a
// Leader's lead does. The lease is renewed every T/3; when it is lost,
// or not renewed within 9/10 T of the last renewal sent, the Lease
// ends with ErrLeaseLost, before Redis would let another replica take
// the partition.
//
// Moving. When a partition held is assigned elsewhere (a member
// joined), its Lease ends with bot.ErrPartitionMoved, but the lease is
// renewed on until the bot calls the Claim's Release, once it has
// finished the partition's running handlers, so that their commits
// still pass the fence. Release deletes the lease, and the new owner
// takes the partition at its next tick. When Run's context ends, Run
// ends and releases its claims, and leaves the members.
//
// Timing. The others take over the partitions of a replica that leaves
// at their next tick, within about T/4 (after the handlers it finishes
// first). A replica that dies, or is cut off from Redis, has its leases
// expire in Redis within T of its last renewal (it ended its claims
// itself T/10 earlier), and its membership within T of its last tick:
// the others take its partitions at their next tick, within about
// T + T/4 (6.25 s with the default TTL). A replica that starts takes
// its first partitions T/2 after it joined. A Redis restarted empty loses
// the leases and the members: the claims end with ErrLeaseLost, the
// bot releases them, and the replicas take the partitions again, with
// tokens from 1.
//
// # Keys
//
// Every key begins with Options.Prefix, P, which says whose state it is:
// each bot of each app needs its own, and the replicas of one bot share
// it, so that many bots share one Redis. [BotPrefix] gives
// "imbot:{app:user}:", whose braces are a Redis Cluster hash tag that
// keeps a bot's keys in one slot. The keys are:
//
//	P format               string  "imbot-redis 1", written by the first Open
//	P cursor               string  the sync cursor, decimal; absent until the first commit
//	P handled              hash    conversation id → index of the last message handled, decimal
//	P dedup:<key>          string  the expiry, ns since 1970, decimal; PXAT that expiry
//	P rate:<s>:<u>:<c>     hash    t → tokens (%.17g), a → their time, µs since 1970; PEXPIRE a minute after full
//	P runs                 hash    cron job → last run, RFC 3339 with ns and offset
//	P caps:<day>           string  the friends plugin's accepts on day under its DailyCap, a counter; PX two days from its first take
//	P lease:<name>         string  "<token>:<holder>" of the lease's holder; PX the lease TTL
//	P fence:<name>         string  the fencing token of the lease's last holder, a counter
//	P members              zset    Cluster replica → its expiry, ms since 1970 on Redis's clock; PEXPIRE the lease TTL
//	P lease:part:<p>       string  partition p's lease, "<token>:<replica>/<random>"; PX the lease TTL
//	P fence:part:<p>       string  the fencing token of partition p's last holder, a counter
//
// In partition keys, p is the partition, decimal, from 0. In cap keys,
// day is the date the plugin passes, in its Options.Location
// ("2026-03-01"): two days outlive the day in any time zone. In rate
// keys, s is the scope (middleware.LimitScope: 1 per user, 2 per
// conversation, 3 global), u the user id (0 when the scope has none),
// and c the conversation id, empty when the scope has none. A
// change of layout gets a new format, and Open refuses a prefix of
// another format with [ErrFormat].
//
// # Atomicity, and round trips
//
// Each write is one command or one Lua script, so that replicas
// writing at once cannot interleave inside one: a progress commit keeps
// the maximum of the cursor and of the conversation's index, a rate
// take does the arithmetic of middleware.RateBucket, a cap take counts
// only while the day is under its limit, a lease changes hands and
// counts its fencing token in one script. The scripts go by
// EVALSHA, and by EVAL when Redis does not have them (after a restart).
//
// The calls that come while a round trip to Redis is under way, from
// any goroutine (the bot handles conversations in parallel), wait and go
// together in one pipeline in the next round trip, so that under load
// many conversations' commits, dedup checks and takes share round trips,
// while a lone call waits for none. A message costs four calls (Seen,
// Take, Mark, CommitProgress), so four round trips when alone, and a
// fraction of one each when many conversations are busy (see the
// benchmark in bench_test.go). A replica of a [Cluster] needs no
// middleware.Dedup (its partition's owner alone handles a message, and
// the committed index skips what was handled): two round trips alone.
//
// # Time
//
// The stores compare the times they are given, as the other stores do:
// a dedup key is seen until the expiry it was marked with, and a rate
// bucket refills by the nows of its takes. Redis expires keys on its own
// clock, which only forgets what no longer counts (dedup keys at their
// expiry, rate buckets a minute after they are full again), so that a
// clock skew between replicas and Redis shortens or lengthens the dedup
// window by the skew. A rate bucket never goes back in time: a take
// with a now before the bucket's last take counts at that take's time,
// so that replicas whose clocks differ count as the one furthest ahead
// rather than refilling the bucket each time their takes alternate.
//
// # Leases and fencing
//
// A [Leader] holds a lease, renewing it every third of Options.LeaseTTL,
// and gives its holder a lead context that ends when the lease is lost;
// each new holder gets a fencing token one more than the last. A commit
// made with a lead context (CommitProgress, SetLastRun) is made only if
// the lease is still held under the same token, checked atomically in
// the commit's script, and refused with [ErrFenced] otherwise: a replica
// that lost its lease, stalled or cut off from Redis, cannot overwrite
// the work of the one that took it over.
//
// # Durability, and errors
//
// A write returns once Redis has applied it: the state is as durable as
// the server makes it (its RDB snapshots or append-only file, and its
// replicas). A Redis that restarts empty loses it all: the bot then
// starts over as on an empty store, and the leases start over, with
// tokens from 1 (the holder in a lease's value still tells the new
// holders from the old, so that fencing holds).
//
// Failures are errors, never panics: each names the call and wraps the
// client's error, so that errors.Is finds context.Canceled and
// context.DeadlineExceeded, and the client's errors for a Redis that
// cannot be reached. The client honours a context's deadline only with
// redis.Options.ContextTimeoutEnabled; without it, its own timeouts
// (DialTimeout, ReadTimeout) bound each call, and a lease is still lost
// on time, by a timer of its own. A record that does not decode is an
// [ErrFormat] error. The client reconnects on its own: once Redis is
// back, the calls succeed again.
//
// # Tests
//
// Package redistest starts a real redis-server for tests; its tests skip
// where redis-server is not installed (Debian package redis-server),
// unless the environment variable IMBOT_REQUIRE_REDIS is 1, which CI
// sets to make them fail instead.
package redisstate
