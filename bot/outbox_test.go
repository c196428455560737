package bot

// Tests of the outbound queue with a fake sendFunc: what is tested is the
// queue. Most run in a synctest bubble, whose clock advances only when
// every goroutine is blocked: synctest.Wait is how a test knows that the
// sends it started are queued, and the limits' and retries' waits take no
// real time and are exact.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
)

// call is one attempt that reached the fake wire.
type call struct {
	conv     im.ConversationID
	text     string
	clientID string
	at       time.Time
}

// fakeWire is a sendFunc that records its calls, checks that no
// conversation has two sends on the wire at once, and answers with fail.
type fakeWire struct {
	gate     chan struct{}             // when non-nil, each call waits for a value (or close) before answering
	fail     func(c call, n int) error // the error of the n-th call (from 0); nil: success
	mu       sync.Mutex
	calls    []call
	onWire   map[im.ConversationID]int
	total    int
	maxTotal int
	overlap  []im.ConversationID // conversations that had two sends on the wire at once
}

func newWire() *fakeWire { return &fakeWire{onWire: make(map[im.ConversationID]int)} }

func (w *fakeWire) send(ctx context.Context, to im.ConversationRef, out im.OutgoingMessage) (*im.Message, error) {
	c := call{conv: to.ID, text: out.Content, clientID: out.ClientID, at: time.Now()}
	w.mu.Lock()
	n := len(w.calls)
	w.calls = append(w.calls, c)
	if w.onWire[to.ID]++; w.onWire[to.ID] > 1 {
		w.overlap = append(w.overlap, to.ID)
	}
	w.total++
	w.maxTotal = max(w.maxTotal, w.total)
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.onWire[to.ID]--
		w.total--
		w.mu.Unlock()
	}()
	if w.gate != nil {
		select {
		case <-w.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	m := &im.Message{ClientID: out.ClientID, ConversationID: to.ID, Content: out.Content}
	if w.fail != nil {
		if err := w.fail(c, n); err != nil {
			m.FlightStatus = im.FlightStatusFailed
			return m, err
		}
	}
	return m, nil
}

// texts returns the texts of the calls, in order.
func (w *fakeWire) texts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, c := range w.calls {
		out = append(out, c.text)
	}
	return out
}

func (w *fakeWire) snapshot() []call {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]call(nil), w.calls...)
}

// conv returns a single chat's ref; live returns a live chat's.
func conv(name string) im.ConversationRef {
	return im.ConversationRef{ID: im.ConversationID(name), Type: im.ConversationTypeOneToOne}
}

func live(name string) im.ConversationRef {
	return im.ConversationRef{ID: im.ConversationID(name), Type: im.ConversationTypeMassChat}
}

type result struct {
	m   *im.Message
	err error
}

// start sends text to to on a new goroutine and returns its result's
// channel. In a bubble, callers follow it with synctest.Wait to know that
// the send is queued (or on the wire) before they start the next.
func start(ctx context.Context, o *outbox, prio Priority, to im.ConversationRef, text string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		m, err := o.send(ctx, prio, to, im.OutgoingMessage{Content: text})
		ch <- result{m, err}
	}()
	return ch
}

// queue starts a send and waits until it is queued or on the wire.
func queue(ctx context.Context, o *outbox, prio Priority, to im.ConversationRef, text string) <-chan result {
	ch := start(ctx, o, prio, to, text)
	synctest.Wait()
	return ch
}

// mustOK fails t unless every result is a success.
func mustOK(t *testing.T, chs ...<-chan result) {
	t.Helper()
	for i, ch := range chs {
		if r := <-ch; r.err != nil {
			t.Errorf("send %d: %v", i, r.err)
		}
	}
}

func newTestOutbox(t *testing.T, opts SendOptions, w *fakeWire) *outbox {
	t.Helper()
	o, err := newOutbox(opts, w.send)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(o.close)
	return o
}

// counts returns the outbox's sends queued and waiting for a place.
func (o *outbox) counts() (queued, waitPlace int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, w := range o.placeWait {
		waitPlace += len(w)
	}
	return o.queued, waitPlace
}

