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
	v, _ := lookup(t, g, name, labels)
	return v
}

// RequireValue is Value of a series that must exist: it fails the test
// when g has no series name{labels}, for a value of 0 that must be a
// series' and not its absence.
func RequireValue(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	v, ok := lookup(t, g, name, labels)
	require.True(t, ok, "no series %s%v in the registry", name, labels)
	return v
}

// lookup returns the value of the first series name{labels} of g, and
// whether there is one.
func lookup(t testing.TB, g prometheus.Gatherer, name string, labels []string) (float64, bool) {
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
				return m.GetCounter().GetValue(), true
			case m.Gauge != nil:
				return m.GetGauge().GetValue(), true
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// Await waits up to timeout until the series name{labels} reaches at
// least want, for what is counted just after the event a test can see
// (a reply read before the handler's duration is observed).
func Await(t testing.TB, g prometheus.Gatherer, timeout time.Duration, want float64, name string, labels ...string) {
	t.Helper()
	await(t, g, timeout, func(v float64) bool { return v >= want }, "reached", want, name, labels)
}

// AwaitEqual waits up to timeout until the series name{labels} is
// exactly want: for a gauge that goes down as well as up, or a count that
// must come to want and not more.
func AwaitEqual(t testing.TB, g prometheus.Gatherer, timeout time.Duration, want float64, name string, labels ...string) {
	t.Helper()
	await(t, g, timeout, func(v float64) bool { return v == want }, "was", want, name, labels)
}

// await polls the series on the test's goroutine (Value may fail the
// test) until ok holds of its value, failing the test with the last value
// seen when timeout passes first.
func await(t testing.TB, g prometheus.Gatherer, timeout time.Duration, ok func(float64) bool, verb string, want float64, name string, labels []string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := Value(t, g, name, labels...)
		if ok(got) {
			return
		}
		if !time.Now().Before(deadline) {
			require.FailNowf(t, "metric wait timed out", "%s%v never %s %v within %v (it is %v)", name, labels, verb, want, timeout, got)
		}
		time.Sleep(time.Millisecond)
	}
}
