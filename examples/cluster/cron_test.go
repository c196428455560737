package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/plugins/cron"
	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

// TestCronReplicas runs the announcement (a cron job due every second)
// on 3 replicas sharing a Redis: one leads and posts each occurrence,
// once. Killed (SIGKILL) half way between two occurrences, it is
// followed, once its lease has run out, by another, which posts every
// occurrence from when it took the lead. Under the job's missed-run
// policy, the default cron.MissedSkip, the occurrences that fell due
// while nobody led are skipped: posted neither then nor late.
func TestCronReplicas(t *testing.T) {
	const (
		ttl           = time.Second // the cron lease's
		period        = time.Second // the job's
		before, after = 3, 3        // occurrences to see posted before the kill, and after it by another replica
		// tol is how near to the kill or the takeover an occurrence
		// may fall either way: the replicas' clocks are this machine's,
		// but a new leader reads the last run before it looks at the
		// time.
		tol = 50 * time.Millisecond
	)
	s := imtest.NewServer(t)
	r := redistest.Start(t)
	u := s.NewUser(t, userID)
	group := u.CreateGroup(t, botID)
	leads := &leadLog{w: os.Stderr, changed: make(chan struct{})}
	f := newFleet(testReplica, replicaConfig{APIURL: s.URL(), FrontierURL: s.FrontierURL(), AppSecret: s.Config.AppSecret, Redis: r.Addr(),
		Prefix: redisstate.BotPrefix(s.AppID(), botID), LeaseTTL: ttl, Announce: group.ID}, leads)
	t.Cleanup(func() { assert.NoError(t, f.close(), "stopping the replicas") })
	for _, name := range []string{"r1", "r2", "r3"} {
		require.NoError(t, f.start(name, imtest.DefaultTimeout))
	}

	var posts []post
	next := func(timeout time.Duration) post {
		t.Helper()
		m := u.WaitMessage(t, group, timeout)
		p, err := parsePost(m)
		require.NoError(t, err)
		posts = append(posts, p)
		return p
	}
	last := next(imtest.DefaultTimeout) // the first once a replica leads
	for range before - 1 {
		last = next(period + time.Second)
	}
	leader := last.replica
	// Half way to the next occurrence, so that it falls due after the
	// kill and while the dead leader's lease runs out, with nobody
	// leading: not a wait for something to happen, the moment chosen for
	// the fault.
	<-time.After(time.Until(last.at.Add(period / 2)))
	killedAt := time.Now()
	require.NoError(t, f.kill(leader))
	killed := time.Since(killedAt)

	// The next leader takes the lease as it expires, within a TTL of the
	// kill (the others poll it every quarter TTL, or at its expiry if
	// sooner), and posts from the next second on.
	takeover := ttl + ttl/4 + period + time.Second
	for n := 0; n < after; {
		if p := next(takeover); p.at.After(killedAt) {
			n++
		}
		takeover = period + time.Second
	}
	newLead, ok := leads.await(killedAt, imtest.DefaultTimeout)
	require.True(t, ok, "a replica logged %q after the kill", leadingMsg)
	assert.NotEqual(t, leader, newLead.replica, "the new leader")

	// Each occurrence posted once: the user got one message for it,
	// under its idempotency key.
	byTime := make(map[time.Time][]post)
	for _, p := range posts {
		byTime[p.at] = append(byTime[p.at], p)
		assert.Equal(t, cron.Key(announceJob, p.at), p.msg.ClientID, "client id of %s", p.msg.Text())
	}
	for at, ps := range byTime {
		assert.Len(t, ps, 1, "posts of the occurrence at %v", at)
	}
	// Every second from the first post to the last, by what the
	// schedule promises for it.
	first, end := posts[0].at, posts[len(posts)-1].at
	var beforeKill, missed, afterKill []time.Time
	for at := first; !at.After(end); at = at.Add(period) {
		ps := byTime[at]
		switch {
		case at.Before(killedAt.Add(-tol)): // the leader's: posted
			beforeKill = append(beforeKill, at)
			if assert.Len(t, ps, 1, "posts of the occurrence at %v, before the kill", at) {
				assert.Equal(t, leader, ps[0].replica, "poster of the occurrence at %v, before the kill", at)
			}
		case at.After(killedAt.Add(tol)) && at.Before(newLead.at.Add(-tol)): // nobody led: skipped
			missed = append(missed, at)
			assert.Empty(t, ps, "posts of the occurrence at %v, due after the kill and before %s took the lead at %v (policy %v)",
				at, newLead.replica, newLead.at, cron.MissedSkip)
		case at.After(newLead.at.Add(tol)): // the new leader's: posted
			afterKill = append(afterKill, at)
			if assert.Len(t, ps, 1, "posts of the occurrence at %v, after the takeover", at) {
				assert.Equal(t, newLead.replica, ps[0].replica, "poster of the occurrence at %v, after the takeover", at)
			}
		default: // too near the kill or the takeover to tell: at most once, checked above
		}
	}
	assert.GreaterOrEqual(t, len(beforeKill), before, "occurrences posted before the kill")
	assert.GreaterOrEqual(t, len(afterKill), after, "occurrences posted after the takeover")
	assert.LessOrEqual(t, newLead.at.Sub(killedAt), ttl+ttl/4+tol, "takeover time")

	lastBefore, firstAfter := lastPostedBy(posts, leader), firstPostedBy(posts, newLead.replica)
	var gap []string // the occurrences between the two: none posted
	for at := lastBefore.at.Add(period); at.Before(firstAfter.at); at = at.Add(period) {
		gap = append(gap, at.Format(time.TimeOnly))
	}
	t.Logf("%s led and posted %d occurrences, the last at %v; killed %v after it (SIGKILL, reaped in %v); %s took the lead %v after the kill and posted %d, the first at %v",
		leader, len(beforeKill), lastBefore.at.Format(time.TimeOnly), killedAt.Sub(lastBefore.at).Round(time.Millisecond), killed.Round(time.Millisecond),
		newLead.replica, newLead.at.Sub(killedAt).Round(time.Millisecond), len(afterKill), firstAfter.at.Format(time.TimeOnly))
	t.Logf("gap %v between the last occurrence before the kill and the first after: %d missed %v, skipped (policy %v), of which %d due while nobody led; the latest post came %v after its occurrence",
		firstAfter.at.Sub(lastBefore.at), len(gap), gap, cron.MissedSkip, len(missed), latestPost(posts).Round(time.Millisecond))
}

