package bot

import (
	"context"
	"errors"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/internal/obs"
)

// Metrics returns the registry the bot's metrics go to (Options.Metrics,
// or the bot's own), for plugins and middleware to register theirs with
// beside the bot's; nil when Options.DisableMetrics turned them off.
func (b *Bot) Metrics() prometheus.Registerer { return b.registry }

// gatherer returns what the admin listener serves at /metrics, or nil.
func (b *Bot) gatherer() prometheus.Gatherer {
	g, _ := b.registry.(prometheus.Gatherer)
	return g
}

// metricsRegistry returns the registry Options ask for: theirs, or a new
// one with the Go runtime and process collectors; nil when off.
func metricsRegistry(opts *Options) prometheus.Registerer {
	switch {
	case opts.DisableMetrics:
		return nil
	case opts.Metrics != nil:
		return opts.Metrics
	}
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler outcomes, the outcome label of imbot_bot_handler_duration_seconds.
const (
	outcomeOK       = "ok"       // the handler returned nil
	outcomeError    = "error"    // it failed, after its retries
	outcomePanic    = "panic"    // it panicked
	outcomeCanceled = "canceled" // shutdown cut it off: it will run again after a restart
	outcomeSkipped  = "skipped"  // a middleware let the event go (Context.Skip)
)

// Skip reasons of the bot's own.
const (
	skipOwnMessage     = "own_message"     // a message the bot sent (Options.HandleOwnMessages)
	skipHandledAlready = "handled_already" // handled before a restart, or by another replica
	skipNotOwner       = "not_owner"       // of a partition another replica holds (Options.Cluster)
)

// Send outcomes, the outcome label of imbot_bot_sends_total.
const (
	sendSent     = "sent"     // the server took it
	sendFailed   = "failed"   // refused, or still failing after the retries
	sendCanceled = "canceled" // its context ended first
	sendClosed   = "closed"   // the bot shut down first
)

// botMetrics are a bot's metrics: nil when they are off, and then every
// method does nothing.
type botMetrics struct {
	received   map[EventKind]prometheus.Counter
	skipped    *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	retries    *prometheus.CounterVec
	errors     *prometheus.CounterVec
	panics     *prometheus.CounterVec
	queueWait  prometheus.Histogram
	sends      [3]map[string]prometheus.Counter // by priority-1, then outcome
	sendTime   [3]prometheus.Observer
	sendRetry  prometheus.Counter
	send429    prometheus.Counter
	collectors []prometheus.Collector                   // what newBotMetrics registered, for unregister
	routesMu   sync.Mutex                               // serializes writers of routes
	routes     atomic.Pointer[map[string]*routeMetrics] // copied on write: see route
}

// routeMetrics are the per-route children, resolved once per route and
// outcome rather than per event.
type routeMetrics struct {
	duration map[string]prometheus.Observer // by outcome
	retries  prometheus.Counter
	errors   prometheus.Counter
	panics   prometheus.Counter
}

// eventKindLabel is a kind's metric label: its name in snake case.
func eventKindLabel(k EventKind) string { return strings.ReplaceAll(k.String(), " ", "_") }

// newBotMetrics registers b's metrics with r, or returns nil when r is
// nil. The gauges read the bot's state at scrape time, so that the hot
// paths do not update them.
func newBotMetrics(r prometheus.Registerer, b *Bot) (*botMetrics, error) {
	if r == nil {
		return nil, nil
	}
	const sub = "bot"
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: obs.Namespace, Subsystem: sub, Name: name, Help: help}, labels)
	}
	gauge := func(name, help string, f func() float64) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: obs.Namespace, Subsystem: sub, Name: name, Help: help}, f)
	}
	received := counter("events_received_total", "Events the bot received from its IM client, by kind.", "kind")
	m := &botMetrics{
		received: make(map[EventKind]prometheus.Counter, len(eventKindNames)),
		skipped:  counter("events_skipped_total", "Events let go without reaching a handler, by reason: own_message, handled_already, or the reason a middleware gave (Context.Skip).", "reason"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: obs.Namespace, Subsystem: sub, Name: "handler_duration_seconds",
			Help: "Time from an event's first handler run to its last, retries included, by route and outcome (ok, error, panic, canceled, skipped).", Buckets: obs.DurationBuckets}, []string{"route", "outcome"}),
		retries: counter("handler_retries_total", "Handler runs that failed and were run again (Options.Retry), by route.", "route"),
		errors:  counter("handler_errors_total", "Events whose handler failed for good: the errors OnError receives, panics included, by route.", "route"),
		panics:  counter("handler_panics_total", "Handler runs that panicked, by route.", "route"),
		queueWait: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: obs.Namespace, Subsystem: sub, Name: "dispatch_wait_seconds",
			Help: "Time events waited in the dispatch queue for a worker.", Buckets: obs.DurationBuckets}),
	}
	sends := counter("sends_total", "Messages the bot's outbound queue sent, by priority and outcome (sent, failed, canceled, closed).", "priority", "outcome")
	sendTime := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: obs.Namespace, Subsystem: sub, Name: "send_duration_seconds",
		Help: "Time from a send entering the outbound queue to its outcome, waits and retries included, by priority.", Buckets: obs.DurationBuckets}, []string{"priority"})
	sendRetry := counter("send_retries_total", "Sends the outbound queue tried again after a transient failure.")
	send429 := counter("send_rate_limited_total", "Sends the server refused as over its rate limit (429, RATE_LIMITED); they are retried.")
	for k := range eventKindNames {
		m.received[k] = received.WithLabelValues(eventKindLabel(k))
	}
	for p := PriorityReply; p <= PriorityBulk; p++ {
		name := strings.ToLower(p.String())
		m.sends[p-1] = make(map[string]prometheus.Counter, 4)
		for _, o := range []string{sendSent, sendFailed, sendCanceled, sendClosed} {
			m.sends[p-1][o] = sends.WithLabelValues(name, o)
		}
		m.sendTime[p-1] = sendTime.WithLabelValues(name)
	}
	m.sendRetry, m.send429 = sendRetry.WithLabelValues(), send429.WithLabelValues()
	m.collectors = []prometheus.Collector{received, m.skipped, m.duration, m.retries, m.errors, m.panics, m.queueWait, sends, sendTime, sendRetry, send429,
		gauge("dispatch_queued", "Events waiting for a worker.", func() float64 { return float64(b.disp.queued()) }),
		gauge("handlers_running", "Handlers running now (not those waiting in WaitNext).", func() float64 { return float64(b.disp.running()) }),
		gauge("send_queued", "Sends waiting in the outbound queue.", func() float64 { return float64(b.out.waiting()) }),
		gauge("sends_in_flight", "Sends on their way to the server.", func() float64 { return float64(b.out.sending()) }),
		gauge("ready", "1 while the bot is ready (as /readyz says), else 0.", func() float64 { return boolGauge(b.Health().Ready) }),
		gauge("partitions_held", "Partitions this replica holds (Options.Cluster); 0 without a cluster.", func() float64 { return float64(len(b.Partitions())) }),
	}
	if err := obs.Register(r, m.collectors...); err != nil {
		return nil, err
	}
	return m, nil
}

