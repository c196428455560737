package friends

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"text/template"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
)

// Decision is what the plugin does with a friend apply.
type Decision int

// The decisions.
const (
	// Pending leaves the apply waiting, for a person (or the bot's next
	// start) to answer.
	Pending Decision = iota
	// Accept accepts the apply: the two become friends.
	Accept
	// Reject rejects the apply.
	Reject
)

var decisionNames = map[Decision]string{Pending: "pending", Accept: "accept", Reject: "reject"}

// String returns the decision's name as the audit line writes it.
func (d Decision) String() string {
	if s, ok := decisionNames[d]; ok {
		return s
	}
	return "Decision(" + strconv.Itoa(int(d)) + ")"
}

// Rule names the step of the policy that decided an apply, as the audit
// line writes it (see the package documentation for their order).
type Rule string

// The rules.
const (
	RuleDeny      Rule = "deny"      // the applicant is in Options.Deny
	RuleAllow     Rule = "allow"     // the applicant is in Options.Allow
	RuleAll       Rule = "all"       // Options.All
	RuleExpr      Rule = "expr"      // Options.Expr was true
	RuleCap       Rule = "cap"       // All or Expr matched, but the day's cap was reached
	RuleOtherwise Rule = "otherwise" // nothing accepted the apply
)

// Env is what an Options.Expr expression sees: one apply. Expressions are
// compiled and type-checked against it by New.
type Env struct {
	// From is the applicant's user id.
	From int64
	// Ext is the apply's ext map; a missing key reads as "".
	Ext map[string]string
	// Time is when the apply was sent.
	Time time.Time
	// Now is when the apply is being decided (Options.Now).
	Now time.Time
}

// GreetingData is what the Options.Greeting template is executed with.
type GreetingData struct {
	// User is the new friend's user id.
	User int64
	// Ext is the apply's ext map.
	Ext map[string]string
}

// Options configures the plugin. The zero value accepts nothing, which
// New refuses: set All, Allow or Expr. New copies the Options.
type Options struct {
	// All accepts every apply that Deny lets through, up to DailyCap.
	All bool
	// Allow lists users whose applies are accepted, whatever the cap;
	// they do not count towards it.
	Allow []im.UserID
	// Deny lists users whose applies are rejected; it comes first.
	Deny []im.UserID
	// Expr is an expr-lang expression (https://expr-lang.org) over Env;
	// true accepts the apply, up to DailyCap. It may not be set with All.
	//
	//	Ext["source"] == "website" && Now - Time < duration("24h")
	Expr string
	// DailyCap bounds the applies that All or Expr accept per day, in
	// Location; 0 means no cap. CapStore keeps the count.
	DailyCap int
	// CapStore counts the accepts under DailyCap. Default a MemoryCaps of
	// the plugin's own: the count of this process since it started, which
	// does not survive a restart and which each replica of a bot keeps
	// apart. Replicas that share one (redisstate.Store) share the cap.
	CapStore CapStore
	// RetryWait is how long after a CapStore error the plugin lists the
	// waiting applies again, to decide those the error left waiting.
	// Default 30 seconds.
	RetryWait time.Duration
	// OverCap is what becomes of an apply that All or Expr would accept
	// once the cap is reached: Pending (the default) or Reject.
	OverCap Decision
	// Otherwise is what becomes of an apply that no rule accepts or
	// rejects: Pending (the default) or Reject.
	Otherwise Decision
	// Location is the time zone whose midnight starts a new day for
	// DailyCap. Default time.Local.
	Location *time.Location
	// Now is the clock, for DailyCap and Env.Now. Default time.Now.
	Now func() time.Time
	// Greeting, when set, is a text/template (executed with GreetingData)
	// whose text the bot sends in the single chat with each friend it
	// accepts, e.g. "Hi {{.User}}, thanks for the add!".
	Greeting string
	// Logger receives the audit lines. Default the bot's logger
	// (bot.Bot.Logger).
	Logger *slog.Logger
}

// ErrAlreadySetUp is returned by Setup when the plugin was set up on a bot
// already: its state (the applies decided, and by default the day's
// count) belongs to one bot, so each bot needs its own Plugin.
var ErrAlreadySetUp = errors.New("friends: plugin already set up on a bot")

// Plugin decides the friend applies a bot receives: see the package
// documentation. Its methods are safe for concurrent use.
type Plugin struct {
	opts  Options
	prog  *vm.Program // nil without Expr
	greet *template.Template
	allow map[im.UserID]bool
	deny  map[im.UserID]bool

	// retry is signalled when a CapStore error left an apply undecided,
	// for scanLoop to list the waiting applies again after RetryWait.
	retry chan struct{}

	mu      sync.Mutex
	bot     *bot.Bot
	metrics *metrics                  // set with bot; nil when the bot's metrics are off
	claimed map[im.FriendApplyID]bool // applies decided (or being decided) in this run
}

