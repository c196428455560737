package friends_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/expr-lang/expr/file"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/plugins/friends"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const (
	botID = im.UserID(100)
	wait  = 5 * time.Second // the deadline of every wait on an event
)

// line is one log record, its attributes as text.
type line struct {
	Msg   string
	Level slog.Level
	Attrs map[string]string
}

// auditLog is a slog.Handler that records every line, for tests to wait
// on and read.
type auditLog struct {
	mu      sync.Mutex
	lines   []line
	arrived chan struct{} // closed and replaced when a line is recorded
}

func newAuditLog() *auditLog { return &auditLog{arrived: make(chan struct{})} }

func (l *auditLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *auditLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *auditLog) WithGroup(string) slog.Handler            { return l }

func (l *auditLog) Handle(_ context.Context, r slog.Record) error {
	ln := line{Msg: r.Message, Level: r.Level, Attrs: make(map[string]string)}
	r.Attrs(func(a slog.Attr) bool {
		ln.Attrs[a.Key] = a.Value.String()
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, ln)
	close(l.arrived)
	l.arrived = make(chan struct{})
	return nil
}

// waitFor returns the first line for which match reports true, waiting
// for it up to wait.
func (l *auditLog) waitFor(t *testing.T, what string, match func(line) bool) line {
	t.Helper()
	return l.waitNth(t, what, 1, match)
}

// waitNth returns the n-th line for which match reports true, waiting
// for it up to wait.
func (l *auditLog) waitNth(t *testing.T, what string, n int, match func(line) bool) line {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		l.mu.Lock()
		seen := 0
		for _, ln := range l.lines {
			if match(ln) {
				if seen++; seen == n {
					l.mu.Unlock()
					return ln
				}
			}
		}
		arrived := l.arrived
		l.mu.Unlock()
		select {
		case <-arrived:
		case <-timer.C:
			require.Failf(t, "timed out", "no %s logged within %v; the log:\n%s", what, wait, l)
		}
	}
}

// decision waits for the audit line of user's apply.
func (l *auditLog) decision(t *testing.T, user im.UserID) line {
	t.Helper()
	return l.waitFor(t, fmt.Sprintf("decision for user %v", user), func(ln line) bool {
		return ln.Msg == "friends: apply decided" && ln.Attrs["from"] == user.String()
	})
}

// scanned waits for the n-th summary line of a listing.
func (l *auditLog) scanned(t *testing.T, n int) line {
	t.Helper()
	return l.waitNth(t, fmt.Sprintf("scan %d", n), n, func(ln line) bool {
		return ln.Msg == "friends: waiting applies scanned"
	})
}

// decisions returns the audit lines of decisions so far.
func (l *auditLog) decisions() []line {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []line
	for _, ln := range l.lines {
		if ln.Msg == "friends: apply decided" {
			out = append(out, ln)
		}
	}
	return out
}

func (l *auditLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, ln := range l.lines {
		fmt.Fprintf(&b, "  %v %s %v\n", ln.Level, ln.Msg, ln.Attrs)
	}
	return b.String()
}

// echo answers users' text messages, so that a test can tell what came
// before the answer.
func echo(c *bot.Context) error {
	if !c.FromUser() {
		return nil
	}
	_, err := c.Reply("echo: " + c.Event.Message.Text())
	return err
}

// newBot returns a bot for botID on s, the friends plugin set up on it
// with opts (its audit lines going to the returned log) after the
// middleware mws, and echo as its handler. Run it with runBot.
func newBot(t *testing.T, s *imtest.Server, opts friends.Options, tweak func(*bot.Options), mws ...bot.Middleware) (*bot.Bot, *auditLog) {
	t.Helper()
	log := newAuditLog()
	opts.Logger = slog.New(log)
	p, err := friends.New(opts)
	require.NoError(t, err)
	var tweaks []func(*bot.Options)
	if tweak != nil {
		tweaks = append(tweaks, tweak)
	}
	b := s.NewBot(t, botID, tweaks...)
	b.Use(mws...)
	require.NoError(t, b.Plug(p))
	b.Handle(bot.HandlerFunc(echo))
	return b, log
}

