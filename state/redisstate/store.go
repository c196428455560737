package redisstate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/middleware"
)

// DefaultLeaseTTL is the lease time of a [Leader] when Options.LeaseTTL
// is zero: a replica that dies is replaced within about that long.
const DefaultLeaseTTL = 5 * time.Second

// format is the value of the format record of a prefix. A change of the
// key layout gets a new one.
const format = "imbot-redis 1"

// maxBatch bounds the commands of one round trip, so that a caller that
// leads one does not carry an unbounded queue.
const maxBatch = 512

// Errors of the Store. The errors of Redis and of the client are
// wrapped, so that errors.Is finds context.Canceled,
// context.DeadlineExceeded and the client's own.
var (
	// ErrFormat is returned by Open when the prefix holds the state of
	// another format, and by the stores for a record they cannot decode.
	ErrFormat = errors.New("redisstate: not imbot state of this format")
	// ErrFenced is returned by a commit (CommitProgress, SetLastRun)
	// made with the context of a lease that its holder no longer holds:
	// the store refused it, so that a replica that lost its lease
	// cannot overwrite the work of the one that took it.
	ErrFenced = errors.New("redisstate: commit refused: the lease it was made under is no longer held")
	// ErrLeaseLost is the cause (context.Cause) of the end of a lead
	// context whose lease was taken, or could not be renewed before it
	// expired.
	ErrLeaseLost = errors.New("redisstate: lease lost")
)

// Options configures Open; Open copies it.
type Options struct {
	// Prefix begins every key of the Store; it is required. Each bot,
	// of each app, needs its own: BotPrefix gives one. Stores of one bot
	// (its replicas) share it.
	Prefix string
	// LeaseTTL is how long a lease lasts unless renewed (it is renewed
	// every third of it). Zero means DefaultLeaseTTL; it must not be
	// negative, and Redis counts it in milliseconds.
	LeaseTTL time.Duration
}

// BotPrefix returns the key prefix of the bot user of app,
// "imbot:{app:user}:". The braces are a Redis Cluster hash tag: all the
// keys of a bot live in one slot, so that the scripts that touch
// several of them (a commit and its lease) run there too.
func BotPrefix(app int64, user im.UserID) string {
	return "imbot:{" + strconv.FormatInt(app, 10) + ":" + strconv.FormatInt(int64(user), 10) + "}:"
}

// Store is a bot's state in Redis, shared by the replicas that open it
// with the same prefix: its progress ([bot.ProgressStore]), the dedup
// window ([middleware.DedupStore]), the rate buckets
// ([middleware.RateStore]), the cron plugin's last runs (LastRun,
// SetLastRun) and leases (Leader). See the package doc for the keys
// and for what each keeps.
//
// A Store is safe for concurrent use. It starts no goroutine of its own
// (a lead that a Leader returns runs one until it is released) and does
// not own its client: the caller closes the client when it is done.
type Store struct {
	client   redis.UniversalClient
	prefix   string
	leaseTTL time.Duration
	batch    batcher

	keyCursor, keyHandled, keyRuns string
}

var (
	_ bot.ProgressStore     = (*Store)(nil)
	_ middleware.DedupStore = (*Store)(nil)
	_ middleware.RateStore  = (*Store)(nil)
)

// Open checks that client reaches Redis and that opts.Prefix holds
// imbot state of this format or nothing, writing the format record when
// it holds nothing, and returns a Store over it. It fails with ErrFormat
// for a prefix of another format, and with the client's error, wrapped,
// when Redis cannot be reached.
func Open(ctx context.Context, client redis.UniversalClient, opts Options) (*Store, error) {
	switch {
	case client == nil:
		return nil, errors.New("redisstate: Open: nil client")
	case opts.Prefix == "":
		return nil, errors.New("redisstate: Open: Options.Prefix is empty; each bot needs its own (BotPrefix)")
	case opts.LeaseTTL < 0:
		return nil, fmt.Errorf("redisstate: Open: Options.LeaseTTL %v is negative", opts.LeaseTTL)
	case opts.LeaseTTL == 0:
		opts.LeaseTTL = DefaultLeaseTTL
	case opts.LeaseTTL < 3*time.Millisecond:
		return nil, fmt.Errorf("redisstate: Open: Options.LeaseTTL %v is below 3ms", opts.LeaseTTL)
	}
	key := opts.Prefix + "format"
	var got *redis.StringCmd
	_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, key, format, 0)
		got = p.Get(ctx, key)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("redisstate: open %q: %w", opts.Prefix, withContext(ctx, err))
	}
	if got.Val() != format {
		return nil, fmt.Errorf("%w: %s is %q, this program reads %q", ErrFormat, key, got.Val(), format)
	}
	s := &Store{
		client:     client,
		prefix:     opts.Prefix,
		leaseTTL:   opts.LeaseTTL,
		keyCursor:  opts.Prefix + "cursor",
		keyHandled: opts.Prefix + "handled",
		keyRuns:    opts.Prefix + "runs",
	}
	s.batch.client = client
	return s, nil
}

