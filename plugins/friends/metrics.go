package friends

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imbot-go/imbot/internal/obs"
)

// metrics are the plugin's Prometheus metrics, subsystem "friends"; nil
// when the bot's metrics are off. Every method does nothing on nil.
type metrics struct {
	decisions   [len(decisionOrder)]prometheus.Counter // by Decision
	capRefusals prometheus.Counter
}

// decisionOrder lists the decisions by value, for the verdict label.
var decisionOrder = [...]Decision{Pending, Accept, Reject}

// newMetrics registers the plugin's metrics with r; nil, nil when r is
// nil.
func newMetrics(r prometheus.Registerer) (*metrics, error) {
	if r == nil {
		return nil, nil
	}
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: obs.Namespace, Subsystem: "friends", Name: "decisions_total",
		Help: "Friend applies decided, by verdict: accept, reject or pending (left waiting)."},
		[]string{"verdict"})
	capRefusals := prometheus.NewCounter(prometheus.CounterOpts{Namespace: obs.Namespace, Subsystem: "friends", Name: "daily_cap_refusals_total",
		Help: "Friend applies that Options.All or Expr would have accepted, decided as Options.OverCap because the day's DailyCap was reached."})
	if err := obs.Register(r, decisions, capRefusals); err != nil {
		return nil, err
	}
	m := &metrics{capRefusals: capRefusals}
	for _, d := range decisionOrder {
		m.decisions[d] = decisions.WithLabelValues(d.String())
	}
	return m, nil
}

// decided counts a decision, by rule.
func (m *metrics) decided(d Decision, rule Rule) {
	if m == nil {
		return
	}
	if d >= 0 && int(d) < len(m.decisions) {
		m.decisions[d].Inc()
	}
	if rule == RuleCap {
		m.capRefusals.Inc()
	}
}
