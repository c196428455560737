package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/imbot-go/imbot/im"
)

// AdminOptions configures the bot's admin HTTP listener: the probes an
// orchestrator asks (Kubernetes' liveness and readiness), the Prometheus
// metrics and, when asked for, the Go profiler. The zero value serves
// nothing.
type AdminOptions struct {
	// Addr is the host:port Run listens on for the admin endpoints, from
	// before it logs in until it has stopped; port 0 picks a free one
	// (Bot.AdminAddr tells which). Empty: no listener; mount
	// Bot.AdminHandler on a mux of your own instead.
	Addr string
	// Pprof serves net/http/pprof's profiles at /debug/pprof/. Off by
	// default: a profile shows the program's internals, so expose it only
	// where operators alone can reach it.
	Pprof bool
}

// Phase is where a bot is in its life, as Health reports it.
type Phase int32

// The phases of a bot, in order.
const (
	PhaseNew      Phase = iota // Run has not been called
	PhaseStarting              // logging in, loading progress, waiting for the socket
	PhaseRunning               // handling events
	PhaseDraining              // shutting down: finishing what it holds
	PhaseStopped               // Run has returned
)

var phaseNames = [...]string{"new", "starting", "running", "draining", "stopped"}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", int32(p))
}

// MarshalText makes a Phase read as its name in JSON.
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a Phase's name, for clients of the probes.
func (p *Phase) UnmarshalText(text []byte) error {
	for i, name := range phaseNames {
		if string(text) == name {
			*p = Phase(i)
			return nil
		}
	}
	return fmt.Errorf("bot: unknown phase %q", text)
}

// Health is what the admin endpoints report: whether the bot is alive,
// and whether it is ready to handle messages, with the reason when not.
type Health struct {
	Phase      Phase  `json:"phase"`
	Connection string `json:"connection"` // the client's im.ConnectionState
	Alive      bool   `json:"alive"`
	Ready      bool   `json:"ready"`
	Reason     string `json:"reason,omitempty"` // why not ready
}

// Health reports the bot's state. A bot is alive from New until Run has
// returned. It is ready while it runs (logged in, its socket up, or no
// socket by choice), its token is taken, it has caught up with the server
// since its socket last came up (im.Client.CaughtUp), and it is not
// draining.
func (b *Bot) Health() Health {
	h := Health{Phase: Phase(b.phase.Load()), Connection: b.client.ConnectionState().String()}
	h.Alive = h.Phase != PhaseStopped
	switch {
	case h.Phase != PhaseRunning:
		h.Reason = "the bot is " + h.Phase.String()
	case b.client.Err() != nil:
		h.Reason = "the client stopped: " + b.client.Err().Error()
	case !b.client.TokenFailingSince().IsZero():
		h.Reason = "the server has refused the token since " + b.client.TokenFailingSince().Format(time.RFC3339)
	case b.client.Options().WebSocketLevel != im.WebSocketLevelDisable && b.client.ConnectionState() != im.ConnectionStateConnected:
		h.Reason = "the socket is " + h.Connection
	case !b.client.CaughtUp():
		h.Reason = "catching up with the server"
	default:
		h.Ready = true
	}
	return h
}

// AdminHandler returns the admin endpoints, to mount on a mux of your own
// or to serve with AdminOptions.Addr:
//
//   - GET /healthz: 200 while the bot is alive (Health.Alive), else 503;
//   - GET /readyz: 200 while it is ready (Health.Ready), else 503;
//   - GET /metrics: the bot's metrics in the Prometheus text format,
//     unless Options.DisableMetrics, or Options.Metrics is a
//     prometheus.Registerer that cannot be gathered;
//   - GET /debug/pprof/: the Go profiler, with AdminOptions.Pprof.
//
// Both probes answer with Health as JSON.
func (b *Bot) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		h := b.Health()
		writeHealth(w, h, h.Alive)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		h := b.Health()
		writeHealth(w, h, h.Ready)
	})
	if g := b.gatherer(); g != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(b.log.Handler(), slog.LevelWarn)}))
	}
	if b.opts.Admin.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func writeHealth(w http.ResponseWriter, h Health, ok bool) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(h)
}

// AdminAddr returns the address the admin listener is bound to, or nil
// when there is none (no AdminOptions.Addr, or Run not listening).
func (b *Bot) AdminAddr() net.Addr {
	if a := b.adminAddr.Load(); a != nil {
		return *a
	}
	return nil
}

// admin is the running admin listener of Run.
type admin struct {
	hs     *http.Server
	served chan error
}

// startAdmin listens on AdminOptions.Addr, if set, and serves the admin
// endpoints until stopAdmin.
func (b *Bot) startAdmin() (*admin, error) {
	if b.opts.Admin.Addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", b.opts.Admin.Addr)
	if err != nil {
		return nil, fmt.Errorf("bot: admin listener: %w", err)
	}
	addr := ln.Addr()
	b.adminAddr.Store(&addr)
	a := &admin{
		hs:     &http.Server{Handler: b.AdminHandler(), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: time.Minute},
		served: make(chan error, 1),
	}
	go func() { a.served <- a.hs.Serve(ln) }() // joined by stopAdmin
	b.log.Info("bot: admin listening", "addr", addr.String(), "pprof", b.opts.Admin.Pprof)
	return a, nil
}

// stopAdmin closes the admin listener and waits for it.
func (b *Bot) stopAdmin(a *admin) {
	if a == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if a.hs.Shutdown(ctx) != nil {
		a.hs.Close()
	}
	if err := <-a.served; !errors.Is(err, http.ErrServerClosed) {
		b.log.Warn("bot: admin listener failed", "err", err)
	}
	b.adminAddr.Store(nil)
}