// DefaultRetryWait is Options.RetryWait's default.
const DefaultRetryWait = 30 * time.Second

var _ bot.Plugin = (*Plugin)(nil)

// New checks and compiles opts into a Plugin. A bad Expr is an error
// wrapping expr's *file.Error, whose text gives the line:column and the
// source with a caret; a bad Greeting is the template's error.
func New(opts Options) (*Plugin, error) {
	p := &Plugin{opts: opts, allow: setOf(opts.Allow), deny: setOf(opts.Deny), claimed: make(map[im.FriendApplyID]bool), retry: make(chan struct{}, 1)}
	switch {
	case !opts.All && len(opts.Allow) == 0 && opts.Expr == "":
		return nil, errors.New("friends: no rule accepts an apply: set Options.All, Allow or Expr")
	case opts.All && opts.Expr != "":
		return nil, errors.New("friends: Options.All and Expr exclude each other: All accepts every apply already")
	case opts.DailyCap < 0:
		return nil, fmt.Errorf("friends: Options.DailyCap %d is negative", opts.DailyCap)
	case opts.RetryWait < 0:
		return nil, fmt.Errorf("friends: Options.RetryWait %v is negative", opts.RetryWait)
	case opts.OverCap != Pending && opts.OverCap != Reject:
		return nil, fmt.Errorf("friends: Options.OverCap must be Pending or Reject, got %v", opts.OverCap)
	case opts.Otherwise != Pending && opts.Otherwise != Reject:
		return nil, fmt.Errorf("friends: Options.Otherwise must be Pending or Reject, got %v", opts.Otherwise)
	}
	if opts.Expr != "" {
		prog, err := expr.Compile(opts.Expr, expr.Env(Env{}), expr.AsBool())
		if err != nil {
			return nil, fmt.Errorf("friends: Options.Expr %q: %w", opts.Expr, err)
		}
		p.prog = prog
	}
	if opts.Greeting != "" {
		t, err := template.New("greeting").Option("missingkey=zero").Parse(opts.Greeting)
		if err == nil {
			// Executing once finds what parsing cannot: a misspelt field.
			err = t.Execute(new(bytes.Buffer), GreetingData{})
		}
		if err != nil {
			return nil, fmt.Errorf("friends: Options.Greeting: %w", err)
		}
		p.greet = t
	}
	if p.opts.Location == nil {
		p.opts.Location = time.Local
	}
	if p.opts.Now == nil {
		p.opts.Now = time.Now
	}
	if p.opts.CapStore == nil {
		p.opts.CapStore = new(MemoryCaps)
	}
	if p.opts.RetryWait == 0 {
		p.opts.RetryWait = DefaultRetryWait
	}
	return p, nil
}

func setOf(users []im.UserID) map[im.UserID]bool {
	m := make(map[im.UserID]bool, len(users))
	for _, u := range users {
		m[u] = true
	}
	return m
}

// Setup adds the plugin to b: a middleware (Bot.Use) that takes the
// friend applies out of the event stream and decides them, and a
// background job (Bot.Go) that decides the applies waiting when the bot
// starts and after each reconnect of its socket. Plug the plugin right
// after Recover and Logger, before any middleware that may drop events.
// A Plugin serves one bot: a second Setup returns ErrAlreadySetUp.
//
// Setup also registers the plugin's metrics (see the package
// documentation) with b's registry (bot.Bot.Metrics), unless b's metrics
// are off; a registration that fails (a second friends Plugin on one
// registry) is returned, and the plugin is not set up.
func (p *Plugin) Setup(b *bot.Bot) error {
	p.mu.Lock()
	if p.bot != nil {
		p.mu.Unlock()
		return ErrAlreadySetUp
	}
	m, err := newMetrics(b.Metrics())
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("friends: %w", err)
	}
	p.bot, p.metrics = b, m
	if p.opts.Logger == nil {
		p.opts.Logger = b.Logger()
	}
	p.mu.Unlock()
	b.Use(p.middleware)
	b.Go(p.scanLoop)
	return nil
}

// middleware decides the applies sent to the bot and hands every other
// event on. The applies stop here, so that no handler answers them too.
func (p *Plugin) middleware(next bot.Handler) bot.Handler {
	return bot.HandlerFunc(func(c *bot.Context) error {
		a := c.Event.FriendApply
		if c.Event.Kind != bot.EventFriendApplyReceived || a == nil || a.ToUserID != p.bot.UserID() {
			return next.Handle(c)
		}
		return p.handle(c.Context(), a, sourcePush)
	})
}

// Where an apply came from, as the audit line writes it.
const (
	sourcePush = "push" // a live event
	sourceList = "list" // the list of waiting applies
)

