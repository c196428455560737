package imserver

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/internal/obs"
)

// metricsSubsystem is the middle of every name: imbot_server_*.
const metricsSubsystem = "server"

// unknownCommand labels a request whose cmd number is not in improto's
// command table, so that the label stays one of a known set.
const unknownCommand = "unknown"

// txKind is the kind of a store transaction, a label of its duration.
type txKind uint8

const (
	txRead txKind = iota
	txWrite
	numTxKinds
)

var txKindNames = [numTxKinds]string{txRead: "read", txWrite: "write"}

// metrics are the server's Prometheus metrics (Config.Metrics). A nil
// *metrics means metrics off: every method does nothing, so that the hot
// paths pay one comparison. The label values of each metric are fixed
// sets, resolved once (commandMetrics, the arrays) so that an observation
// does not hash labels; only a failed request's status does.
type metrics struct {
	requests  *prometheus.CounterVec   // command, status
	durations *prometheus.HistogramVec // command
	// commands holds every command of improto's table by number; unknown
	// every other number. They are read-only after newMetrics.
	commands map[int32]*commandMetrics
	unknown  *commandMetrics

	socketsOpen  prometheus.Gauge
	socketsTotal prometheus.Counter
	socketCloses [numCloseReasons]prometheus.Counter
	pushes       prometheus.Counter
	fanout       prometheus.Observer
	txDurations  [numTxKinds]prometheus.Observer
	refused      [numRefusals]prometheus.Counter
	// Files (media_gc.go).
	filesCollected prometheus.Counter
	storedBytes    prometheus.Gauge
}

// commandMetrics are one command's children of the request metrics,
// resolved at its first request rather than in newMetrics, so that
// /metrics shows the commands clients use and not all 150 of the table.
type commandMetrics struct {
	name string
	once sync.Once
	ok   prometheus.Counter // status OK, the common case
	dur  prometheus.Observer
}

// newMetrics registers the server's metrics with r, or returns nil (off)
// when r is nil.
func newMetrics(r prometheus.Registerer) (*metrics, error) {
	if r == nil {
		return nil, nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: obs.Namespace, Subsystem: metricsSubsystem, Name: "requests_total",
			Help: "Requests served, HTTP API and socket frames, by command and status (OK or the StatusCode name of the answer).",
		}, []string{"command", "status"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: obs.Namespace, Subsystem: metricsSubsystem, Name: "request_duration_seconds",
			Help:    "Time to serve a request, from reading it to its answer written (HTTP) or queued to the socket's writer (socket frame), by command.",
			Buckets: obs.DurationBuckets,
		}, []string{"command"}),
		commands: make(map[int32]*commandMetrics),
		unknown:  &commandMetrics{name: unknownCommand},
	}
	for _, c := range improto.Commands() {
		m.commands[int32(c.Cmd)] = &commandMetrics{name: c.Cmd.String()}
	}
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: obs.Namespace, Subsystem: metricsSubsystem, Name: name, Help: help}
	}
	m.socketsOpen = prometheus.NewGauge(prometheus.GaugeOpts(opts("sockets_open", "Frontier WebSockets open now.")))
	m.socketsTotal = prometheus.NewCounter(prometheus.CounterOpts(opts("sockets_total", "Frontier WebSockets opened.")))
	closes := prometheus.NewCounterVec(prometheus.CounterOpts(opts("socket_closes_total",
		"Frontier WebSockets closed, by why: client (the client closed it or the connection broke), idle (IdleTimeout), "+
			"slow (its SendQueue filled), bad_frame (a frame the server cannot read), write_failed, shutdown.")), []string{"reason"})
	for r, name := range closeReasonNames {
		m.socketCloses[r] = closes.WithLabelValues(name)
	}
	m.pushes = prometheus.NewCounter(prometheus.CounterOpts(opts("pushes_total",
		"Pushes (responses with sequence_id 0) queued to sockets, one per socket.")))
	fanout := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: obs.Namespace, Subsystem: metricsSubsystem, Name: "fanout_duration_seconds",
		Help:    "Time from a state change's commit (a message sent, a member added) to its pushes queued to every recipient's sockets.",
		Buckets: obs.DurationBuckets,
	})
	m.fanout = fanout
	tx := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: obs.Namespace, Subsystem: metricsSubsystem, Name: "store_tx_duration_seconds",
		Help:    "Duration of a store transaction by kind, read (View) or write (Update, the request's work inside it and the commit).",
		Buckets: obs.DurationBuckets,
	}, []string{"kind"})
	for k, name := range txKindNames {
		m.txDurations[k] = tx.WithLabelValues(name)
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts(opts("refused_total",
		"Connections, sockets and requests a limit refused, by the Config field of the limit.")), []string{"reason"})
	for r, name := range refusalNames {
		m.refused[r] = refused.WithLabelValues(name)
	}
	m.filesCollected = prometheus.NewCounter(prometheus.CounterOpts(opts("media_files_collected_total",
		"Uploaded files deleted because nobody sent them within UnsentFileTTL.")))
	m.storedBytes = prometheus.NewGauge(prometheus.GaugeOpts(opts("media_stored_bytes",
		"Bytes of the distinct uploaded files the server keeps, what MaxStoredBytes bounds; set at each upload and sweep.")))
	if err := obs.Register(r, m.requests, m.durations, m.socketsOpen, m.socketsTotal, closes, m.pushes, fanout, tx, refused,
		m.filesCollected, m.storedBytes); err != nil {
		return nil, err
	}
	return m, nil
}

