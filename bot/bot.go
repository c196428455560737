package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/internal/callsite"
	"github.com/imbot-go/imbot/internal/obs"
)

// Defaults of Options.
const (
	DefaultMaxQueued    = 1024
	DefaultDrainTimeout = 10 * time.Second
)

// Options configures a Bot. Zero values mean defaults; New copies them.
type Options struct {
	// Client is how the bot logs in to IM Cloud (or the embedded server).
	Client im.Options
	// Workers bounds the handlers running at once. Default 4 per CPU. A
	// handler waiting in Context.WaitNext does not count: another worker
	// takes its place meanwhile.
	Workers int
	// MaxQueued bounds the events waiting for a worker; when it is
	// reached, the bot stops taking events from the client (which stops
	// pulling) until a worker frees a place: no event is dropped.
	// Default 1024.
	MaxQueued int
	// DrainTimeout is how long shutdown waits for queued and running
	// handlers before cancelling their contexts. Default 10s.
	DrainTimeout time.Duration
	// OnError receives the final error of each event whose handler
	// failed: the error of its last run once Retry's attempts are spent,
	// or at once an error that is not retried (one marked Permanent, a
	// panic as a *PanicError, any error once shutdown has cancelled the
	// event's context). Runs that are retried do not reach it; the bot
	// logs them at Warn. The workers call it concurrently. Default: log
	// the error at Error.
	OnError func(c *Context, err error)
	// Logger is the bot's logger. Default slog.Default().
	Logger *slog.Logger
	// Progress keeps how far the bot got through its inbox, so that each
	// message is handled once across disconnects and restarts (see
	// ProgressStore). Default a MemoryProgress, which holds across
	// reconnects but not restarts; state.Open keeps progress in a file.
	Progress ProgressStore
	// Retry says how often a failing handler runs again before its error
	// is reported and its event given up (see RetryPolicy).
	Retry RetryPolicy
	// Send configures the outbound queue every send of the bot goes
	// through (see SendOptions).
	Send SendOptions
	// HandleOwnMessages hands the bot's own new messages (EventMessage
	// whose sender is the bot's user) to its handler. Off by default: the
	// bot receives what it sends, like every member of the conversation,
	// and a handler that answers every message, or an expression route
	// such as `Text contains "hello"` replying "hello", would otherwise
	// answer itself forever. Skipped messages count as handled: their
	// progress is committed. The other events about the bot's messages
	// (recalled, property changed) are always handed on.
	HandleOwnMessages bool
	// Admin configures the admin HTTP listener: health and readiness
	// probes, metrics, and the profiler (see AdminOptions). Default: none.
	Admin AdminOptions
	// Metrics is the Prometheus registry the bot registers its metrics
	// with: its own, its IM client's (unless Client.Metrics names
	// another; DisableMetrics leaves the client's as Client.Metrics says) and those of the plugins and middleware that take it from
	// Bot.Metrics. docs/OPERATIONS.md lists them. Default: a registry of
	// the bot's own, with the Go runtime and process collectors, which
	// the admin listener serves at /metrics. Pass yours to serve the
	// bot's metrics beside others; the admin listener serves it when it
	// is also a prometheus.Gatherer, as a *prometheus.Registry is. Two
	// bots in one registry need a label each to tell them apart
	// (prometheus.WrapRegistererWith), or New fails on the duplicates.
	Metrics prometheus.Registerer
	// DisableMetrics turns the bot's metrics off: nothing is counted or
	// registered, and the admin listener serves no /metrics.
	DisableMetrics bool
	// Cluster, when set, makes the bot one replica of several that divide
	// its conversations among them (see Cluster): it handles the events
	// of the partitions it holds, catching each up when it takes it, and
	// commits their progress under the partitions' leases. Progress must
	// then be the store the replicas share, the one Cluster fences
	// (redisstate.Store with its Cluster). Default: none, a bot handles
	// every event.
	Cluster Cluster
	// TracerProvider, when set, makes the bot trace with OpenTelemetry: a
	// span for each event it handles, with a child span for each send
	// and each request to the server (see docs/OPERATIONS.md); the IM
	// client traces with it too unless Client.TracerProvider names
	// another. Default: no tracing, at no cost.
	TracerProvider trace.TracerProvider
}

// Defaults of RetryPolicy.
const (
	DefaultRetryAttempts   = 3
	DefaultRetryBackoff    = 100 * time.Millisecond
	DefaultRetryMaxBackoff = 5 * time.Second
)