// scanLoop decides the waiting applies once the bot is ready, and again
// each time the socket reconnects: pushes sent while it was down are
// lost, the applies are not. It lists them again, too, RetryWait after
// a CapStore error left one undecided.
func (p *Plugin) scanLoop(ctx context.Context) error {
	reconnected := make(chan struct{}, 1)
	dropped := false // only the client's event goroutine touches it
	sub := p.bot.Client().OnConnectionState(func(s im.ConnectionState) {
		switch s {
		case im.ConnectionStateReconnecting:
			dropped = true
		case im.ConnectionStateConnected:
			if dropped { // not the first connection, which Ready waits for
				dropped = false
				select {
				case reconnected <- struct{}{}:
				default: // a scan is due already
				}
			}
		}
	})
	defer sub.Unsubscribe()
	select {
	case <-p.bot.Ready():
	case <-ctx.Done():
		return nil
	}
	reason := "start"
	for {
		p.scan(ctx, reason)
		var retry <-chan time.Time // set while a retry is due
		for reason = ""; reason == ""; {
			select {
			case <-reconnected:
				reason = "reconnect" // lists the undecided applies too
			case <-p.retry:
				if retry == nil {
					retry = time.After(p.opts.RetryWait)
				}
			case <-retry:
				reason = "retry"
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// scan lists the applies waiting for the bot and decides each. The
// decisions and their errors are in the audit lines, a failed listing in
// the summary line, which ends every scan.
func (p *Plugin) scan(ctx context.Context, reason string) {
	waiting := im.FriendApplyStatusWaiting
	listed := 0
	var err error
	for a, lerr := range p.bot.Client().AllReceivedFriendApplies(ctx, im.FriendApplyListOptions{Status: &waiting}) {
		if lerr != nil {
			err = lerr
			break
		}
		if !p.bot.Owns(bot.FriendKey(a.FromUserID)) {
			continue // another replica's (bot.Options.Cluster)
		}
		listed++
		_ = p.handle(ctx, a, sourceList) // in the audit line
	}
	if ctx.Err() != nil {
		return // shutting down: not worth a line
	}
	if err != nil {
		p.opts.Logger.LogAttrs(ctx, slog.LevelError, "friends: listing waiting applies failed", slog.String("scan", reason), slog.Int("listed", listed), slog.Any("err", err))
		return
	}
	p.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "friends: waiting applies scanned", slog.String("scan", reason), slog.Int("listed", listed))
}

// handle decides a once per run, acts, and writes the audit line. It
// returns the error of the answer, of the greeting or of the CapStore:
// the first two bot.Permanent, since the apply was decided and running
// the middleware again would not answer it again; the CapStore's not,
// since the apply is left undecided, for the bot's retry to decide.
func (p *Plugin) handle(ctx context.Context, a *im.FriendApply, source string) error {
	if a.Status != im.FriendApplyStatusWaiting || !p.claim(a.ID) {
		return nil
	}
	v := p.decide(ctx, a)
	attrs := []slog.Attr{
		slog.Int64("apply", int64(a.ID)),
		slog.Int64("from", int64(a.FromUserID)),
		slog.String("decision", v.decision.String()),
		slog.String("rule", string(v.rule)),
		slog.String("source", source),
		slog.Time("applied", a.ApplyTime),
		slog.Any("ext_keys", slices.Sorted(maps.Keys(a.Ext))),
	}
	if v.exprErr != nil {
		attrs = append(attrs, slog.String("expr_err", v.exprErr.Error()))
	}
	var outcome string
	var err error
	if v.capErr != nil {
		// Undecided, and not counted: the bot's retry of a push, or a
		// listing RetryWait from now (or at a reconnect), decides it.
		p.unclaim(a.ID)
		select {
		case p.retry <- struct{}{}:
		default: // a retry is due already
		}
		outcome, err = outcomeFailed, v.capErr
	} else {
		p.metrics.decided(v.decision, v.rule)
		outcome, err = p.act(ctx, a, v.decision)
		if v.capDay != "" && outcome != outcomeDone {
			// The accept did not happen here: its place goes back. Should
			// that fail, the day counts one accept too many, never too few.
			if rerr := p.opts.CapStore.ReturnCap(ctx, v.capDay); rerr != nil {
				err = errors.Join(err, fmt.Errorf("friends: giving back the place of apply %v under the daily cap of %s: %w", a.ID, v.capDay, rerr))
			}
		}
	}
	attrs = append(attrs, slog.String("outcome", outcome))
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelError
		attrs = append(attrs, slog.Any("err", err))
	}
	p.opts.Logger.LogAttrs(ctx, level, "friends: apply decided", attrs...)
	if v.capErr != nil {
		return err
	}
	return bot.Permanent(err)
}

// claim reports whether the apply id is new in this run, and marks it.
func (p *Plugin) claim(id im.FriendApplyID) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.claimed[id] {
		return false
	}
	p.claimed[id] = true
	return true
}

// unclaim forgets a claim of the apply id, which was left undecided, so
// that the next push or listing of it decides it.
func (p *Plugin) unclaim(id im.FriendApplyID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.claimed, id)
}