func TestOutboxOrderPerConversation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.gate = make(chan struct{})
		o := newTestOutbox(t, SendOptions{MaxInFlight: 3}, w)
		const convs, per = 5, 10
		prios := []Priority{PriorityBulk, PriorityReply, PriorityNormal}
		var chs []<-chan result
		for i := range per {
			for c := range convs {
				// Mixed priorities: they must not reorder a conversation.
				chs = append(chs, queue(t.Context(), o, prios[(i+c)%len(prios)], conv(fmt.Sprint("c", c)), fmt.Sprint(i)))
			}
		}
		close(w.gate)
		mustOK(t, chs...)
		got := map[im.ConversationID][]string{}
		for _, c := range w.snapshot() {
			got[c.conv] = append(got[c.conv], c.text)
		}
		for c := range convs {
			id := im.ConversationID(fmt.Sprint("c", c))
			if want := "0 1 2 3 4 5 6 7 8 9"; strings.Join(got[id], " ") != want {
				t.Errorf("%s went out as %v, want %s", id, got[id], want)
			}
		}
		if len(w.overlap) > 0 || w.maxTotal > 3 {
			t.Errorf("two sends of one conversation on the wire at once: %v; max on the wire %d (MaxInFlight 3)", w.overlap, w.maxTotal)
		}
	})
}

// TestOutboxConcurrent runs senders on real goroutines (no bubble), for
// the race detector: each sender's sends to a conversation go out in its
// order, one at a time.
func TestOutboxConcurrent(t *testing.T) {
	t.Parallel()
	w := newWire()
	o := newTestOutbox(t, SendOptions{MaxInFlight: 4, MaxQueued: 8}, w)
	const senders, per, convs = 8, 50, 4
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := range per {
				prio := Priority(1 + (s+i)%3)
				if _, err := o.send(t.Context(), prio, conv(fmt.Sprint("c", (s+i)%convs)), im.OutgoingMessage{Content: fmt.Sprintf("%d/%d", s, i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	last := map[int]int{}
	for _, text := range w.texts() {
		var s, i int
		fmt.Sscanf(text, "%d/%d", &s, &i)
		if l, ok := last[s]; ok && i != l+1 {
			t.Fatalf("sender %d: send %d went out after %d", s, i, l)
		}
		last[s] = i
	}
	if n := len(w.texts()); n != senders*per {
		t.Errorf("%d sends on the wire, want %d", n, senders*per)
	}
	if len(w.overlap) > 0 || w.maxTotal > 4 {
		t.Errorf("overlapping sends of %v; max on the wire %d (MaxInFlight 4)", w.overlap, w.maxTotal)
	}
	if q, p := o.counts(); q != 0 || p != 0 || o.inFlight != 0 || o.ready.Len() != 0 || o.parked.Len() != 0 {
		t.Errorf("after the sends: queued %d, waiting %d, in flight %d, ready %d, parked %d; want all 0",
			q, p, o.inFlight, o.ready.Len(), o.parked.Len())
	}
}

// TestOutboxPriority queues sends behind one on the wire (MaxInFlight 1)
// and checks the order they leave in: replies before normal sends before
// bulk ones, in arrival order within a priority, except that a reply
// queued behind bulk sends of its conversation pulls them ahead (it
// cannot overtake them).
func TestOutboxPriority(t *testing.T) {
	t.Parallel()
	type send struct {
		prio       Priority
		conv, text string
	}
	for _, tc := range []struct {
		name  string
		sends []send
		want  string
	}{
		{"by priority", []send{
			{PriorityNormal, "z", "z"}, // on the wire
			{PriorityBulk, "a", "a"}, {PriorityBulk, "b", "b"}, {PriorityNormal, "c", "c"},
			{PriorityReply, "d", "d"}, {PriorityNormal, "e", "e"}, {PriorityReply, "f", "f"},
		}, "z d f c e a b"},
		{"inherited by the sends a reply waits behind", []send{
			{PriorityNormal, "z", "z"},
			{PriorityBulk, "b", "b1"}, {PriorityBulk, "a", "a1"}, {PriorityBulk, "a", "a2"},
			{PriorityReply, "a", "a3"}, {PriorityNormal, "c", "c1"},
		}, "z a1 a2 a3 c1 b1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWire()
				w.gate = make(chan struct{})
				o := newTestOutbox(t, SendOptions{MaxInFlight: 1}, w)
				var chs []<-chan result
				for _, s := range tc.sends {
					chs = append(chs, queue(t.Context(), o, s.prio, conv(s.conv), s.text))
				}
				close(w.gate)
				mustOK(t, chs...)
				if got := strings.Join(w.texts(), " "); got != tc.want {
					t.Errorf("order %q, want %q", got, tc.want)
				}
			})
		})
	}
}

func TestOutboxMaxInFlight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opt, want int
	}{{3, 3}, {0, DefaultSendMaxInFlight}} {
		t.Run(fmt.Sprint(tc.opt), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newWire()
				w.gate = make(chan struct{})
				o := newTestOutbox(t, SendOptions{MaxInFlight: tc.opt}, w)
				var chs []<-chan result
				for i := range 20 {
					chs = append(chs, start(t.Context(), o, PriorityNormal, conv(fmt.Sprint("c", i)), "x"))
				}
				synctest.Wait()
				if q, _ := o.counts(); w.total != tc.want || q != 20-tc.want {
					t.Errorf("%d on the wire and %d queued, want %d and %d", w.total, q, tc.want, 20-tc.want)
				}
				close(w.gate)
				mustOK(t, chs...)
				if w.maxTotal != tc.want {
					t.Errorf("at most %d on the wire, want %d", w.maxTotal, tc.want)
				}
			})
		})
	}
}