// runBot runs b and waits for its first listing of waiting applies, so
// that applies sent after it come as pushes.
func runBot(t *testing.T, s *imtest.Server, b *bot.Bot, log *auditLog) {
	t.Helper()
	s.RunBot(t, b)
	log.scanned(t, 1)
}

func timeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// apply sends u's friend apply to the bot.
func apply(t *testing.T, u *imtest.User, ext map[string]string) *im.FriendApply {
	t.Helper()
	a, err := u.Client.SendFriendApply(timeout(t), botID, ext)
	require.NoError(t, err, "user %v applying", u.ID())
	return a
}

// status returns the status of u's latest apply to the bot, as u sees it.
func status(t *testing.T, u *imtest.User) im.FriendApplyStatus {
	t.Helper()
	page, err := u.Client.SentFriendApplies(timeout(t), im.FriendApplyListOptions{})
	require.NoError(t, err)
	for _, a := range slices.Backward(page.Applies) {
		if a.ToUserID == botID {
			return a.Status
		}
	}
	require.Failf(t, "no apply", "user %v has no apply to the bot", u.ID())
	return 0
}

// wantDecision checks an audit line and the apply's status on the server.
func wantDecision(t *testing.T, log *auditLog, u *imtest.User, decision friends.Decision, rule friends.Rule) line {
	t.Helper()
	ln := log.decision(t, u.ID())
	require.Equal(t, decision.String(), ln.Attrs["decision"], "user %v: audit line %v %v: decision", u.ID(), ln.Level, ln.Attrs)
	require.Equal(t, string(rule), ln.Attrs["rule"], "user %v: audit line %v %v: rule", u.ID(), ln.Level, ln.Attrs)
	require.Equal(t, "done", ln.Attrs["outcome"], "user %v: audit line %v %v: outcome", u.ID(), ln.Level, ln.Attrs)
	require.Equal(t, slog.LevelInfo, ln.Level, "user %v: audit line %v %v: level", u.ID(), ln.Level, ln.Attrs)
	want := map[friends.Decision]im.FriendApplyStatus{
		friends.Accept:  im.FriendApplyStatusAgree,
		friends.Reject:  im.FriendApplyStatusRefuse,
		friends.Pending: im.FriendApplyStatusWaiting,
	}[decision]
	require.Equal(t, want, status(t, u), "user %v: apply on the server", u.ID())
	return ln
}

// applyCase is one apply of a test and the decision it should get.
type applyCase struct {
	user     im.UserID
	ext      map[string]string
	decision friends.Decision
	rule     friends.Rule
}

// applyEach has each case's user (new on s) apply with its ext, in order,
// and checks the decision each gets, which it reads from a push.
func applyEach(t *testing.T, s *imtest.Server, log *auditLog, cases []applyCase) {
	t.Helper()
	for _, c := range cases {
		u := s.NewUser(t, c.user)
		apply(t, u, c.ext)
		ln := wantDecision(t, log, u, c.decision, c.rule)
		assert.Equal(t, "push", ln.Attrs["source"], "user %v: source", c.user)
	}
}

// fixedClock returns a clock that reads at until told otherwise.
type fixedClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fixedClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	sesame := map[string]string{"code": "sesame"}
	year2001 := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		opts    friends.Options
		applies []applyCase // in order
	}{
		{"all", friends.Options{All: true}, []applyCase{
			{1, nil, friends.Accept, friends.RuleAll},
			{2, sesame, friends.Accept, friends.RuleAll},
		}},
		{"allow, otherwise pending by default", friends.Options{Allow: []im.UserID{1}}, []applyCase{
			{1, nil, friends.Accept, friends.RuleAllow},
			{2, nil, friends.Pending, friends.RuleOtherwise},
		}},
		{"allow, otherwise reject", friends.Options{Allow: []im.UserID{1}, Otherwise: friends.Reject}, []applyCase{
			{2, nil, friends.Reject, friends.RuleOtherwise},
			{1, nil, friends.Accept, friends.RuleAllow},
		}},
		{"deny comes first", friends.Options{All: true, Allow: []im.UserID{2}, Deny: []im.UserID{2, 3}}, []applyCase{
			{2, nil, friends.Reject, friends.RuleDeny},
			{1, nil, friends.Accept, friends.RuleAll},
			{3, nil, friends.Reject, friends.RuleDeny},
		}},
		{"expr over from, ext, time and now", friends.Options{
			Expr: `Ext["code"] == "sesame" && From != 3 && Time.After(Now)`,
			Now:  func() time.Time { return year2001 },
		}, []applyCase{
			{1, sesame, friends.Accept, friends.RuleExpr},
			{2, nil, friends.Pending, friends.RuleOtherwise},
			{3, sesame, friends.Pending, friends.RuleOtherwise},
		}},
		{"expr with now in the future", friends.Options{
			Expr:      `Time.After(Now)`,
			Now:       func() time.Time { return time.Now().Add(time.Hour) },
			Otherwise: friends.Reject,
		}, []applyCase{
			{1, nil, friends.Reject, friends.RuleOtherwise},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := imtest.NewServer(t)
			b, log := newBot(t, s, tc.opts, nil)
			runBot(t, s, b, log)
			applyEach(t, s, log, tc.applies)
		})
	}
}