// verdict is what decide made of an apply.
type verdict struct {
	decision Decision
	rule     Rule
	capDay   string // the day under whose cap the accept took a place; "" for none
	exprErr  error  // the expression's error, when it failed while running
	capErr   error  // the CapStore's error: the apply is left waiting, undecided
}

// decide applies the policy to a. An accept by All or Expr takes a place
// under the cap, which handle gives back if the accept fails. A failing
// expression counts as false; its error is in the verdict, for the audit
// line. A CapStore that fails leaves the apply waiting: the cap may be
// reached, so it is no accept, and it may not, so it is not OverCap.
func (p *Plugin) decide(ctx context.Context, a *im.FriendApply) verdict {
	switch {
	case p.deny[a.FromUserID]:
		return verdict{decision: Reject, rule: RuleDeny}
	case p.allow[a.FromUserID]:
		return verdict{decision: Accept, rule: RuleAllow}
	}
	now := p.opts.Now()
	rule := RuleAll
	if !p.opts.All {
		if p.prog == nil {
			return verdict{decision: p.opts.Otherwise, rule: RuleOtherwise}
		}
		out, err := expr.Run(p.prog, Env{From: int64(a.FromUserID), Ext: a.Ext, Time: a.ApplyTime, Now: now})
		if ok, _ := out.(bool); err != nil || !ok {
			return verdict{decision: p.opts.Otherwise, rule: RuleOtherwise, exprErr: err}
		}
		rule = RuleExpr
	}
	if p.opts.DailyCap == 0 {
		return verdict{decision: Accept, rule: rule}
	}
	day := now.In(p.opts.Location).Format(time.DateOnly)
	ok, err := p.opts.CapStore.TakeCap(ctx, day, p.opts.DailyCap)
	switch {
	case err != nil:
		return verdict{decision: Pending, rule: RuleCap, capErr: fmt.Errorf("friends: counting the daily cap of %s: %w", day, err)}
	case !ok:
		return verdict{decision: p.opts.OverCap, rule: RuleCap}
	}
	return verdict{decision: Accept, rule: rule, capDay: day}
}

// What became of a decision, as the audit line writes it.
const (
	outcomeDone   = "done"   // answered as decided (or left waiting)
	outcomeGone   = "gone"   // the apply was no longer waiting: answered elsewhere
	outcomeFailed = "failed" // the answer failed; the apply is still waiting
)

// act carries out d on a, greeting a new friend.
func (p *Plugin) act(ctx context.Context, a *im.FriendApply, d Decision) (outcome string, err error) {
	if d == Pending {
		return outcomeDone, nil
	}
	attitude := im.ReplyFriendAttitudeAccept
	if d == Reject {
		attitude = im.ReplyFriendAttitudeReject
	}
	_, failed, err := p.bot.Client().ReplyFriendApply(ctx, attitude, a.FromUserID)
	switch {
	case err != nil:
		return outcomeFailed, fmt.Errorf("friends: answering apply %v of user %v: %w", a.ID, a.FromUserID, err)
	case slices.Contains(failed, a.FromUserID):
		return outcomeGone, nil
	case d == Accept && p.greet != nil:
		if err := p.greetFriend(ctx, a); err != nil {
			return outcomeDone, fmt.Errorf("friends: greeting user %v: %w", a.FromUserID, err)
		}
	}
	return outcomeDone, nil
}

// greetFriend sends the greeting in the single chat with a's applicant.
// The client message id comes from the apply, so that the send is
// idempotent: however often it is tried, for one apply, the friend gets
// one greeting (a server that deduplicates by client id, as the embedded
// one does, drops the repeats).
func (p *Plugin) greetFriend(ctx context.Context, a *im.FriendApply) error {
	var text bytes.Buffer
	if err := p.greet.Execute(&text, GreetingData{User: int64(a.FromUserID), Ext: a.Ext}); err != nil {
		return err
	}
	conv, err := p.bot.Client().CreateConversation(ctx, im.CreateConversationOptions{Type: im.ConversationTypeOneToOne, Participants: []im.UserID{a.FromUserID}})
	if err != nil {
		return err
	}
	_, err = p.bot.Send(ctx, conv.Ref(), im.OutgoingMessage{Content: im.TextContent(text.String()), ClientID: GreetingClientID(a.ID)})
	return err
}

// GreetingClientID is the client message id of the greeting for apply id:
// "friends:greet:" and the id.
func GreetingClientID(id im.FriendApplyID) string {
	return "friends:greet:" + strconv.FormatInt(int64(id), 10)
}