// sinceStart returns the times of the calls, relative to t0, rounded to
// the millisecond (the limits' waits are computed in floating point).
func sinceStart(w *fakeWire, t0 time.Time) string {
	var out []string
	for _, c := range w.snapshot() {
		out = append(out, fmt.Sprintf("%s@%v", c.text, c.at.Sub(t0).Round(time.Millisecond)))
	}
	return strings.Join(out, " ")
}

func TestOutboxLimits(t *testing.T) {
	t.Parallel()
	type step struct {
		to   im.ConversationRef
		text string
	}
	a, b, l := conv("a"), conv("b"), live("l")
	for _, tc := range []struct {
		name  string
		opts  SendOptions
		sends []step
		want  string // text@time since the start, in call order
	}{{
		name:  "global",
		opts:  SendOptions{Global: Limit{Rate: 10, Burst: 2}},
		sends: []step{{a, "a1"}, {b, "b1"}, {a, "a2"}, {b, "b2"}, {conv("c"), "c1"}},
		want:  "a1@0s b1@0s a2@100ms b2@200ms c1@300ms",
	}, {
		// A conversation waiting for its limit holds no slot and holds up
		// no other conversation (MaxInFlight 1).
		name:  "per conversation",
		opts:  SendOptions{PerConversation: Limit{Rate: 10, Burst: 1}, MaxInFlight: 1},
		sends: []step{{a, "a1"}, {a, "a2"}, {a, "a3"}, {b, "b1"}, {b, "b2"}},
		want:  "a1@0s b1@0s a2@100ms b2@100ms a3@200ms",
	}, {
		name:  "burst defaults to 1",
		opts:  SendOptions{PerConversation: Limit{Rate: 10}},
		sends: []step{{a, "a1"}, {a, "a2"}},
		want:  "a1@0s a2@100ms",
	}, {
		// PerLiveChat replaces PerConversation for live chats.
		name:  "live",
		opts:  SendOptions{PerConversation: Limit{Rate: 1, Burst: 1}, PerLiveChat: Limit{Rate: 10, Burst: 1}},
		sends: []step{{l, "l1"}, {a, "a1"}, {l, "l2"}, {a, "a2"}, {l, "l3"}},
		want:  "l1@0s a1@0s l2@100ms l3@200ms a2@1s",
	}, {
		name:  "rate.Inf",
		opts:  SendOptions{Global: Limit{Rate: rate.Inf}, PerConversation: Limit{Rate: rate.Inf}},
		sends: []step{{a, "a1"}, {a, "a2"}, {a, "a3"}},
		want:  "a1@0s a2@0s a3@0s",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := newWire()
				o := newTestOutbox(t, tc.opts, w)
				t0 := time.Now()
				var chs []<-chan result
				for _, s := range tc.sends {
					chs = append(chs, start(t.Context(), o, PriorityNormal, s.to, s.text))
					// Queued in this order, not further (the clock has
					// not moved: the limits' waits are still running).
					synctest.Wait()
					if d := time.Since(t0); d != 0 {
						t.Fatalf("the clock moved by %v while queueing", d)
					}
				}
				mustOK(t, chs...)
				if got := sinceStart(w, t0); got != tc.want {
					t.Errorf("sends went out as\n%s\nwant\n%s", got, tc.want)
				}
			})
		})
	}
}