// An expression that fails while running counts as false, and its error
// is in the audit line.
func TestExprFailsWhileRunning(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b, log := newBot(t, s, friends.Options{Expr: `int(Ext["n"]) > 3`, Otherwise: friends.Reject}, nil)
	runBot(t, s, b, log)
	alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
	apply(t, alice, map[string]string{"n": "many"})
	ln := wantDecision(t, log, alice, friends.Reject, friends.RuleOtherwise)
	require.Contains(t, ln.Attrs["expr_err"], "many", "alice's audit line %v, want the expression's error", ln.Attrs)
	apply(t, bob, map[string]string{"n": "5"})
	ln = wantDecision(t, log, bob, friends.Accept, friends.RuleExpr)
	require.Empty(t, ln.Attrs["expr_err"], "bob's audit line %v has an expression error", ln.Attrs)
}

// The audit line names the ext's keys, never its values.
func TestAuditLine(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b, log := newBot(t, s, friends.Options{All: true}, nil)
	runBot(t, s, b, log)
	alice := s.NewUser(t, 1)
	a := apply(t, alice, map[string]string{"token": "s3cret", "source": "web"})
	ln := wantDecision(t, log, alice, friends.Accept, friends.RuleAll)
	want := map[string]string{
		"apply": fmt.Sprint(int64(a.ID)), "from": "1", "decision": "accept", "rule": "all", "source": "push",
		"applied": a.ApplyTime.String(), "ext_keys": "[source token]", "outcome": "done",
	}
	require.Equal(t, want, ln.Attrs, "audit line")
	require.NotContains(t, log.String(), "s3cret", "an ext value reached the log")
}

// The cap counts the accepts of All and Expr per day of Location; Allow
// is not counted nor capped; a new day in Location (not in UTC) resets
// the count.
func TestDailyCap(t *testing.T) {
	t.Parallel()
	utc8 := time.FixedZone("UTC+8", 8*3600)
	t.Run("pending over the cap", func(t *testing.T) {
		t.Parallel()
		clock := &fixedClock{now: time.Date(2026, 3, 1, 23, 0, 0, 0, utc8)}
		s := imtest.NewServer(t)
		b, log := newBot(t, s, friends.Options{All: true, Allow: []im.UserID{4}, DailyCap: 2, Location: utc8, Now: clock.Now}, nil)
		runBot(t, s, b, log)
		applyEach(t, s, log, []applyCase{
			{1, nil, friends.Accept, friends.RuleAll},
			{2, nil, friends.Accept, friends.RuleAll},
			{3, nil, friends.Pending, friends.RuleCap},
			{4, nil, friends.Accept, friends.RuleAllow},
		})
		// Midnight in UTC+8, 16:00 the same day in UTC.
		clock.Set(time.Date(2026, 3, 2, 0, 0, 0, 0, utc8))
		u := s.NewUser(t, 5)
		apply(t, u, nil)
		wantDecision(t, log, u, friends.Accept, friends.RuleAll)
	})
	t.Run("reject over the cap", func(t *testing.T) {
		t.Parallel()
		s := imtest.NewServer(t)
		b, log := newBot(t, s, friends.Options{Expr: "true", DailyCap: 1, OverCap: friends.Reject}, nil)
		runBot(t, s, b, log)
		alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
		apply(t, alice, nil)
		wantDecision(t, log, alice, friends.Accept, friends.RuleExpr)
		apply(t, bob, nil)
		wantDecision(t, log, bob, friends.Reject, friends.RuleCap)
	})
	t.Run("days of time.Local by default", func(t *testing.T) {
		t.Parallel()
		clock := &fixedClock{now: time.Date(2026, 3, 1, 23, 59, 0, 0, time.Local)}
		s := imtest.NewServer(t)
		b, log := newBot(t, s, friends.Options{All: true, DailyCap: 1, Now: clock.Now}, nil)
		runBot(t, s, b, log)
		alice, bob, carol := s.NewUser(t, 1), s.NewUser(t, 2), s.NewUser(t, 3)
		apply(t, alice, nil)
		wantDecision(t, log, alice, friends.Accept, friends.RuleAll)
		apply(t, bob, nil)
		wantDecision(t, log, bob, friends.Pending, friends.RuleCap)
		clock.Set(time.Date(2026, 3, 2, 0, 0, 0, 0, time.Local))
		apply(t, carol, nil)
		wantDecision(t, log, carol, friends.Accept, friends.RuleAll)
	})
}