// metricsFor builds the metrics cfg asks for and the handler of
// MetricsPath, nil when nothing is served there.
func metricsFor(cfg Config) (*metrics, http.Handler, error) {
	if cfg.DisableMetrics {
		return nil, nil, nil
	}
	reg := cfg.Metrics
	if reg == nil {
		own := prometheus.NewRegistry()
		if err := obs.Register(own, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, nil, err
		}
		reg = own
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, nil, err
	}
	g, ok := reg.(prometheus.Gatherer)
	if !ok {
		return m, nil, nil
	}
	return m, promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}), nil
}

// serveMetrics answers MetricsPath.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.metricsHandler == nil {
		http.Error(w, "no metrics here: Config.DisableMetrics is set, or Config.Metrics cannot be gathered", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, r.URL.Path+" takes GET", http.StatusMethodNotAllowed)
		return
	}
	s.metricsHandler.ServeHTTP(w, r)
}

// start returns the time an observation starts at, or the zero time when
// metrics are off, sparing the clock.
func (m *metrics) start() time.Time {
	if m == nil {
		return time.Time{}
	}
	return time.Now()
}

// request counts a request answered with status under cmd (the numbers of
// its Response) that started at start.
func (m *metrics) request(cmd, status int32, start time.Time) {
	if m == nil {
		return
	}
	cm := m.commands[cmd]
	if cm == nil {
		cm = m.unknown
	}
	cm.once.Do(func() {
		cm.ok = m.requests.WithLabelValues(cm.name, improto.StatusCode_OK.String())
		cm.dur = m.durations.WithLabelValues(cm.name)
	})
	cm.dur.Observe(time.Since(start).Seconds())
	if status == int32(improto.StatusCode_OK) {
		cm.ok.Inc()
		return
	}
	m.requests.WithLabelValues(cm.name, statusName(status)).Inc()
}

// statusName is the label of a status code: its name, or "unknown" for a
// number outside the enum, so that the label stays one of a known set.
func statusName(status int32) string {
	if name, ok := improto.StatusCode_name[status]; ok {
		return name
	}
	return "unknown"
}

func (m *metrics) socketOpened() {
	if m != nil {
		m.socketsTotal.Inc()
	}
}

// socketAdmitted and socketForgotten follow Server.conns, under Server.mu.
func (m *metrics) socketAdmitted() {
	if m != nil {
		m.socketsOpen.Inc()
	}
}

func (m *metrics) socketForgotten() {
	if m != nil {
		m.socketsOpen.Dec()
	}
}

func (m *metrics) socketClosed(why closeReason) {
	if m != nil {
		m.socketCloses[why].Inc()
	}
}

// fannedOut counts the n pushes that one commit at committed queued.
func (m *metrics) fannedOut(n int, committed time.Time) {
	if m == nil {
		return
	}
	m.pushes.Add(float64(n))
	m.fanout.Observe(time.Since(committed).Seconds())
}

// storeTx observes a transaction of kind that started at start, and
// returns when it ended (the zero time when metrics are off).
func (m *metrics) storeTx(kind txKind, start time.Time) time.Time {
	if m == nil {
		return time.Time{}
	}
	end := time.Now()
	m.txDurations[kind].Observe(end.Sub(start).Seconds())
	return end
}

func (m *metrics) refusal(why refusal) {
	if m != nil {
		m.refused[why].Inc()
	}
}

// mediaCollected counts n files a sweep deleted.
func (m *metrics) mediaCollected(n int) {
	if m != nil {
		m.filesCollected.Add(float64(n))
	}
}

// mediaStored sets the bytes of the files kept.
func (m *metrics) mediaStored(total int64) {
	if m != nil {
		m.storedBytes.Set(float64(total))
	}
}
