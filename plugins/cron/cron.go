package cron

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// leaderRetry is how long the plugin waits to call Leader.Acquire again
// after it failed.
const leaderRetry = time.Second

// Errors of package cron.
var (
	// ErrUnknownJob is returned by Pause and Resume for an id no job has.
	ErrUnknownJob = errors.New("cron: no such job")
	// ErrSetUp is returned by Setup when the plugin serves a bot already.
	ErrSetUp = errors.New("cron: plugin set up on a bot already")
)

// Options configures a Plugin. Zero values mean defaults; New copies
// them.
type Options struct {
	// Jobs are the jobs to run.
	Jobs []Job
	// Store keeps the last run of each job. Default: a new MemoryStore.
	Store Store
	// Leader elects the replica that posts. Default: a new LocalLeader,
	// which this plugin alone uses, so it always leads.
	Leader Leader
	// Clock is the plugin's time. Default: the system clock.
	Clock Clock
	// OnError receives every error of a run: a target that could not be
	// posted to (a *RunError), a panic in a job (a *RunError wrapping a
	// *bot.PanicError), a store or leader failure. It is called from the
	// plugin's goroutine and from admin handlers, so concurrently.
	// Default: log it with the bot's logger (bot.Bot.Logger).
	OnError func(err error)
}

// Plugin posts its jobs' messages on schedule; it is a [bot.Plugin].
// One Plugin serves one bot. Its methods are safe for concurrent use.
type Plugin struct {
	opts Options
	jobs []*entry // in the order given
	wake chan struct{}

	mu      sync.Mutex
	bot     *bot.Bot
	metrics *metrics // set with bot; nil when the bot's metrics are off
	paused  map[*entry]bool
	since   map[*entry]time.Time // when Resume was called
	nextAt  map[*entry]time.Time // as the leading scheduler computed it
}

var _ bot.Plugin = (*Plugin)(nil)

// New checks opts.Jobs and returns a Plugin for them; add it to a bot
// with bot.Plug. A job that cannot run is a *JobError naming the job and
// the field; so is a duplicate id, and a spec that never fires.
func New(opts Options) (*Plugin, error) {
	if opts.Store == nil {
		opts.Store = NewMemoryStore()
	}
	if opts.Leader == nil {
		opts.Leader = NewLocalLeader()
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	p := &Plugin{opts: opts, wake: make(chan struct{}, 1), paused: make(map[*entry]bool),
		since: make(map[*entry]time.Time), nextAt: make(map[*entry]time.Time)}
	ids := make(map[string]bool)
	now := opts.Clock.Now()
	for i, job := range opts.Jobs {
		e, err := compile(job, i+1)
		if err != nil {
			return nil, err
		}
		if ids[job.ID] {
			return nil, &JobError{Job: job.ID, Field: "id", Err: errors.New("used by another job")}
		}
		if e.next(now).IsZero() {
			return nil, &JobError{Job: job.ID, Field: "spec", Err: fmt.Errorf("%q never fires", job.Spec)}
		}
		ids[job.ID] = true
		p.jobs = append(p.jobs, e)
		p.paused[e] = job.Disabled
	}
	return p, nil
}

// Setup implements bot.Plugin: it adds the scheduler to b as a background
// job, which starts when b has connected and stops with b, and registers
// the plugin's metrics (see the package documentation) with b's registry
// (bot.Bot.Metrics) unless b's metrics are off. A registration that
// fails (a second cron Plugin on one registry) is returned, and the
// plugin is not set up.
func (p *Plugin) Setup(b *bot.Bot) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bot != nil {
		return ErrSetUp
	}
	m, err := newMetrics(b.Metrics(), p.jobs)
	if err != nil {
		return fmt.Errorf("cron: %w", err)
	}
	p.bot, p.metrics = b, m
	if p.opts.OnError == nil {
		log := b.Logger()
		p.opts.OnError = func(err error) { log.Error("cron: run failed", "err", err) }
	}
	b.Go(p.run)
	return nil
}

// JobInfo describes a job for listings.
type JobInfo struct {
	ID     string
	Spec   string
	Paused bool
	// Next is the job's next occurrence, in its zone; zero when paused.
	Next time.Time
}

// Jobs describes the jobs, in the order they were given.
func (p *Plugin) Jobs() []JobInfo {
	now := p.opts.Clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]JobInfo, len(p.jobs))
	for i, e := range p.jobs {
		out[i] = JobInfo{ID: e.ID, Spec: e.Spec, Paused: p.paused[e]}
		if !out[i].Paused {
			out[i].Next = p.nextAt[e]
			if out[i].Next.IsZero() { // not leading: the schedule's answer
				out[i].Next = e.next(now)
			}
		}
	}
	return out
}

// Pause stops posting job id's occurrences until Resume or a restart;
// those that pass meanwhile are not missed runs but skipped.
func (p *Plugin) Pause(id string) error { return p.setPaused(id, true) }

// Resume starts a paused (or Disabled) job again from now on, until a
// restart.
func (p *Plugin) Resume(id string) error { return p.setPaused(id, false) }