// An accept that finds the apply answered already (here by another
// device of the bot's user) is "gone", and gives its place under the cap
// back; when giving it back fails, the place stays taken, and the error
// is in the audit line and at OnError.
func TestAnsweredElsewhere(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		returnFails bool
		bob         friends.Decision // after alice's place was given back, or not
	}{
		{"place given back", false, friends.Accept},
		{"giving back fails", true, friends.Pending},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := imtest.NewServer(t)
			holding, release := make(chan struct{}, 1), make(chan struct{})
			gate := func(next bot.Handler) bot.Handler { // holds the first apply
				var once sync.Once
				return bot.HandlerFunc(func(c *bot.Context) error {
					if c.Event.Kind == bot.EventFriendApplyReceived {
						once.Do(func() {
							holding <- struct{}{}
							<-release
						})
					}
					return next.Handle(c)
				})
			}
			caps := new(flakyCaps)
			if tc.returnFails {
				caps.returnFails.Store(1)
			}
			onError, errs := errorsTo()
			b, log := newBot(t, s, friends.Options{All: true, DailyCap: 1, CapStore: caps}, onError, gate)
			runBot(t, s, b, log)
			var releaseOnce sync.Once
			t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // before RunBot's cleanup stops the bot
			alice, bob := s.NewUser(t, 1), s.NewUser(t, 2)
			otherDevice := s.NewUser(t, botID)
			apply(t, alice, nil)
			waitChan(t, holding, "alice's apply at the gate")
			_, failed, err := otherDevice.Client.ReplyFriendApply(timeout(t), im.ReplyFriendAttitudeAccept, alice.ID())
			require.NoError(t, err, "accepting on the other device")
			require.Empty(t, failed, "accepting on the other device: failed")
			releaseOnce.Do(func() { close(release) })
			ln := log.decision(t, alice.ID())
			require.Equal(t, "accept", ln.Attrs["decision"], "alice's audit line %v, want accept, gone", ln.Attrs)
			require.Equal(t, "gone", ln.Attrs["outcome"], "alice's audit line %v, want accept, gone", ln.Attrs)
			if tc.returnFails {
				require.Equal(t, slog.LevelError, ln.Level, "alice's audit line %v", ln.Attrs)
				require.Contains(t, ln.Attrs["err"], "giving back the place", "alice's audit line %v: err", ln.Attrs)
				select {
				case err := <-errs:
					require.ErrorIs(t, err, errStore, "the error at OnError")
				case <-time.After(wait):
					require.FailNow(t, "no error at OnError")
				}
			} else {
				require.Equal(t, slog.LevelInfo, ln.Level, "alice's audit line %v", ln.Attrs)
			}
			apply(t, bob, nil)
			rule := friends.RuleAll
			if tc.bob == friends.Pending {
				rule = friends.RuleCap
			}
			wantDecision(t, log, bob, tc.bob, rule)
			select {
			case err := <-errs:
				require.FailNow(t, "an unexpected error at OnError", "%v", err)
			default:
			}
		})
	}
}