// unregister takes the bot's metrics out of r again, for a New that
// fails after registering them.
func (m *botMetrics) unregister(r prometheus.Registerer) {
	if m != nil {
		obs.Unregister(r, m.collectors...)
	}
}

func boolGauge(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// route returns the children of route's metrics. Routes are few and
// fixed by the program, so the cache is filled as they first fire; it
// is copied on write so that readers never lock.
func (m *botMetrics) route(name string) *routeMetrics {
	if routes := m.routes.Load(); routes != nil {
		if rm, ok := (*routes)[name]; ok {
			return rm
		}
	}
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	old := m.routes.Load()
	if old != nil {
		if rm, ok := (*old)[name]; ok {
			return rm
		}
	}
	rm := &routeMetrics{
		duration: make(map[string]prometheus.Observer, 5),
		retries:  m.retries.WithLabelValues(name),
		errors:   m.errors.WithLabelValues(name),
		panics:   m.panics.WithLabelValues(name),
	}
	for _, o := range []string{outcomeOK, outcomeError, outcomePanic, outcomeCanceled, outcomeSkipped} {
		rm.duration[o] = m.duration.WithLabelValues(name, o)
	}
	routes := make(map[string]*routeMetrics, 1)
	if old != nil {
		routes = maps.Clone(*old)
	}
	routes[name] = rm
	m.routes.Store(&routes)
	return rm
}

// received counts an event the client delivered.
func (m *botMetrics) receivedEvent(k EventKind) {
	if m == nil {
		return
	}
	if c, ok := m.received[k]; ok {
		c.Inc()
	}
}

// skip counts an event let go for reason.
func (m *botMetrics) skip(reason string) {
	if m != nil {
		m.skipped.WithLabelValues(reason).Inc()
	}
}

// waited records how long an event queued.
func (m *botMetrics) waited(queuedAt time.Time) {
	if m != nil && !queuedAt.IsZero() {
		m.queueWait.Observe(time.Since(queuedAt).Seconds())
	}
}

// retried counts a handler run that failed and runs again.
func (m *botMetrics) retried(route string) {
	if m != nil {
		m.route(route).retries.Inc()
	}
}

// handled records an event's outcome once its handler is done with it.
func (m *botMetrics) handled(route, outcome string, err error, start time.Time) {
	if m == nil {
		return
	}
	rm := m.route(route)
	rm.duration[outcome].Observe(time.Since(start).Seconds())
	if err != nil {
		rm.errors.Inc()
	}
	if _, ok := errors.AsType[*PanicError](err); ok {
		rm.panics.Inc()
	}
}

// sent records a send's outcome.
func (m *botMetrics) sent(prio Priority, err error, start time.Time) {
	if m == nil || !prio.valid() {
		return
	}
	outcome := sendSent
	switch {
	case errors.Is(err, ErrClosed) || errors.Is(err, im.ErrClosed):
		outcome = sendClosed
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		outcome = sendCanceled
	case err != nil:
		outcome = sendFailed
	}
	m.sends[prio-1][outcome].Inc()
	m.sendTime[prio-1].Observe(time.Since(start).Seconds())
}

// sendRetried counts a send that goes again, and whether the server
// refused it as over its rate limit.
func (m *botMetrics) sendRetried(rateLimited bool) {
	if m == nil {
		return
	}
	m.sendRetry.Inc()
	if rateLimited {
		m.send429.Inc()
	}
}

// outcomeOf names how a handler run ended.
func outcomeOf(c *Context, err error, canceled bool) string {
	switch {
	case canceled:
		return outcomeCanceled
	case err == nil && c.Skipped() != "":
		return outcomeSkipped
	case err == nil:
		return outcomeOK
	}
	if _, ok := errors.AsType[*PanicError](err); ok {
		return outcomePanic
	}
	return outcomeError
}