// fakeClock is a clock for SendOptions.Now that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestOutboxNow: the limits read SendOptions.Now, not the real clock.
func TestOutboxNow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		w := newWire()
		o := newTestOutbox(t, SendOptions{Global: Limit{Rate: 1, Burst: 1}, Now: clock.Now}, w)
		ctx := t.Context()
		mustOK(t, queue(ctx, o, PriorityNormal, conv("a"), "a"))
		b := queue(ctx, o, PriorityNormal, conv("b"), "b") // no token yet
		if got := w.texts(); len(got) != 1 {
			t.Fatalf("sent %v before the limit allowed", got)
		}
		clock.advance(time.Second)
		t0 := time.Now()
		// A send arriving dispatches: by the fake clock b may go now, and
		// goes first; c waits for the next token.
		c := queue(ctx, o, PriorityNormal, conv("c"), "c")
		mustOK(t, b)
		if got := strings.Join(w.texts(), " "); got != "a b" || time.Since(t0) != 0 {
			t.Fatalf("sent %q after %v, want \"a b\" at once", got, time.Since(t0))
		}
		clock.advance(time.Second)
		mustOK(t, c) // when the timer fires, the fake clock allows it
	})
}

// rateLimited is the server's 429 answer with a retry hint.
func rateLimited(hint time.Duration) error {
	return &im.Error{Type: im.ErrorTypeServer, ReachServer: true, StatusCode: improto.StatusCode_TOO_MANY_REQUESTS,
		Msg: "too many requests", RetryAfter: hint}
}

func TestOutboxRetryHonoursHint(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.fail = func(c call, n int) error {
			if n == 0 {
				return rateLimited(1500 * time.Millisecond)
			}
			return nil
		}
		o := newTestOutbox(t, SendOptions{}, w)
		ctx := t.Context()
		t0 := time.Now()
		a1 := queue(ctx, o, PriorityNormal, conv("a"), "a1") // fails, waits for its retry
		a2 := queue(ctx, o, PriorityReply, conv("a"), "a2")  // waits for a1: its conversation's order
		b1 := queue(ctx, o, PriorityReply, conv("b"), "b1")  // waits: the hint pauses every send
		r := <-a1
		if r.err != nil {
			t.Fatal(r.err)
		}
		mustOK(t, a2, b1)
		// a1's retry and b1 go at once, on two slots, in either order.
		at := map[string][]time.Duration{}
		ids := map[string][]string{}
		var order []string
		for _, c := range w.snapshot() {
			at[c.text] = append(at[c.text], c.at.Sub(t0))
			ids[c.text] = append(ids[c.text], c.clientID)
			order = append(order, c.text)
		}
		if got, want := fmt.Sprint(at), "map[a1:[0s 1.5s] a2:[1.5s] b1:[1.5s]]"; got != want {
			t.Errorf("sent at %s, want %s", got, want)
		}
		if slices.Index(order, "a2") < 2 {
			t.Errorf("order %v: a2 went before a1's retry", order)
		}
		if id := ids["a1"]; id[0] == "" || id[1] != id[0] || r.m.ClientID != id[0] {
			t.Errorf("client ids %q, returned %q: want one id, not empty", id, r.m.ClientID)
		}
		if ids["b1"][0] == ids["a1"][0] || ids["a2"][0] == ids["a1"][0] {
			t.Error("two messages got the same client id")
		}
	})
}

func TestOutboxRetryKeepsClientID(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.fail = func(c call, n int) error {
			if n == 0 {
				return &im.Error{Type: im.ErrorTypeTimeout, Msg: "request failed"}
			}
			return nil
		}
		o := newTestOutbox(t, SendOptions{}, w)
		t0 := time.Now()
		if _, err := o.send(t.Context(), PriorityReply, conv("a"), im.OutgoingMessage{Content: "x", ClientID: "mine"}); err != nil {
			t.Fatal(err)
		}
		calls := w.snapshot()
		if len(calls) != 2 || calls[0].clientID != "mine" || calls[1].clientID != "mine" {
			t.Fatalf("calls %+v, want two with client id \"mine\"", calls)
		}
		if d := calls[1].at.Sub(t0); d != sendRetryBackoff {
			t.Errorf("retried after %v, want the backoff %v", d, sendRetryBackoff)
		}
	})
}