// post is one announcement the user got: the occurrence, and the
// replica that posted it.
type post struct {
	at      time.Time
	replica string
	msg     *im.Message
}

// parsePost reads an announcement (announceLine).
func parsePost(m *im.Message) (post, error) {
	var at, replica string
	if _, err := fmt.Sscanf(m.Text(), announceLine, &at, &replica); err != nil {
		return post{}, fmt.Errorf("not an announcement: %q from %v: %w", m.Text(), m.Sender, err)
	}
	t, err := time.Parse(time.RFC3339, at)
	if err != nil {
		return post{}, fmt.Errorf("announcement %q: %w", m.Text(), err)
	}
	return post{at: t, replica: replica, msg: m}, nil
}

func lastPostedBy(posts []post, replica string) post {
	for _, p := range slices.Backward(posts) {
		if p.replica == replica {
			return p
		}
	}
	return post{}
}

func firstPostedBy(posts []post, replica string) post {
	for _, p := range posts {
		if p.replica == replica {
			return p
		}
	}
	return post{}
}

// latestPost returns how long after its occurrence the latest post was
// stored by the server.
func latestPost(posts []post) time.Duration {
	var late time.Duration
	for _, p := range posts {
		late = max(late, p.msg.CreatedAt.Sub(p.at))
	}
	return late
}

// lead is a replica's start of a lead of the cron jobs, as it logged
// it.
type lead struct {
	replica string
	at      time.Time // the log line's
}

// leadLine matches the log line of a replica that starts leading, in
// slog's text format.
var leadLine = regexp.MustCompile(`^time=(\S+) level=INFO msg="` + regexp.QuoteMeta(leadingMsg) + `" replica=(\S+)`)

// leadLog passes the replicas' logs on to w, and keeps the leads they
// log. The fleet writes to it one chunk at a time, and each log line is
// one write to a pipe, which a chunk holds whole; a line may still
// arrive in two chunks, hence partial. Its methods are safe for
// concurrent use.
type leadLog struct {
	w io.Writer

	mu      sync.Mutex
	partial []byte
	leads   []lead
	changed chan struct{} // closed and replaced on each lead
}

func (l *leadLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		line, rest, ok := bytes.Cut(l.partial, []byte("\n"))
		if !ok {
			break
		}
		l.partial = rest
		m := leadLine.FindSubmatch(line)
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, string(m[1]))
		if err != nil {
			continue // not slog's time: not the line
		}
		l.leads = append(l.leads, lead{replica: string(m[2]), at: at})
		close(l.changed)
		l.changed = make(chan struct{})
	}
	l.partial = bytes.Clone(l.partial) // let go of the lines read
	return l.w.Write(p)
}

// await returns the first lead logged after since, waiting up to
// timeout for it.
func (l *leadLog) await(since time.Time, timeout time.Duration) (lead, bool) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		l.mu.Lock()
		i := slices.IndexFunc(l.leads, func(d lead) bool { return d.at.After(since) })
		var found lead
		if i >= 0 {
			found = l.leads[i]
		}
		changed := l.changed
		l.mu.Unlock()
		if i >= 0 {
			return found, true
		}
		select {
		case <-changed:
		case <-t.C:
			return lead{}, false
		}
	}
}
