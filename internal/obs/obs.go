// Package obs holds what imbot's packages share to be observed: the
// Prometheus metric namespace and duration buckets, registration with an
// error that says what clashed, and the OpenTelemetry tracer of a package.
//
// Each package keeps its own metrics in a struct built from a
// prometheus.Registerer; a nil Registerer means metrics off, and the
// struct's methods then do nothing (a nil receiver), so that the hot paths
// pay one comparison. Tracing is the same: a nil TracerProvider means no
// spans and no allocation.
package obs

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// Namespace prefixes every imbot metric: imbot_<subsystem>_<name>.
const Namespace = "imbot"

// DurationBuckets are the histogram buckets of every imbot duration, in
// seconds: half a millisecond (a send on loopback) to ten seconds (a
// handler retried against a slow server).
var DurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Register registers cs with r, all or none: when one fails, those it
// registered before are unregistered, so that a constructor that fails
// leaves the registry as it found it. A collector that is already
// registered (two bots in one registry without a label each) fails with
// an error naming the remedy.
func Register(r prometheus.Registerer, cs ...prometheus.Collector) error {
	for i, c := range cs {
		if err := r.Register(c); err != nil {
			Unregister(r, cs[:i]...)
			if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
				return fmt.Errorf("metrics: %v is registered already (two bots or servers in one registry need a label each: prometheus.WrapRegistererWith): %w", describe(are.ExistingCollector), err)
			}
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// Unregister unregisters cs from r: the undoing of Register, for a
// constructor that fails after registering.
func Unregister(r prometheus.Registerer, cs ...prometheus.Collector) {
	for _, c := range cs {
		r.Unregister(c)
	}
}

// describe names a collector's first metric, for errors.
func describe(c prometheus.Collector) string {
	ch := make(chan *prometheus.Desc, 16)
	go func() { // ends when Describe has sent everything
		c.Describe(ch)
		close(ch)
	}()
	name := "a collector"
	for d := range ch {
		if name == "a collector" {
			name = d.String()
		}
	}
	return name
}

// Tracer returns the tracer of the package pkg (its import path) from tp,
// or nil when tp is nil: no tracing.
func Tracer(tp trace.TracerProvider, pkg string) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(pkg)
}