// TestOutboxRetries: which failures are retried, how often, how soon.
func TestOutboxRetries(t *testing.T) {
	t.Parallel()
	network := &im.Error{Type: im.ErrorTypeNetwork, Msg: "request failed", Inner: errors.New("connection reset")}
	for _, tc := range []struct {
		name       string
		maxRetries int
		err        error
		wantGaps   []time.Duration // between the attempts
	}{
		{"network, default", 0, network, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}},
		{"network, 1", 1, network, []time.Duration{100 * time.Millisecond}},
		{"network, -1", -1, network, nil},
		{"timeout", 1, &im.Error{Type: im.ErrorTypeTimeout, Msg: "request failed", Inner: context.DeadlineExceeded}, []time.Duration{100 * time.Millisecond}},
		{"429 without hint", 2, &im.Error{Type: im.ErrorTypeServer, ReachServer: true, StatusCode: improto.StatusCode_TOO_MANY_REQUESTS},
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{"429 with a shorter hint than the backoff", 2, rateLimited(10 * time.Millisecond), []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		{"429 with a hint", 2, rateLimited(time.Second), []time.Duration{time.Second, time.Second}},
		{"wrapped ErrRateLimited", 1, fmt.Errorf("proxy: %w", im.ErrRateLimited), []time.Duration{100 * time.Millisecond}},
		{"server error", 2, &im.Error{Type: im.ErrorTypeServer, ReachServer: true, StatusCode: improto.StatusCode_SERVER_ERR},
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond}},
		// Logical answers are final.
		{"not a member", 3, &im.Error{Type: im.ErrorTypeServer, ReachServer: true, StatusCode: improto.StatusCode_USER_NOT_IN_GROUP}, nil},
		{"invalid argument", 3, &im.Error{Type: im.ErrorTypeInvalidArgument, Msg: "bad"}, nil},
		{"client closed", 3, &im.Error{Type: im.ErrorTypeClosed, Msg: "closed", Inner: im.ErrClosed}, nil},
		{"im.ErrClosed", 3, im.ErrClosed, nil},
		{"other", 3, errors.New("boom"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				w := newWire()
				w.fail = func(call, int) error { return tc.err }
				o := newTestOutbox(t, SendOptions{MaxRetries: tc.maxRetries}, w)
				m, err := o.send(t.Context(), PriorityNormal, conv("a"), im.OutgoingMessage{Content: "x"})
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want one that wraps %v", err, tc.err)
				}
				if m == nil || m.FlightStatus != im.FlightStatusFailed {
					t.Errorf("message %+v, want the send's message", m)
				}
				calls := w.snapshot()
				var gaps []time.Duration
				for i := 1; i < len(calls); i++ {
					gaps = append(gaps, calls[i].at.Sub(calls[i-1].at))
				}
				if fmt.Sprint(gaps) != fmt.Sprint(tc.wantGaps) {
					t.Errorf("%d attempts, %v apart; want %d, %v apart", len(calls), gaps, len(tc.wantGaps)+1, tc.wantGaps)
				}
				if n := len(calls); n > 1 && !strings.Contains(err.Error(), fmt.Sprintf("after %d attempts", n)) {
					t.Errorf("error %q does not tell the %d attempts", err, n)
				}
			})
		})
	}
}

// TestOutboxNoRetryAfterCancel: a send whose context ends is not retried,
// whatever the error says.
func TestOutboxNoRetryAfterCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		w := newWire()
		w.fail = func(call, int) error {
			cancel()
			return &im.Error{Type: im.ErrorTypeNetwork, Msg: "request failed", Inner: context.Canceled}
		}
		o := newTestOutbox(t, SendOptions{}, w)
		if _, err := o.send(ctx, PriorityReply, conv("a"), im.OutgoingMessage{}); !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
		if n := len(w.snapshot()); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})
}