// RetryPolicy says how the bot retries a handler that returned an error.
//
// A handler runs at most Attempts times for an event, waiting Backoff
// before the first retry and twice as long before each next one, up to
// MaxBackoff. It is not retried when its error is Permanent or a
// *PanicError (a bug does not go away by itself), nor once the bot is
// shutting down and the event's context is done. The retries happen in
// the event's turn: the conversation's later events wait for them, so
// that order is kept.
//
// When the handler still fails, its last error goes to Options.OnError
// and the event counts as finished: its progress is committed and it is
// not handled again after a restart. An event whose handler was cut off
// by shutdown is not committed, and a restarted bot handles it again.
//
// Zero fields mean the defaults; Attempts 1 turns retries off.
type RetryPolicy struct {
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
}

// backoff returns the wait before retry n (1 for the first).
func (p RetryPolicy) backoff(n int) time.Duration { return doubling(p.Backoff, p.MaxBackoff, n) }

// doubling returns the n-th wait (1 for the first) of a backoff that
// starts at base and doubles up to limit: the handlers' retries and the
// outbound queue's.
func doubling(base, limit time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Permanent marks err as an error that retrying the handler cannot
// cure: the bot reports it at once (RetryPolicy). errors.Is and As see
// through it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// retryable reports whether the policy retries a handler that returned
// err.
func retryable(err error) bool {
	var p *permanentError
	var panicked *PanicError
	return !errors.As(err, &p) && !errors.As(err, &panicked)
}

// Plugin is a whole behaviour added to a bot: Setup registers its
// handlers, middleware and background jobs (Bot.Go), which start and stop
// with the bot. Plugins are values passed to Bot.Plug; nothing registers
// itself by being imported.
type Plugin interface {
	Setup(b *Bot) error
}

// Bot receives every event its IM user sees and dispatches it to its
// handler: in order within a conversation, in parallel across
// conversations, through a bounded queue.
//
// Configure a Bot (Use, Handle, Plug, Go) before Run; those calls panic
// once it runs. Run, Close, Send and Ready are safe for concurrent use.
type Bot struct {
	opts   Options
	log    *slog.Logger
	client *im.Client
	out    *outbox
	disp   *dispatcher
	track  *tracker   // set by Run before events flow
	own    *ownership // Options.Cluster's; nil without one

	mu      sync.Mutex
	mws     []Middleware
	root    Handler
	jobs    []func(context.Context) error
	running bool

	ready     chan struct{}
	closeOnce sync.Once
	closed    chan struct{}

	registry prometheus.Registerer // Options.Metrics or the bot's own; nil: off
	metrics  *botMetrics           // nil: off
	tracer   trace.Tracer          // nil: off

	phase     atomic.Int32             // a Phase, for Health
	adminAddr atomic.Pointer[net.Addr] // the admin listener's, while it listens
}

// New returns a Bot for opts. It does no I/O: connecting happens in Run.
func New(opts Options) (*Bot, error) {
	if opts.Workers < 0 || opts.MaxQueued < 0 || opts.DrainTimeout < 0 {
		return nil, errors.New("bot: Options.Workers, MaxQueued and DrainTimeout must not be negative")
	}
	if r := opts.Retry; r.Attempts < 0 || r.Backoff < 0 || r.MaxBackoff < 0 {
		return nil, errors.New("bot: Options.Retry's Attempts, Backoff and MaxBackoff must not be negative")
	}
	if opts.Retry.Attempts == 0 {
		opts.Retry.Attempts = DefaultRetryAttempts
	}
	if opts.Retry.Backoff == 0 {
		opts.Retry.Backoff = DefaultRetryBackoff
	}
	if opts.Retry.MaxBackoff == 0 {
		opts.Retry.MaxBackoff = DefaultRetryMaxBackoff
	}
	if opts.Progress == nil {
		opts.Progress = &MemoryProgress{}
	}
	if opts.Workers == 0 {
		opts.Workers = 4 * runtime.GOMAXPROCS(0)
	}
	if opts.MaxQueued == 0 {
		opts.MaxQueued = DefaultMaxQueued
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Client.Logger == nil {
		opts.Client.Logger = opts.Logger
	}
	if opts.Client.MaxSendMsgRetryTimes == 0 {
		opts.Client.MaxSendMsgRetryTimes = -1 // the outbound queue retries (SendOptions.MaxRetries)
	}
	registry := metricsRegistry(&opts)
	if opts.Client.Metrics == nil {
		opts.Client.Metrics = registry
	}
	if opts.Client.TracerProvider == nil {
		opts.Client.TracerProvider = opts.TracerProvider
	}
	out, err := newOutbox(opts.Send, nil) // sends with the client, made last
	if err != nil {
		return nil, err
	}
	b := &Bot{opts: opts, log: opts.Logger, out: out, ready: make(chan struct{}), closed: make(chan struct{}),
		registry: registry, tracer: obs.Tracer(opts.TracerProvider, tracerName)}
	if opts.Cluster != nil {
		b.own = newOwnership(b, opts.Cluster)
	}
	if b.opts.OnError == nil {
		b.opts.OnError = func(c *Context, err error) {
			c.Logger().Error("bot: handler failed", "err", err)
		}
	}
	b.disp = newDispatcher(opts.MaxQueued)
	if b.metrics, err = newBotMetrics(registry, b); err != nil {
		return nil, err
	}
	if b.metrics != nil {
		b.disp.waited = b.metrics.waited
	}
	out.metrics, out.tracer = b.metrics, b.tracer
	// The client is made last: it registers its metrics too, and a
	// failing New leaves the registry as it found it.
	client, err := im.New(opts.Client)
	if err != nil {
		b.metrics.unregister(registry)
		return nil, err
	}
	b.client, out.do = client, client.SendMessage
	return b, nil
}

// Client returns the bot's IM client.
func (b *Bot) Client() *im.Client { return b.client }

// Logger returns the bot's logger (Options.Logger), for plugins to log
// where the bot does.
func (b *Bot) Logger() *slog.Logger { return b.log }

// UserID returns the bot's IM user.
func (b *Bot) UserID() im.UserID { return b.client.UserID() }

// mustConfigure panics if the bot runs already, since its configuration
// is fixed at Run, naming the file:line that called the exported method
// (what) that called it. b.mu must be held.
func (b *Bot) mustConfigure(what string) {
	if b.running {
		panic("bot: " + what + " after Run (at " + callsite.Caller(2) + ")")
	}
}

// Use appends middleware to the bot's chain; the first added is
// outermost.
func (b *Bot) Use(mws ...Middleware) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mustConfigure("Use")
	b.mws = append(b.mws, mws...)
}

// Handle sets the handler every event goes to (a router, typically). A
// nil h is a programmer error: Handle panics, naming the caller's line.
func (b *Bot) Handle(h Handler) {
	if h == nil {
		panic("bot: Handle(nil) (at " + callsite.Caller(1) + ")")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mustConfigure("Handle")
	b.root = h
}

// Go adds a background job: it starts when Run has connected and gets a
// context that ends when the bot shuts down; Run waits for it to return.
// A job's error is logged; it does not stop the bot.
func (b *Bot) Go(job func(ctx context.Context) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mustConfigure("Go")
	b.jobs = append(b.jobs, job)
}

// Plug sets up plugins, in order.
func (b *Bot) Plug(plugins ...Plugin) error {
	// Checked here too, so that the panic names the call of Plug rather
	// than a line inside the plugin's Setup.
	b.mu.Lock()
	running := b.running
	b.mu.Unlock()
	if running {
		panic("bot: Plug after Run (at " + callsite.Caller(1) + ")")
	}
	for _, p := range plugins {
		if err := p.Setup(b); err != nil {
			return fmt.Errorf("bot: plugin %T: %w", p, err)
		}
	}
	return nil
}

// Ready is closed once Run has logged in, the client's socket is up, so
// that handlers receive every event, pushed ones included, and the client
// has caught up with what it missed while the bot was down
// (im.Client.Synced).
func (b *Bot) Ready() <-chan struct{} { return b.ready }

// Close stops a running bot as cancelling Run's context does. It returns
// at once, without waiting for the shutdown: Run returns once the drain
// is over (see Run). A Run that starts after Close returns ErrClosed.
// Close is idempotent and always returns nil.
func (b *Bot) Close() error {
	b.closeOnce.Do(func() { close(b.closed) })
	return nil
}

// Send sends a message from the bot through its outbound queue (see
// SendOptions), at PriorityNormal unless WithPriority says otherwise.
// Set out.ClientID to make the send idempotent across restarts (the
// queue gives a send without one a random id, kept across its retries).
// Sends fail with an error wrapping ErrClosed once the bot has shut
// down.
func (b *Bot) Send(ctx context.Context, to im.ConversationRef, out im.OutgoingMessage, opts ...SendOption) (*im.Message, error) {
	return b.out.send(ctx, sendConfigOf(opts).priority, to, out)
}

// SendFile uploads a file (im.Client.UploadFile, in the caller's
// goroutine) and sends it as a file message through the outbound queue,
// as Send sends a message. out's Type and Content come from the file and
// must be empty. Only the message waits for the queue and its rate
// limits: an upload is one HTTP request that takes no message slot.
func (b *Bot) SendFile(ctx context.Context, to im.ConversationRef, up im.Upload, out im.OutgoingMessage, opts ...SendOption) (*im.Message, error) {
	out, err := b.fileMessage(ctx, to, up, out)
	if err != nil {
		return nil, err
	}
	return b.Send(ctx, to, out, opts...)
}

// fileMessage uploads up and returns out completed with the file
// message's type and content.
func (b *Bot) fileMessage(ctx context.Context, to im.ConversationRef, up im.Upload, out im.OutgoingMessage) (im.OutgoingMessage, error) {
	if out.Type != 0 || out.Content != "" {
		return out, errors.New("bot: SendFile takes the message's Type and Content from the file; leave them empty")
	}
	f, err := b.client.UploadFile(ctx, to, up)
	if err != nil {
		return out, err
	}
	if out.Content, err = f.Content(); err != nil {
		return out, err
	}
	out.Type = f.Type.MessageType()
	return out, nil
}

// Run connects, dispatches events until ctx is done or Close is called,
// or the IM client stops by itself (im.Client.Stopped: no valid token for
// im.Options.TokenTimeout, a token of another user, a Frontier URL that is
// not a WebSocket), then drains: it stops taking events and the background
// jobs, and waits up to DrainTimeout for the queued and running handlers;
// past that, it drops the events still queued and cancels the contexts of
// the handlers still running. Then it waits for those handlers and the
// jobs, and closes the client. It returns nil after a shutdown, the error
// that kept the bot from starting, or the one the client stopped with
// (errors.Is im.ErrNoValidToken, im.ErrWrongUser, im.ErrFrontierRefused),
// so that a process supervisor sees a bot that cannot go on exit.
func (b *Bot) Run(ctx context.Context) error {
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return errors.New("bot: Run called twice")
	}
	b.running = true
	handler := b.root
	if handler == nil {
		handler = HandlerFunc(func(*Context) error { return nil })
	}
	handler = Chain(b.mws).Then(handler)
	jobs := b.jobs
	b.mu.Unlock()

	select {
	case <-b.closed:
		return ErrClosed
	default:
	}
	b.phase.Store(int32(PhaseStarting))
	adm, err := b.startAdmin()
	if err != nil {
		b.phase.Store(int32(PhaseStopped))
		return err
	}
	defer func() {
		b.phase.Store(int32(PhaseStopped))
		b.stopAdmin(adm)
	}()
	// handlerCtx outlives ctx by the drain: in-flight handlers keep
	// working until DrainTimeout.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	subs := b.subscribe()
	// Ready waits for the socket too: events that are only pushed
	// (conversation and friend changes, live-chat messages) are lost to a
	// client whose socket is not up yet.
	connected := make(chan struct{})
	if b.client.Options().WebSocketLevel == im.WebSocketLevelDisable {
		close(connected)
	} else {
		var once sync.Once
		subs = append(subs, b.client.OnConnectionState(func(s im.ConnectionState) {
			if s == im.ConnectionStateConnected {
				once.Do(func() { close(connected) })
			}
		}))
	}
	defer func() {
		for _, s := range subs {
			s.Unsubscribe()
		}
	}()
	var workers sync.WaitGroup
	b.disp.start(b.opts.Workers, workers.Go, func(ev Event) {
		if ev.part != nil {
			defer b.own.done(ev.part)
		}
		b.handle(handlerCtx, handler, ev)
	})
	fail := func(err error) error {
		b.disp.close()
		workers.Wait()
		b.out.close()
		b.client.Close()
		return err
	}
	progress, err := b.opts.Progress.LoadProgress(ctx)
	if err != nil {
		return fail(fmt.Errorf("bot: loading progress: %w", err))
	}
	if progress.Saved {
		if err := b.client.ResumeFrom(progress.Cursor); err != nil {
			return fail(err)
		}
	}
	b.track = newTracker(b.opts.Progress, progress)
	if err := b.client.Init(ctx); err != nil {
		return fail(err)
	}
	if !progress.Saved {
		// Save where the first run starts, so that a crash before the
		// first commit resumes here rather than at the server's position
		// then, past what arrived meanwhile.
		if err := b.opts.Progress.CommitProgress(ctx, Commit{Cursor: b.client.Cursor()}); err != nil {
			return fail(fmt.Errorf("bot: saving the starting position: %w", err))
		}
	}
	// The cluster outlives ctx by the drain: the leases fence the
	// draining handlers' commits.
	clusterCtx, stopCluster := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCluster()
	clusterFailed := make(chan error, 1)
	if b.own != nil {
		b.own.start(clusterCtx, clusterFailed)
	}
	jobCtx, stopJobs := context.WithCancel(ctx)
	var jobWG sync.WaitGroup
	for _, job := range jobs {
		jobWG.Go(func() {
			if err := job(jobCtx); err != nil && jobCtx.Err() == nil {
				b.log.Error("bot: background job failed", "err", err)
			}
		})
	}

	// Ready once the socket is up and the client has caught up with what
	// it missed; both are waited for here, in either order.
	waitConnected, waitSynced := connected, b.client.Synced()
	var stopped error // why the client stopped by itself, if it did
serve:
	for {
		select {
		case <-waitConnected:
			waitConnected = nil
			if waitSynced == nil {
				b.becomeReady()
			}
		case <-waitSynced:
			waitSynced = nil
			if waitConnected == nil {
				b.becomeReady()
			}
		case <-ctx.Done():
			break serve
		case <-b.closed:
			break serve
		case <-b.client.Stopped():
			stopped = fmt.Errorf("bot: the IM client stopped: %w", b.client.Err())
			break serve
		case err := <-clusterFailed:
			stopped = fmt.Errorf("bot: the cluster stopped: %w", err)
			break serve
		}
	}
	drainStart := time.Now()
	b.phase.Store(int32(PhaseDraining))
	b.log.Info("bot: draining", "timeout", b.opts.DrainTimeout)
	stopJobs()
	for _, s := range subs {
		s.Unsubscribe()
	}
	b.disp.close()
	drained := make(chan struct{})
	go func() { // ends when the workers have drained
		workers.Wait()
		close(drained)
	}()
	t := time.NewTimer(b.opts.DrainTimeout)
	select {
	case <-drained:
		t.Stop()
	case <-t.C:
		dropped := b.disp.discard()
		b.log.Warn("bot: drain deadline passed; cancelling running handlers", "timeout", b.opts.DrainTimeout, "dropped", dropped)
		cancelHandlers()
		<-drained
	}
	jobWG.Wait()
	if b.own != nil {
		b.own.closeDown()
		stopCluster() // gives the partitions up
		b.own.stop()
	}
	b.out.close()
	runErr := errors.Join(stopped, b.client.Close())
	b.log.Info("bot: stopped", "drained_in", time.Since(drainStart).Round(time.Millisecond), "err", runErr)
	return runErr
}

// becomeReady closes Ready: the bot is running.
func (b *Bot) becomeReady() {
	close(b.ready)
	b.phase.Store(int32(PhaseRunning))
	b.log.Info("bot: ready", "user", b.UserID(), "workers", b.opts.Workers, "cursor", b.client.Cursor())
}

// handle runs one event through the chain, turning a panic into a
// *PanicError so that one handler can never take the bot down; retries it
// as Options.Retry says; reports its final error; and commits the
// event's progress unless shutdown cut the handler off.
func (b *Bot) handle(ctx context.Context, h Handler, ev Event) {
	if !b.opts.HandleOwnMessages && b.ownMessage(&ev) {
		b.metrics.skip(skipOwnMessage)
		if err := b.track.finish(commitContext(ctx, &ev), &ev, nil); err != nil {
			b.log.Error("bot: progress not saved; the event will be handled again after a restart", "err", err)
		}
		return
	}
	var start time.Time
	if b.metrics != nil {
		start = time.Now()
	}
	ctx, span := b.startEventSpan(ctx, &ev)
	taken := &takenMessages{}
	var c *Context
	var err error
	attempt := 1
	for ; ; attempt++ {
		if c != nil {
			c.Release() // the failed attempt's
		}
		c = newContext(ctx, ev, b)
		c.taken = taken
		err = runHandler(h, c)
		if err == nil || ctx.Err() != nil || attempt >= b.opts.Retry.Attempts || !retryable(err) {
			break
		}
		b.metrics.retried(c.Route())
		wait := b.opts.Retry.backoff(attempt)
		c.Logger().Warn("bot: handler failed; retrying", "attempt", attempt, "in", wait, "err", err)
		if !sleep(ctx, wait) {
			break
		}
	}
	canceled := err != nil && ctx.Err() != nil
	outcome := outcomeOf(c, err, canceled)
	if outcome == outcomeSkipped {
		b.metrics.skip(c.Skipped())
	}
	b.metrics.handled(c.Route(), outcome, err, start)
	defer c.Release() // last: the span reads c
	defer endEventSpan(span, c, outcome, attempt, err)
	if err != nil {
		b.opts.OnError(c, err)
		if canceled {
			return // cut off by shutdown: a restarted bot handles it again
		}
	}
	if err := b.track.finish(commitContext(ctx, &ev), &ev, taken.list()); err != nil {
		c.Logger().Error("bot: progress not saved; the event will be handled again after a restart", "err", err)
	}
}

// ownMessage reports whether ev is a new message the bot sent.
func (b *Bot) ownMessage(ev *Event) bool {
	return ev.Kind == EventMessage && ev.Message != nil && ev.Message.Sender == b.UserID()
}

// runHandler calls h, recovering a panic as a *PanicError.
func runHandler(h Handler, c *Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return h.Handle(c)
}

// sleep waits d, or less when ctx ends first; it reports whether it
// waited all of d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// PanicError is a handler's panic, recovered.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("bot: handler panicked: %v", e.Value) }

// subscribe turns the client's events into bot events.
func (b *Bot) subscribe() []im.Subscription {
	c := b.client
	msg := func(kind EventKind) func(im.MessageEvent) {
		return func(e im.MessageEvent) {
			b.deliver(Event{Kind: kind, Message: e.Message, Previous: e.Previous, Cursor: e.Cursor,
				ConversationRef: e.Message.Conversation(), Conversation: c.CachedConversation(e.Message.ConversationID)})
		}
	}
	conv := func(kind EventKind) func(im.ConversationEvent) {
		return func(e im.ConversationEvent) {
			if kind == EventConversationUpdated && e.Conversation.Status == im.ConversationStatusDissolved &&
				(e.Previous == nil || e.Previous.Status != im.ConversationStatusDissolved) {
				kind = EventConversationDissolved
			}
			b.deliver(Event{Kind: kind, Conversation: e.Conversation, ConversationRef: e.Conversation.Ref()})
		}
	}
	return []im.Subscription{
		c.OnMessageReceived(msg(EventMessage)),
		c.OnMessageRecalled(msg(EventMessageRecalled)),
		c.OnPropertyChanged(msg(EventPropertyChanged)),
		c.OnConversationAdded(conv(EventConversationCreated)),
		c.OnConversationUpdated(conv(EventConversationUpdated)),
		c.OnParticipantsChanged(func(e im.ParticipantsEvent) {
			ref := e.Conversation.Ref()
			if len(e.Added) > 0 {
				b.deliver(Event{Kind: EventParticipantsAdded, Conversation: e.Conversation, ConversationRef: ref, Participants: e.Added})
			}
			if len(e.Removed) > 0 {
				b.deliver(Event{Kind: EventParticipantsRemoved, Conversation: e.Conversation, ConversationRef: ref, Participants: e.Removed})
			}
		}),
		c.OnConversationRemoved(func(e im.ConversationEvent) { // the bot left or was removed
			b.deliver(Event{Kind: EventParticipantsRemoved, Conversation: e.Conversation,
				ConversationRef: e.Conversation.Ref(), Participants: []im.UserID{c.UserID()}})
		}),
		c.OnFriendApplyReceived(func(e im.FriendApplyEvent) {
			b.deliver(Event{Kind: EventFriendApplyReceived, FriendApply: e.Apply})
		}),
		c.OnFriendAdded(func(e im.FriendEvent) {
			b.deliver(Event{Kind: EventFriendAdded, Friend: e.Friend})
		}),
	}
}

// deliver takes an event the client delivered: to the cluster's routing
// under Options.Cluster, which hands on those of the partitions held;
// to admit otherwise.
func (b *Bot) deliver(ev Event) {
	if b.own != nil {
		b.own.route(ev)
		return
	}
	b.admit(ev)
}

// admit counts ev and queues it for a worker, unless it is a message
// handled before (a restart's, or another replica's), and reports
// whether it queued it.
func (b *Bot) admit(ev Event) bool {
	b.metrics.receivedEvent(ev.Kind)
	if !b.track.admit(&ev) {
		b.metrics.skip(skipHandledAlready)
		b.log.Debug("bot: message handled before; skipped",
			"conversation", string(ev.ConversationRef.ID), "index", ev.Message.Index)
		return false
	}
	return b.disp.enqueue(ev)
}
