package cron

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imbot-go/imbot/internal/obs"
)

// runOutcome is how a run ended, the outcome label of
// imbot_cron_runs_total.
type runOutcome int

const (
	runOK          runOutcome = iota // posted to every target
	runPartial                       // posted to some targets; the others failed
	runFailed                        // posted to none: the message or every target failed
	runInterrupted                   // the bot stopped or lost the lead first: the occurrence stays pending
)

var runOutcomeNames = [...]string{runOK: "ok", runPartial: "partial", runFailed: "failed", runInterrupted: "interrupted"}

// Outcomes of a send, the outcome label of imbot_cron_sends_total.
const (
	sendOK     = "ok"
	sendFailed = "failed"
)

// maxMissedCount bounds the occurrences that one catch-up counts as
// missed, so that a frequent job after a long stop does not walk its
// schedule for long only to count.
const maxMissedCount = 10000

// metrics are the plugin's Prometheus metrics, subsystem "cron"; nil when
// the bot's metrics are off. Every method does nothing on nil.
type metrics struct {
	leader prometheus.Gauge
	jobs   map[*entry]*jobMetrics // read-only once built
}

// jobMetrics are one job's series, resolved once.
type jobMetrics struct {
	runs     [len(runOutcomeNames)]prometheus.Counter // by runOutcome
	duration prometheus.Observer
	missed   prometheus.Counter
	sentOK   prometheus.Counter
	sendFail prometheus.Counter
}

// newMetrics registers the metrics of jobs with r; nil, nil when r is
// nil.
func newMetrics(r prometheus.Registerer, jobs []*entry) (*metrics, error) {
	if r == nil {
		return nil, nil
	}
	leader := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: obs.Namespace, Subsystem: "cron", Name: "leader",
		Help: "1 while this process holds the Leader and runs the jobs, 0 otherwise."})
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: obs.Namespace, Subsystem: "cron", Name: "runs_total",
		Help: "Runs of a job (scheduled, caught up, or an admin's /cron run), by job and outcome: ok, partial (some targets failed), failed (none got it), interrupted (the bot stopped or lost the lead first; posted again later)."},
		[]string{"job", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: obs.Namespace, Subsystem: "cron", Name: "run_duration_seconds",
		Help: "Time a run of a job took to build its message and post it to every target, by job.", Buckets: obs.DurationBuckets},
		[]string{"job"})
	missed := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: obs.Namespace, Subsystem: "cron", Name: "missed_total",
		Help: "Occurrences of a job that passed while it could not run (the bot down, another replica leading, the process stalled), whatever its Missed policy, by job."},
		[]string{"job"})
	sends := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: obs.Namespace, Subsystem: "cron", Name: "sends_total",
		Help: "Messages the runs of a job posted, one per target conversation, by job and outcome: ok, or failed (the send, or finding or joining the conversation)."},
		[]string{"job", "outcome"})
	if err := obs.Register(r, leader, runs, duration, missed, sends); err != nil {
		return nil, err
	}
	m := &metrics{leader: leader, jobs: make(map[*entry]*jobMetrics, len(jobs))}
	for _, e := range jobs {
		jm := &jobMetrics{duration: duration.WithLabelValues(e.ID), missed: missed.WithLabelValues(e.ID),
			sentOK: sends.WithLabelValues(e.ID, sendOK), sendFail: sends.WithLabelValues(e.ID, sendFailed)}
		for o, name := range runOutcomeNames {
			jm.runs[o] = runs.WithLabelValues(e.ID, name)
		}
		m.jobs[e] = jm
	}
	return m, nil
}

// job returns e's metrics, nil when metrics are off.
func (m *metrics) job(e *entry) *jobMetrics {
	if m == nil {
		return nil
	}
	return m.jobs[e]
}

// leading records whether this process holds the Leader.
func (m *metrics) leading(on bool) {
	if m == nil {
		return
	}
	if on {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

// ran records a run that began at start and ended with outcome.
func (j *jobMetrics) ran(outcome runOutcome, start time.Time) {
	if j == nil {
		return
	}
	j.runs[outcome].Inc()
	j.duration.Observe(time.Since(start).Seconds())
}

// sent counts a send to one target.
func (j *jobMetrics) sent(ok bool) {
	if j == nil {
		return
	}
	if ok {
		j.sentOK.Inc()
	} else {
		j.sendFail.Inc()
	}
}

// missedBetween counts e's occurrences after last and up to now, at most
// maxMissedCount.
func (j *jobMetrics) missedBetween(e *entry, last, now time.Time) {
	if j == nil {
		return
	}
	n := 0
	for t := e.next(last); !t.IsZero() && !t.After(now) && n < maxMissedCount; t = e.next(t) {
		n++
	}
	j.missed.Add(float64(n))
}