// TestOutboxContextEnds: a caller whose context ends while its send waits
// gets a clear error, and the send leaves the queue.
func TestOutboxContextEnds(t *testing.T) {
	t.Parallel()
	t.Run("queued", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := newWire()
			w.gate = make(chan struct{})
			o := newTestOutbox(t, SendOptions{MaxInFlight: 1}, w)
			z := queue(t.Context(), o, PriorityNormal, conv("z"), "z")
			ctx, cancel := context.WithCancel(t.Context())
			b := queue(ctx, o, PriorityReply, conv("b"), "b")
			c := queue(t.Context(), o, PriorityNormal, conv("c"), "c")
			cancel()
			r := <-b
			if want := "bot: send to b not sent: context canceled"; r.err == nil || r.err.Error() != want || !errors.Is(r.err, context.Canceled) {
				t.Errorf("error %v, want %q wrapping context.Canceled", r.err, want)
			}
			if q, _ := o.counts(); q != 1 {
				t.Errorf("%d queued, want 1 (c)", q)
			}
			close(w.gate)
			mustOK(t, z, c)
			if got := strings.Join(w.texts(), " "); got != "z c" {
				t.Errorf("sent %q, want \"z c\"", got)
			}
			if c := o.convs["b"]; c != nil && !c.idle(&instant{now: o.now}) {
				t.Errorf("b's conversation state is not idle: %+v", c)
			}
		})
	})
	t.Run("before", func(t *testing.T) {
		w := newWire()
		o := newTestOutbox(t, SendOptions{}, w)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := o.send(ctx, PriorityReply, conv("a"), im.OutgoingMessage{})
		if want := "bot: send to a not sent: context canceled"; err == nil || err.Error() != want {
			t.Errorf("error %v, want %q", err, want)
		}
		if len(w.snapshot()) != 0 {
			t.Error("sent with a context already done")
		}
	})
	t.Run("limit", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := newWire()
			o := newTestOutbox(t, SendOptions{Global: Limit{Rate: 1, Burst: 1}}, w)
			mustOK(t, queue(t.Context(), o, PriorityNormal, conv("a"), "a"))
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			_, err := o.send(ctx, PriorityNormal, conv("b"), im.OutgoingMessage{})
			if want := "bot: send to b not sent: context deadline exceeded"; err == nil || err.Error() != want || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want %q", err, want)
			}
			if q, _ := o.counts(); q != 0 || len(w.snapshot()) != 1 {
				t.Errorf("%d queued and %d sent, want 0 and 1", q, len(w.snapshot()))
			}
		})
	})
	t.Run("retry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			w := newWire()
			w.fail = func(call, int) error { return rateLimited(5 * time.Second) }
			o := newTestOutbox(t, SendOptions{}, w)
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			_, err := o.send(ctx, PriorityNormal, conv("a"), im.OutgoingMessage{})
			var e *im.Error
			if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &e) || e.RetryAfter != 5*time.Second ||
				!strings.HasPrefix(err.Error(), "bot: send to a given up after 1 attempts: context deadline exceeded") {
				t.Errorf("error %v, want one that gives up after 1 attempt, wrapping the deadline and the 429", err)
			}
			if q, _ := o.counts(); q != 0 || len(w.snapshot()) != 1 {
				t.Errorf("%d queued and %d sent, want 0 and 1", q, len(w.snapshot()))
			}
		})
	})
}

// TestOutboxBackpressure: beyond MaxQueued a send waits for a place, the
// most urgent first, until its context ends.
func TestOutboxBackpressure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.gate = make(chan struct{})
		o := newTestOutbox(t, SendOptions{MaxInFlight: 1, MaxQueued: 2}, w)
		ctx := t.Context()
		z := queue(ctx, o, PriorityNormal, conv("z"), "z") // on the wire
		q1 := queue(ctx, o, PriorityBulk, conv("q1"), "q1")
		q2 := queue(ctx, o, PriorityBulk, conv("q2"), "q2")
		p3 := queue(ctx, o, PriorityBulk, conv("p3"), "p3") // waits for a place
		if q, p := o.counts(); q != 2 || p != 1 {
			t.Fatalf("%d queued and %d waiting for a place, want 2 and 1", q, p)
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		t0 := time.Now()
		r := <-start(dctx, o, PriorityBulk, conv("p4"), "p4")
		if want := "bot: send to p4 not sent: context deadline exceeded"; r.err == nil || r.err.Error() != want || time.Since(t0) != time.Second {
			t.Errorf("error %v after %v, want %q after 1s", r.err, time.Since(t0), want)
		}
		r5 := queue(ctx, o, PriorityReply, conv("r5"), "r5") // takes the first place that frees, before p3
		if q, p := o.counts(); q != 2 || p != 2 {
			t.Fatalf("%d queued and %d waiting for a place, want 2 and 2", q, p)
		}
		close(w.gate)
		mustOK(t, z, q1, q2, p3, r5)
		if got, want := strings.Join(w.texts(), " "), "z q1 r5 q2 p3"; got != want {
			t.Errorf("order %q, want %q", got, want)
		}
	})
}

func TestOutboxClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.gate = make(chan struct{})
		o := newTestOutbox(t, SendOptions{MaxInFlight: 1, MaxQueued: 1}, w)
		ctx := t.Context()
		z := queue(ctx, o, PriorityNormal, conv("z"), "z") // on the wire
		q := queue(ctx, o, PriorityNormal, conv("q"), "q") // queued
		p := queue(ctx, o, PriorityNormal, conv("p"), "p") // waiting for a place
		o.close()
		o.close() // idempotent
		for name, ch := range map[string]<-chan result{"q": q, "p": p} {
			r := <-ch
			if !errors.Is(r.err, ErrClosed) || !strings.Contains(r.err.Error(), "not sent") {
				t.Errorf("%s: error %v, want ErrClosed, not sent", name, r.err)
			}
		}
		if _, err := o.send(ctx, PriorityReply, conv("x"), im.OutgoingMessage{}); !errors.Is(err, ErrClosed) {
			t.Errorf("send after close: %v, want ErrClosed", err)
		}
		close(w.gate)
		mustOK(t, z) // in flight: finishes
		if got := strings.Join(w.texts(), " "); got != "z" {
			t.Errorf("sent %q, want \"z\"", got)
		}
		if o.inFlight != 0 || o.queued != 0 {
			t.Errorf("in flight %d, queued %d after close; want 0", o.inFlight, o.queued)
		}
	})
}