// Prefix returns the prefix of the Store's keys.
func (s *Store) Prefix() string { return s.prefix }

// batcher sends the commands of concurrent callers together: those that
// come while a round trip is under way wait, and go in one pipeline in
// the next, so that many conversations' commits share a round trip
// under load while a lone caller waits for nobody. The caller whose
// command came first among them sends the next pipeline; the batcher
// has no goroutine of its own.
type batcher struct {
	client redis.UniversalClient

	mu      sync.Mutex
	queue   []*op // waiting for the next round trip
	leading bool  // a caller is sending a round trip
}

// op is one caller's command: a script, or a plain command.
type op struct {
	script *redis.Script // nil: args is a plain command
	keys   []string
	args   []any

	ctx  context.Context
	cmd  *redis.Cmd // the result, once done has said false
	done chan bool  // true: lead the next round trip; false: cmd is set
}

// do sends o, maybe with other callers' commands, and returns its
// result, whose Err the caller reads. It returns ctx's error, and no
// result, when ctx ends first: the command may or may not have run.
func (b *batcher) do(ctx context.Context, o *op) (*redis.Cmd, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.ctx, o.done = ctx, make(chan bool, 1)
	b.mu.Lock()
	b.queue = append(b.queue, o)
	if b.leading {
		b.mu.Unlock()
		select {
		case lead := <-o.done:
			if !lead {
				if o.cmd == nil { // not sent: ctx ended first
					return nil, ctx.Err()
				}
				return o.cmd, nil
			}
		case <-ctx.Done():
			if !b.abandon(o) {
				return nil, ctx.Err()
			}
		}
		b.mu.Lock()
	}
	b.leading = true
	n := min(len(b.queue), maxBatch)
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()

	b.run(batch)

	b.mu.Lock()
	if len(b.queue) > 0 {
		b.queue[0].done <- true
	} else {
		b.leading = false
	}
	b.mu.Unlock()
	<-o.done
	if err := ctx.Err(); err != nil && o.cmd == nil {
		return nil, err
	}
	return o.cmd, nil
}

// abandon takes o, whose caller's context ended, out of the queue; it
// reports true when o was told to lead the next round trip meanwhile,
// which its caller must then do (the others wait for it).
func (b *batcher) abandon(o *op) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case lead := <-o.done:
		return lead // false: the result came, too late
	default:
	}
	for i, q := range b.queue {
		if q == o {
			b.queue = append(b.queue[:i:i], b.queue[i+1:]...)
			break
		}
	}
	return false // in a round trip, or out of the queue now
}

// run sends batch in one pipeline, and again those of its scripts that
// Redis did not have (after a restart, say) with their source, and
// tells each op its result. The ops whose context ended before are not
// sent. The round trip runs on the context of the first, without its
// cancellation, since it carries the others' commands: the client's
// timeouts bound it.
func (b *batcher) run(batch []*op) {
	ctx := context.WithoutCancel(batch[0].ctx)
	send := func(ops []*op, eval bool) {
		p := b.client.Pipeline()
		for _, o := range ops {
			switch {
			case o.script == nil:
				o.cmd = p.Do(ctx, o.args...)
			case eval:
				o.cmd = o.script.Eval(ctx, p, o.keys, o.args...)
			default:
				o.cmd = o.script.EvalSha(ctx, p, o.keys, o.args...)
			}
		}
		_, _ = p.Exec(ctx) // each command has its error
	}
	live := make([]*op, 0, len(batch))
	for _, o := range batch {
		if o.ctx.Err() == nil {
			live = append(live, o)
		}
	}
	if len(live) > 0 {
		send(live, false)
		var again []*op
		for _, o := range live {
			if o.script != nil && isNoScript(o.cmd.Err()) {
				again = append(again, o)
			}
		}
		if len(again) > 0 {
			send(again, true)
		}
	}
	for _, o := range batch {
		o.done <- false
	}
}

func isNoScript(err error) bool {
	return errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT")
}

// call sends o through the batcher and returns its result, or the error
// of the round trip or of the command. A nil reply is not an error here:
// the caller tells it by redis.Nil.
func (s *Store) call(ctx context.Context, o *op) (*redis.Cmd, error) {
	cmd, err := s.batch.do(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return nil, withContext(ctx, err)
	}
	return cmd, nil
}

// withContext returns err, wrapping ctx's error too when ctx has ended,
// so that errors.Is finds it: a client that honours deadlines
// (redis.Options.ContextTimeoutEnabled) puts them on its connection,
// whose i/o timeout can come before the context's own timer has fired.
func withContext(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if d, ok := ctx.Deadline(); cerr == nil && ok && !time.Now().Before(d) {
		cerr = context.DeadlineExceeded
	}
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("%w (%w)", err, cerr)
}

// Clamped times: outside the range of UnixNano (years 1678 to 2262) they
// mean "long ago" or "never".
func clampNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, minInt64)):
		return minInt64
	case t.After(time.Unix(0, maxInt64)):
		return maxInt64
	}
	return t.UnixNano()
}

const (
	minInt64 = -1 << 63
	maxInt64 = 1<<63 - 1
)
