package bot_test

import (
	"context"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
)

// BenchmarkObservabilityCost measures the CPU that metrics and tracing
// add per handled message (docs/PERFORMANCE.md): three echo bots on one
// embedded server, one with metrics and tracing off, one with metrics on,
// one with metrics on and every event traced by the OpenTelemetry SDK (a
// span processor that drops what it is given, so that exporting is not
// measured). Users on bare sockets echo through each bot in turn, in
// interleaved rounds, and the process's CPU time (user + system: server,
// bot and users together) is divided by the echoes of each round:
//
//	go test -run XXX -bench ObservabilityCost -benchtime 20000x ./bot/
func BenchmarkObservabilityCost(b *testing.B) {
	const users, rounds = 20, 20
	s := imtest.NewUnstartedServer(b)
	s.Config.IdleTimeout = time.Hour
	s.Start()
	variants := []struct {
		name string
		bot  im.UserID
		opts func(*bot.Options)
	}{
		{"off", 100, func(o *bot.Options) { o.DisableMetrics = true }},
		{"metrics", 101, func(*bot.Options) {}},
		{"metrics+tracing", 102, func(o *bot.Options) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(dropSpans{}))
			b.Cleanup(func() { _ = tp.Shutdown(b.Context()) })
			o.TracerProvider = tp
		}},
	}
	clients := make([][]*wireUser, len(variants))
	for v, variant := range variants {
		bt := s.NewBot(b, variant.bot, variant.opts)
		bt.Handle(bot.HandlerFunc(func(c *bot.Context) error {
			if !c.FromUser() {
				return nil
			}
			_, err := c.Reply(c.Event.Message.Text())
			return err
		}))
		s.RunBot(b, bt)
		for i := range users {
			id := im.UserID(1000 + v*users + i)
			u := s.NewUser(b, id)
			conv := u.CreateSingle(b, variant.bot)
			u.Client.Close() // its socket would get every push too
			w := newWireUser(b, s, id, conv)
			w.bot = variant.bot
			clients[v] = append(clients[v], w)
		}
	}
	per := max(1, b.N/(users*rounds))
	cpu := make([][]time.Duration, len(variants)) // per variant, per round
	b.ResetTimer()
	for r := range rounds {
		for i := range variants {
			v := (r + i) % len(variants) // each goes first in turn
			start := cpuTime(b)
			var wg sync.WaitGroup
			for _, w := range clients[v] {
				wg.Go(func() {
					t := workerTB{b}
					for range per {
						w.echo(t, "ping")
					}
				})
			}
			wg.Wait()
			cpu[v] = append(cpu[v], cpuTime(b)-start)
		}
	}
	echoes := float64(per * users * rounds)
	for v, variant := range variants {
		var sum time.Duration
		for _, d := range cpu[v] {
			sum += d
		}
		b.ReportMetric(float64(sum.Microseconds())/echoes, variant.name+"-cpu-µs/echo")
	}
	// The median of the rounds' ratios: a round that a neighbour on the
	// machine slowed down weighs no more than any other.
	b.ReportMetric(medianRatio(cpu[1], cpu[0]), "metrics/off")
	b.ReportMetric(medianRatio(cpu[2], cpu[0]), "tracing/off")
}

// medianRatio returns the median of a[i]/b[i].
func medianRatio(a, b []time.Duration) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = float64(a[i]) / float64(b[i])
	}
	slices.Sort(r)
	return r[len(r)/2]
}

// cpuTime returns the CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dropSpans is a span processor that ends every span in the void.
type dropSpans struct{}

func (dropSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (dropSpans) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (dropSpans) Shutdown(context.Context) error                  { return nil }
func (dropSpans) ForceFlush(context.Context) error                { return nil }
