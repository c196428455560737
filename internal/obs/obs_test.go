package obs_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/internal/obs"
)

func counter(name string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Namespace: obs.Namespace, Name: name, Help: name})
}

// TestRegisterAllOrNone: a clash names the metric and the remedy, and
// undoes the registrations made before it.
func TestRegisterAllOrNone(t *testing.T) {
	reg := prometheus.NewRegistry()
	require.NoError(t, obs.Register(reg, counter("b")))
	err := obs.Register(reg, counter("a"), counter("b"))
	require.ErrorContains(t, err, "imbot_b")
	require.ErrorContains(t, err, "WrapRegistererWith")
	var are prometheus.AlreadyRegisteredError
	require.ErrorAs(t, err, &are)
	assert.Equal(t, 0, testutil.CollectAndCount(reg, "imbot_a"), "a was left registered")
	require.NoError(t, obs.Register(reg, counter("a")), "a registers once the failed call is undone")
}

// TestTracerOff: no provider, no tracer.
func TestTracerOff(t *testing.T) {
	assert.Nil(t, obs.Tracer(nil, "x"))
}