// TestOutboxCloseWaits: close wakes the sends waiting for a limit or a
// retry, and stops the timer; an attempt in flight that fails is not
// retried.
func TestOutboxCloseWaits(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		release := make(chan struct{})
		w.fail = func(c call, n int) error {
			switch c.text {
			case "c1":
				return nil
			case "late":
				<-release
			}
			return rateLimited(time.Minute)
		}
		o := newTestOutbox(t, SendOptions{PerConversation: Limit{Rate: 0.001, Burst: 1}}, w)
		ctx := t.Context()
		mustOK(t, queue(ctx, o, PriorityNormal, conv("c"), "c1"))      // takes c's token
		late := queue(ctx, o, PriorityNormal, conv("b"), "late")       // on the wire
		retrying := queue(ctx, o, PriorityNormal, conv("a"), "retry")  // failed, waits a minute
		behind := queue(ctx, o, PriorityNormal, conv("a"), "behind")   // behind it
		limited := queue(ctx, o, PriorityNormal, conv("c"), "limited") // waits for a token (and the pause)
		t0 := time.Now()
		o.close()
		close(release)
		for name, ch := range map[string]<-chan result{"retrying": retrying, "behind": behind, "limited": limited} {
			if r := <-ch; !errors.Is(r.err, ErrClosed) {
				t.Errorf("%s: error %v, want ErrClosed", name, r.err)
			}
		}
		r := <-late
		var e *im.Error
		if !errors.Is(r.err, ErrClosed) || !errors.As(r.err, &e) || !strings.Contains(r.err.Error(), "not retried") {
			t.Errorf("late: error %v, want ErrClosed and the 429, not retried", r.err)
		}
		if d := time.Since(t0); d != 0 {
			t.Errorf("close took %v of the clock, want 0", d)
		}
		if o.timer != nil && o.timer.Stop() {
			t.Error("the timer still runs after close")
		}
	})
}

// TestOutboxSendPanics: a sendFunc that panics frees its slot and its
// conversation; the panic goes up to the caller.
func TestOutboxSendPanics(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) { // a slot never freed is a deadlock, which fails the test
		w := newWire()
		w.fail = func(c call, n int) error {
			if c.text == "panic" {
				panic("wire broke")
			}
			return nil
		}
		o := newTestOutbox(t, SendOptions{MaxInFlight: 1}, w)
		func() {
			defer func() {
				if p := recover(); p != "wire broke" {
					t.Errorf("recovered %v, want the sendFunc's panic", p)
				}
			}()
			_, _ = o.send(t.Context(), PriorityReply, conv("a"), im.OutgoingMessage{Content: "panic"})
		}()
		if _, err := o.send(t.Context(), PriorityReply, conv("a"), im.OutgoingMessage{Content: "after"}); err != nil {
			t.Fatal(err)
		}
		if o.inFlight != 0 {
			t.Errorf("%d in flight after the sends, want 0", o.inFlight)
		}
	})
}

func TestOutboxForgetsConversations(t *testing.T) {
	t.Parallel()
	t.Run("no limit", func(t *testing.T) {
		o := newTestOutbox(t, SendOptions{}, newWire())
		most := 0
		for i := range 1000 {
			if _, err := o.send(t.Context(), PriorityNormal, conv(fmt.Sprint(i)), im.OutgoingMessage{}); err != nil {
				t.Fatal(err)
			}
			most = max(most, len(o.convs))
		}
		if most > minSweep {
			t.Errorf("%d conversation states at most, want ≤ %d: idle ones are swept", most, minSweep)
		}
	})
	t.Run("limit", func(t *testing.T) {
		clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		o := newTestOutbox(t, SendOptions{PerConversation: Limit{Rate: 10, Burst: 1}, Now: clock.Now}, newWire())
		most := 0
		for i := range 1000 {
			if i%100 == 0 {
				clock.advance(time.Second) // the limiters of earlier conversations are full again
			}
			if _, err := o.send(t.Context(), PriorityNormal, conv(fmt.Sprint(i)), im.OutgoingMessage{}); err != nil {
				t.Fatal(err)
			}
			most = max(most, len(o.convs))
		}
		// The limiters used in the last second are remembered (≤ 100 of
		// them), plus at most as many again before the next sweep.
		if most > 256 {
			t.Errorf("%d conversation states at most, want ≤ 256", most)
		}
	})
}

func TestNewOutboxErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts    SendOptions
		wantErr string
	}{
		{SendOptions{MaxInFlight: -1}, "SendOptions.MaxInFlight must not be negative"},
		{SendOptions{MaxQueued: -2}, "SendOptions.MaxQueued must not be negative"},
		{SendOptions{MaxRetries: -2}, "SendOptions.MaxRetries must be -1 (none) or more"},
		{SendOptions{Global: Limit{Rate: -1}}, "SendOptions.Global.Rate must be a number ≥ 0, got -1"},
		{SendOptions{PerConversation: Limit{Rate: rate.Limit(math.NaN())}}, "SendOptions.PerConversation.Rate must be a number ≥ 0, got NaN"},
		{SendOptions{PerLiveChat: Limit{Rate: 1, Burst: -1}}, "SendOptions.PerLiveChat.Burst must not be negative"},
		{SendOptions{Global: Limit{Burst: 3}}, "SendOptions.Global.Burst (3) is set without a Rate"},
	} {
		_, err := newOutbox(tc.opts, newWire().send)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "bot: ") {
			t.Errorf("newOutbox(%+v): %v, want an error containing %q", tc.opts, err, tc.wantErr)
		}
	}
}

// TestOutboxDefaults checks the documented defaults (MaxInFlight is
// checked by TestOutboxMaxInFlight, MaxRetries by TestOutboxRetries).
func TestOutboxDefaults(t *testing.T) {
	t.Parallel()
	o, err := newOutbox(SendOptions{}, newWire().send)
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	if o.maxInFlight != 8 || o.maxQueued != 1024 || o.maxRetries != 3 || o.global != nil ||
		o.perConv != (Limit{}) || o.perLive != (Limit{}) || o.now == nil {
		t.Errorf("defaults: in flight %d, queued %d, retries %d, global %v, per conversation %v, per live %v",
			o.maxInFlight, o.maxQueued, o.maxRetries, o.global, o.perConv, o.perLive)
	}
	if got := sendConfigOf(nil).priority; got != PriorityNormal {
		t.Errorf("default priority %v, want Normal", got)
	}
	if got := sendConfigOf([]SendOption{WithPriority(PriorityBulk)}).priority; got != PriorityBulk {
		t.Errorf("WithPriority(Bulk) gave %v", got)
	}
}

func TestOutboxQueueFills(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w := newWire()
		w.gate = make(chan struct{})
		o := newTestOutbox(t, SendOptions{MaxInFlight: 1}, w)
		var chs []<-chan result
		for i := range DefaultSendMaxQueued + 2 {
			chs = append(chs, start(t.Context(), o, PriorityBulk, conv(fmt.Sprint(i)), "x"))
		}
		synctest.Wait()
		if q, p := o.counts(); q != DefaultSendMaxQueued || p != 1 {
			t.Errorf("%d queued, %d waiting for a place; want %d (the default MaxQueued) and 1", q, p, DefaultSendMaxQueued)
		}
		close(w.gate)
		mustOK(t, chs...)
	})
}

func TestOutboxInvalidPriority(t *testing.T) {
	t.Parallel()
	w := newWire()
	o := newTestOutbox(t, SendOptions{}, w)
	for _, p := range []Priority{0, 4, -1} {
		_, err := o.send(t.Context(), p, conv("a"), im.OutgoingMessage{})
		if err == nil || !strings.Contains(err.Error(), "invalid priority "+p.String()) {
			t.Errorf("priority %d: %v, want an invalid priority error", p, err)
		}
	}
	if len(w.snapshot()) != 0 {
		t.Error("a send with an invalid priority went out")
	}
}

func TestPriorityString(t *testing.T) {
	t.Parallel()
	for p, want := range map[Priority]string{PriorityReply: "Reply", PriorityNormal: "Normal", PriorityBulk: "Bulk", 0: "Priority(0)", 9: "Priority(9)"} {
		if got := p.String(); got != want {
			t.Errorf("Priority(%d).String() = %q, want %q", int(p), got, want)
		}
	}
}
