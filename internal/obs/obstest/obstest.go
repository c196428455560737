// Package obstest reads metrics in tests: the value of one series of a
// Prometheus registry, and a wait for one to reach a value.
package obstest

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// Value returns the first series name{labels} of g, labels given as
// name, value pairs (those not given may have any value): a counter's or
// gauge's value, a histogram's count of observations; 0 when g has no
// such series (yet).
func Value(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	require.Zero(t, len(labels)%2, "labels come in name, value pairs")
	families, err := g.Gather()
	require.NoError(t, err, "gathering")
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := make(map[string]string, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] { // absent reads as "", as in PromQL
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

// Await waits up to timeout until the series name{labels} reaches at
// least want, for what is counted just after the event a test can see
// (a reply read before the handler's duration is observed).
func Await(t testing.TB, g prometheus.Gatherer, timeout time.Duration, want float64, name string, labels ...string) {
	t.Helper()
	require.Eventually(t, func() bool { return Value(t, g, name, labels...) >= want }, timeout, time.Millisecond,
		"%s%v never reached %v (it is %v)", name, labels, want, Value(t, g, name, labels...))
}