// The greeting comes once, from the template, in the single chat, with
// the apply's client id; the friend's next message is answered after it.
func TestGreeting(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b, log := newBot(t, s, friends.Options{All: true, Greeting: `Hi {{.User}} from {{index .Ext "source"}}!`}, nil)
	runBot(t, s, b, log)
	alice := s.NewUser(t, 1)
	a := apply(t, alice, map[string]string{"source": "web"})
	wantDecision(t, log, alice, friends.Accept, friends.RuleAll)
	conv := alice.CreateSingle(t, botID)
	m := alice.WaitReply(t, conv)
	require.Equal(t, "Hi 1 from web!", m.Text(), "greeting")
	require.Equal(t, botID, m.Sender, "greeting's sender")
	require.Equal(t, friends.GreetingClientID(a.ID), m.ClientID, "greeting's client id")
	require.Equal(t, "friends:greet:42", friends.GreetingClientID(42), "GreetingClientID(42)")
	alice.Send(t, conv, "hello")
	require.Equal(t, "echo: hello", alice.WaitReply(t, conv).Text(), "after the greeting came, want the echo")
}

// A restarted bot neither decides again the applies its previous run
// answered nor greets those friends again.
func TestRestartGreetsOnce(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice := s.NewUser(t, 1)
	conv := alice.CreateSingle(t, botID)

	first, log := newBot(t, s, friends.Options{All: true, Greeting: "hi"}, nil)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- first.Run(ctx) }() // joined below
	log.scanned(t, 1)
	apply(t, alice, nil)
	wantDecision(t, log, alice, friends.Accept, friends.RuleAll)
	require.Equal(t, "hi", alice.WaitReply(t, conv).Text(), "alice got, want the greeting")
	stop()
	select {
	case err := <-done:
		require.NoError(t, err, "first run")
	case <-time.After(wait):
		require.FailNow(t, "the first run did not stop")
	}

	second, log := newBot(t, s, friends.Options{All: true, Greeting: "hi"}, nil)
	runBot(t, s, second, log)
	ln := log.scanned(t, 1)
	require.Equal(t, "0", ln.Attrs["listed"], "scan line %v, want nothing waiting", ln.Attrs)
	alice.Send(t, conv, "still there?")
	require.Equal(t, "echo: still there?", alice.WaitReply(t, conv).Text(), "alice got, want the echo")
	require.Empty(t, log.decisions(), "the second run decided applies:\n%s", log)
}

// Applies sent while the bot was offline are decided when it starts,
// from the list of waiting applies, and greeted.
func TestOfflineAppliesAtStart(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	alice, bob, carol := s.NewUser(t, 1), s.NewUser(t, 2), s.NewUser(t, 3)
	apply(t, alice, nil)
	apply(t, bob, nil)
	apply(t, carol, nil)
	b, log := newBot(t, s, friends.Options{Allow: []im.UserID{1, 2}, Otherwise: friends.Reject, Greeting: "welcome"}, nil)
	runBot(t, s, b, log)
	for _, tc := range []struct {
		u        *imtest.User
		decision friends.Decision
	}{{alice, friends.Accept}, {bob, friends.Accept}, {carol, friends.Reject}} {
		rule := friends.RuleAllow
		if tc.decision == friends.Reject {
			rule = friends.RuleOtherwise
		}
		ln := wantDecision(t, log, tc.u, tc.decision, rule)
		require.Equal(t, "list", ln.Attrs["source"], "user %v: source", tc.u.ID())
	}
	ln := log.scanned(t, 1)
	require.Equal(t, "start", ln.Attrs["scan"], "scan line %v, want start, 3 listed", ln.Attrs)
	require.Equal(t, "3", ln.Attrs["listed"], "scan line %v, want start, 3 listed", ln.Attrs)
	for _, u := range []*imtest.User{alice, bob} {
		require.Equal(t, "welcome", u.WaitReply(t, u.CreateSingle(t, botID)).Text(), "user %v got, want the greeting", u.ID())
	}
}

// dropAndWaitRescan drops the bot's socket and waits for the listing that
// follows the reconnect, the n-th listing of the bot.
func dropAndWaitRescan(t *testing.T, b *bot.Bot, log *auditLog, n int) line {
	t.Helper()
	log.scanned(t, n-1) // the listings before, so that the n-th is the reconnect's
	require.True(t, b.Client().DropConnection(), "the bot has no socket to drop")
	ln := log.scanned(t, n)
	require.Equal(t, "reconnect", ln.Attrs["scan"], "scan line %v, want a reconnect's", ln.Attrs)
	return ln
}