func (p *Plugin) setPaused(id string, paused bool) error {
	e := p.job(id)
	if e == nil {
		return fmt.Errorf("%w: %q", ErrUnknownJob, id)
	}
	now := p.opts.Clock.Now()
	p.mu.Lock()
	p.paused[e] = paused
	if !paused {
		p.since[e] = now
	}
	delete(p.nextAt, e)
	p.mu.Unlock()
	select { // the scheduler recomputes its next wake
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

func (p *Plugin) job(id string) *entry {
	for _, e := range p.jobs {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// after returns the time job e's next occurrence follows, given the
// scheduler's cursor: the cursor, or the time of the last Resume if
// later (what passed while paused is skipped); ok is false while e is
// paused.
func (p *Plugin) after(e *entry, cursor time.Time) (t time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused[e] {
		return time.Time{}, false
	}
	if since := p.since[e]; since.After(cursor) {
		return since, true
	}
	return cursor, true
}

// run is the plugin's background job: it leads whenever the Leader lets
// it, until ctx ends.
func (p *Plugin) run(ctx context.Context) error {
	for {
		lead, release, err := p.opts.Leader.Acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			p.opts.OnError(fmt.Errorf("cron: leader: %w", err))
			c, stop := p.opts.Clock.Timer(leaderRetry)
			select {
			case <-c:
			case <-ctx.Done():
				stop()
				return nil
			}
			continue
		}
		p.metrics.leading(true)
		p.lead(lead)
		p.metrics.leading(false)
		release()
		p.mu.Lock()
		clear(p.nextAt)
		p.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// lead runs the schedule while this replica leads: first the
// occurrences missed before, then each as its time comes.
func (p *Plugin) lead(ctx context.Context) {
	now := p.opts.Clock.Now()
	// cursor: each job's occurrences up to here are dealt with.
	cursor := make(map[*entry]time.Time, len(p.jobs))
	for _, e := range p.jobs {
		if _, ok := p.after(e, now); ok {
			p.catchUp(ctx, e, now)
		}
		cursor[e] = now
	}
	type occurrence struct {
		e *entry
		t time.Time
	}
	// nextOf returns e's next occurrence, if it has one.
	nextOf := func(e *entry) (occurrence, bool) {
		from, ok := p.after(e, cursor[e])
		if !ok {
			return occurrence{}, false
		}
		t := e.next(from)
		return occurrence{e, t}, !t.IsZero()
	}
	for ctx.Err() == nil {
		now = p.opts.Clock.Now()
		var first time.Time
		for _, e := range p.jobs {
			next, ok := nextOf(e)
			p.mu.Lock()
			p.nextAt[e] = next.t
			p.mu.Unlock()
			if ok && (first.IsZero() || next.t.Before(first)) {
				first = next.t
			}
		}
		var timer <-chan time.Time
		stop := func() {}
		if !first.IsZero() {
			timer, stop = p.opts.Clock.Timer(first.Sub(now))
		}
		select {
		case <-ctx.Done():
			stop()
			return
		case <-p.wake:
			stop()
			continue
		case <-timer:
		}
		now = p.opts.Clock.Now()
		var due []occurrence
		for _, e := range p.jobs {
			if next, ok := nextOf(e); ok && !next.t.After(now) {
				due = append(due, next)
			}
		}
		// Jobs due together post in the order of their occurrences.
		slices.SortStableFunc(due, func(a, b occurrence) int { return a.t.Compare(b.t) })
		for _, d := range due {
			// The occurrence waited for is on time, however late the
			// timer fired; any after it (the process stalled) were
			// missed.
			p.fire(ctx, d.e, d.t)
			p.metrics.job(d.e).missedBetween(d.e, d.t, now)
			for _, t := range d.e.missed(d.t, now) {
				p.fire(ctx, d.e, t)
			}
			cursor[d.e] = now
		}
	}
}

// catchUp finishes job e's occurrence that a stop interrupted and posts
// the occurrences missed since its last run, as its policy says. A job
// that never ran has missed nothing.
func (p *Plugin) catchUp(ctx context.Context, e *entry, now time.Time) {
	last, ok, err := p.opts.Store.LastRun(ctx, e.ID)
	if err == nil {
		var pending time.Time
		var started bool
		if pending, started, err = p.opts.Store.LastRun(ctx, pendingKey(e.ID)); err == nil && started && (!ok || pending.After(last)) {
			p.fire(ctx, e, pending)
			last, ok = pending, true
		}
	}
	if err != nil {
		if ctx.Err() == nil {
			p.opts.OnError(fmt.Errorf("cron: job %q: reading its last run: %w", e.ID, err))
		}
		return
	}
	if !ok {
		return
	}
	p.metrics.job(e).missedBetween(e, last, now)
	for _, t := range e.missed(last, now) {
		p.fire(ctx, e, t)
	}
}

// fire posts job e's occurrence scheduled at t and records it. When ctx
// ends meanwhile (the bot stops), the occurrence stays pending, and the
// next leader posts it again; its key makes that safe.
func (p *Plugin) fire(ctx context.Context, e *entry, t time.Time) {
	if ctx.Err() != nil {
		return
	}
	t = t.In(e.loc)
	if err := p.opts.Store.SetLastRun(ctx, pendingKey(e.ID), t); err != nil && ctx.Err() == nil {
		// Post anyway: the key still keeps a retry from doubling it.
		p.opts.OnError(fmt.Errorf("cron: job %q: recording its pending run: %w", e.ID, err))
	}
	p.post(ctx, p.bot, e, Occurrence{Job: e.ID, Time: t, Key: Key(e.ID, t)})
	if ctx.Err() != nil {
		return
	}
	if err := p.opts.Store.SetLastRun(ctx, e.ID, t); err != nil && ctx.Err() == nil {
		p.opts.OnError(fmt.Errorf("cron: job %q: recording its last run: %w", e.ID, err))
	}
}

// RunError is a failure of one occurrence of a job: to build its message
// (Conversation is then ""), or to post it to one conversation.
type RunError struct {
	Job          string
	Time         time.Time
	Conversation im.ConversationID
	Err          error
}

func (e *RunError) Error() string {
	where := ""
	if e.Conversation != "" {
		where = fmt.Sprintf(" to %s", e.Conversation)
	}
	return fmt.Sprintf("cron: job %q at %s%s: %v", e.Job, e.Time.Format(time.RFC3339), where, e.Err)
}

func (e *RunError) Unwrap() error { return e.Err }

// post builds occurrence o's message and sends it to each of e's targets
// through b, reporting each failure; it returns how many targets got it.
// A panic (in Compose, say) is recovered and reported.
func (p *Plugin) post(ctx context.Context, b *bot.Bot, e *entry, o Occurrence) (posted, targets int) {
	jm := p.metrics.job(e)
	var start time.Time
	if jm != nil {
		start = time.Now() // real time, whatever the plugin's Clock
	}
	failures := 0
	fail := func(conv im.ConversationID, err error) {
		failures++
		if ctx.Err() == nil { // a stop is no failure: the occurrence stays pending
			if conv != "" {
				jm.sent(false)
			}
			p.opts.OnError(&RunError{Job: e.ID, Time: o.Time, Conversation: conv, Err: err})
		}
	}
	if jm != nil {
		defer func() { jm.ran(outcomeOf(ctx, posted, failures), start) }() // after the recover below
	}
	defer func() {
		if v := recover(); v != nil {
			fail("", &bot.PanicError{Value: v, Stack: debug.Stack()})
		}
	}()
	out, err := e.render(ctx, o)
	if err != nil {
		fail("", err)
		return 0, 0
	}
	refs := resolve(ctx, b.Client(), e.Targets, fail)
	for _, ref := range refs {
		msg := out
		if ref.Type == im.ConversationTypeMassChat {
			msg.Ext = nil // a live-chat send carries none (see Message.Ext)
		}
		// Announcements go after the handlers' replies.
		if _, err := b.Send(ctx, ref, msg, bot.WithPriority(bot.PriorityBulk)); err != nil {
			fail(ref.ID, err)
			continue
		}
		posted++
		jm.sent(true)
	}
	return posted, len(refs)
}

// outcomeOf names how a run that posted to posted targets, with failures
// failures, ended, ctx being the run's.
func outcomeOf(ctx context.Context, posted, failures int) runOutcome {
	switch {
	case failures == 0:
		return runOK
	case ctx.Err() != nil:
		return runInterrupted
	case posted > 0:
		return runPartial
	}
	return runFailed
}

// resolve turns targets into conversation references, each once, joining
// live chats; it reports those it cannot resolve to fail.
func resolve(ctx context.Context, c *im.Client, t Targets, fail func(im.ConversationID, error)) []im.ConversationRef {
	var refs []im.ConversationRef
	seen := make(map[im.ConversationID]bool)
	add := func(conv *im.Conversation) {
		if !seen[conv.ID] {
			seen[conv.ID] = true
			refs = append(refs, conv.Ref())
		}
	}
	join := func(id im.ConversationID) {
		conv, _, err := c.JoinLiveChat(ctx, im.ConversationRef{ID: id, Type: im.ConversationTypeMassChat})
		if err != nil {
			fail(id, fmt.Errorf("joining the live chat: %w", err))
			return
		}
		add(conv)
	}
	for _, id := range t.Conversations {
		conv := c.CachedConversation(id)
		if conv == nil {
			var err error
			if conv, err = c.GetConversation(ctx, im.ConversationRef{ID: id}); err != nil {
				fail(id, err)
				continue
			}
		}
		if conv.Type == im.ConversationTypeMassChat {
			join(id) // only joined members may send to a live chat
			continue
		}
		add(conv)
	}
	if t.AllGroups {
		for conv, err := range c.AllConversations(ctx, im.ListConversationsOptions{Type: im.ConversationTypeGroup}) {
			if err != nil {
				fail("", fmt.Errorf("listing the groups: %w", err))
				break
			}
			if conv.IsMember && conv.Status != im.ConversationStatusDissolved {
				add(conv)
			}
		}
	}
	for _, id := range t.Live {
		join(id)
	}
	return refs
}