// An apply is decided once per run, though it comes both as a push and
// in a listing, whichever comes first.
func TestDecidedOnce(t *testing.T) {
	t.Parallel()
	t.Run("pushed, then listed", func(t *testing.T) {
		t.Parallel()
		s := imtest.NewServer(t)
		b, log := newBot(t, s, friends.Options{Allow: []im.UserID{99}}, nil)
		runBot(t, s, b, log)
		alice := s.NewUser(t, 1)
		apply(t, alice, nil)
		wantDecision(t, log, alice, friends.Pending, friends.RuleOtherwise) // still waiting: listed again
		ln := dropAndWaitRescan(t, b, log, 2)
		require.Equal(t, "1", ln.Attrs["listed"], "scan line %v, want alice's apply listed", ln.Attrs)
		require.Len(t, log.decisions(), 1, "decisions, want 1:\n%s", log)
	})
	t.Run("listed, then pushed", func(t *testing.T) {
		t.Parallel()
		s := imtest.NewServer(t)
		holding, release, passed := make(chan struct{}, 1), make(chan struct{}), make(chan struct{}, 1)
		gate := func(next bot.Handler) bot.Handler { // holds the push until the listing decided
			return bot.HandlerFunc(func(c *bot.Context) error {
				if c.Event.Kind != bot.EventFriendApplyReceived {
					return next.Handle(c)
				}
				holding <- struct{}{}
				<-release
				err := next.Handle(c)
				passed <- struct{}{}
				return err
			})
		}
		var reached sync.Map // event kinds that reached the handler
		b, log := newBot(t, s, friends.Options{All: true, Greeting: "hi"}, nil, gate)
		b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
			reached.Store(c.Event.Kind, true)
			return echo(c)
		}))
		runBot(t, s, b, log)
		var releaseOnce sync.Once
		t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // before RunBot's cleanup stops the bot
		alice := s.NewUser(t, 1)
		apply(t, alice, nil)
		waitChan(t, holding, "the push at the gate")
		ln := dropAndWaitRescan(t, b, log, 2)
		require.Equal(t, "1", ln.Attrs["listed"], "scan line %v, want alice's apply listed", ln.Attrs)
		ln = wantDecision(t, log, alice, friends.Accept, friends.RuleAll)
		require.Equal(t, "list", ln.Attrs["source"], "alice's apply decided from, want list")
		releaseOnce.Do(func() { close(release) })
		waitChan(t, passed, "the push through the plugin")
		require.Len(t, log.decisions(), 1, "decisions, want 1:\n%s", log)
		_, ok := reached.Load(bot.EventFriendApplyReceived)
		require.False(t, ok, "the apply reached the handler")
		conv := alice.CreateSingle(t, botID)
		require.Equal(t, "hi", alice.WaitReply(t, conv).Text(), "alice got, want the greeting")
		alice.Send(t, conv, "one greeting?")
		require.Equal(t, "echo: one greeting?", alice.WaitReply(t, conv).Text(), "alice got, want the echo")
	})
}

func waitChan(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(wait):
		require.Failf(t, "timed out", "no %s within %v", what, wait)
	}
}

// An apply whose push was lost while the bot's socket was down is decided
// by the listing after the reconnect.
func TestRescanAfterReconnect(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	down, up := make(chan struct{}, 1), make(chan struct{})
	var upOnce sync.Once
	reconnect := func() { upOnce.Do(func() { close(up) }) }
	b, log := newBot(t, s, friends.Options{All: true}, func(o *bot.Options) {
		o.Client.ReconnectWait = func(int) time.Duration { // the socket stays down until reconnect
			down <- struct{}{}
			<-up
			return 0
		}
	})
	runBot(t, s, b, log)
	t.Cleanup(reconnect) // before RunBot's cleanup stops the bot
	alice := s.NewUser(t, 1)
	require.True(t, b.Client().DropConnection(), "the bot has no socket to drop")
	waitChan(t, down, "reconnect wait")
	apply(t, alice, nil)
	reconnect()
	ln := log.scanned(t, 2)
	require.Equal(t, "reconnect", ln.Attrs["scan"], "scan line %v, want a reconnect's with 1 listed", ln.Attrs)
	require.Equal(t, "1", ln.Attrs["listed"], "scan line %v, want a reconnect's with 1 listed", ln.Attrs)
	ln = wantDecision(t, log, alice, friends.Accept, friends.RuleAll)
	require.Equal(t, "list", ln.Attrs["source"], "alice's apply decided from, want list")
}

// Applies the bot sends are not the plugin's to decide.
func TestOwnAppliesPass(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b, log := newBot(t, s, friends.Options{All: true}, nil)
	runBot(t, s, b, log)
	alice, dave := s.NewUser(t, 1), s.NewUser(t, 4)
	_, err := b.Client().SendFriendApply(timeout(t), dave.ID(), nil)
	require.NoError(t, err)
	apply(t, alice, nil) // friend events are handled in order: alice's comes after
	wantDecision(t, log, alice, friends.Accept, friends.RuleAll)
	require.Len(t, log.decisions(), 1, "decisions, want alice's only:\n%s", log)
	page, err := dave.Client.ReceivedFriendApplies(timeout(t), im.FriendApplyListOptions{})
	require.NoError(t, err, "dave's applies")
	require.Len(t, page.Applies, 1, "dave's applies %+v; want the bot's, waiting", page)
	require.Equal(t, im.FriendApplyStatusWaiting, page.Applies[0].Status, "dave's applies %+v; want the bot's, waiting", page)
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		opts     friends.Options
		wantErr  string
		wantFile bool // the error wraps expr's *file.Error
	}{
		{"no rule", friends.Options{Deny: []im.UserID{1}}, "no rule accepts an apply", false},
		{"all and expr", friends.Options{All: true, Expr: "true"}, "All and Expr exclude each other", false},
		{"negative cap", friends.Options{All: true, DailyCap: -1}, "DailyCap -1 is negative", false},
		{"negative retry wait", friends.Options{All: true, RetryWait: -time.Second}, "RetryWait -1s is negative", false},
		{"accept over cap", friends.Options{All: true, OverCap: friends.Accept}, "OverCap must be Pending or Reject, got accept", false},
		{"accept otherwise", friends.Options{Allow: []im.UserID{1}, Otherwise: friends.Accept}, "Otherwise must be Pending or Reject, got accept", false},
		{"unknown decision", friends.Options{All: true, Otherwise: friends.Decision(9)}, "got Decision(9)", false},
		{"syntax", friends.Options{Expr: "From +"}, "unexpected token EOF (1:6)", true},
		{"unknown field", friends.Options{Expr: `Ext["a"] == "b" && Frm == 1`}, "unknown name Frm (1:20)", true},
		{"not a bool", friends.Options{Expr: "From"}, "expected bool, but got int64", false},
		{"bad template", friends.Options{All: true, Greeting: "Hi {{.User"}, "Options.Greeting: template: greeting:1:", false},
		{"unknown template field", friends.Options{All: true, Greeting: "Hi {{.Name}}"}, "can't evaluate field Name", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := friends.New(tc.opts)
			require.Error(t, err, "New")
			require.Nil(t, p, "New: a plugin with its error")
			require.ErrorContains(t, err, tc.wantErr, "New")
			require.True(t, strings.HasPrefix(err.Error(), "friends: "), "New: %v, want an error starting friends: ", err)
			var fe *file.Error
			require.Equal(t, tc.wantFile, errors.As(err, &fe), "errors.As(%v, *file.Error)", err)
		})
	}
}

func TestSetupTwice(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	p, err := friends.New(friends.Options{All: true})
	require.NoError(t, err)
	require.NoError(t, s.NewBot(t, botID).Plug(p))
	require.ErrorIs(t, s.NewBot(t, botID+1).Plug(p), friends.ErrAlreadySetUp, "second Setup")
}

func TestDecisionString(t *testing.T) {
	t.Parallel()
	for d, want := range map[friends.Decision]string{friends.Pending: "pending", friends.Accept: "accept", friends.Reject: "reject", 7: "Decision(7)"} {
		assert.Equal(t, want, d.String(), "Decision(%d).String()", int(d))
	}
}
