package bot_test

// End-to-end benchmarks of a bot on the embedded server, against bare
// gorilla/websocket baselines in the same run (docs/PERFORMANCE.md):
//
//	go test -run XXX -bench . -benchtime 2000x ./bot/

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/internal/baseline"
)

const benchBot im.UserID = 100

// benchServer is an embedded server whose sockets never idle out during a
// benchmark, with an echo bot running.
func benchServer(b *testing.B) *imtest.Server {
	s := imtest.NewUnstartedServer(b)
	s.Config.IdleTimeout = time.Hour
	s.Start()
	bt := s.NewBot(b, benchBot)
	bt.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if !c.FromUser() {
			return nil
		}
		_, err := c.Reply(c.Event.Message.Text())
		return err
	}))
	s.RunBot(b, bt)
	return s
}

// BenchmarkEchoLatency measures user sends → server → bot handler → reply
// → user, one message at a time, interleaved with a bare round trip of a
// frame of the same size.
func BenchmarkEchoLatency(b *testing.B) {
	s := benchServer(b)
	u := s.NewUser(b, 1)
	conv := u.CreateSingle(b, benchBot)
	echo := baseline.Dial(b, baseline.EchoServer(b))
	frame := make([]byte, 200) // about a send request's frame
	var bare, round []time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := echo.WriteMessage(websocket.BinaryMessage, frame); err != nil {
			b.Fatal(err)
		}
		if _, _, err := echo.ReadMessage(); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(start))

		start = time.Now()
		u.Send(b, conv, fmt.Sprint("ping ", i))
		u.WaitReply(b, conv)
		round = append(round, time.Since(start))
	}
	b.StopTimer()
	for _, p := range []float64{50, 99} {
		bp, ep := baseline.Percentile(bare, p), baseline.Percentile(round, p)
		b.ReportMetric(float64(bp.Microseconds()), fmt.Sprintf("bare-p%g-µs", p))
		b.ReportMetric(float64(ep.Microseconds()), fmt.Sprintf("echo-p%g-µs", p))
		b.ReportMetric(float64(ep)/float64(bp), fmt.Sprintf("p%g-ratio", p))
	}
}

// BenchmarkEchoThroughput measures sustained echo with 100 users, each in
// its own conversation with the bot, each keeping one message in flight,
// against 100 bare connections each ping-ponging a frame of the same size.
func BenchmarkEchoThroughput(b *testing.B) {
	const users = 100
	s := benchServer(b)
	type pair struct {
		u    *imtest.User
		conv im.ConversationRef
	}
	var ps []pair
	for i := range users {
		u := s.NewUser(b, im.UserID(1000+i))
		ps = append(ps, pair{u, u.CreateSingle(b, benchBot)})
	}
	run := func(b *testing.B, one func(i int)) {
		var wg sync.WaitGroup
		per := max(1, b.N/users)
		b.ResetTimer()
		for i := range users {
			wg.Go(func() {
				for range per {
					one(i)
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(per*users)/b.Elapsed().Seconds(), "echoes/s")
	}
	b.Run("bot", func(b *testing.B) {
		run(b, func(i int) {
			ps[i].u.SendMessage(b, ps[i].conv, im.OutgoingMessage{Content: im.TextContent("ping")})
			ps[i].u.WaitReply(b, ps[i].conv)
		})
	})
	b.Run("bare-ws", func(b *testing.B) {
		url := baseline.EchoServer(b)
		conns := make([]*websocket.Conn, users)
		for i := range conns {
			conns[i] = baseline.Dial(b, url)
		}
		frame := make([]byte, 200)
		run(b, func(i int) {
			if err := conns[i].WriteMessage(websocket.BinaryMessage, frame); err != nil {
				b.Error(err)
				return
			}
			if _, _, err := conns[i].ReadMessage(); err != nil {
				b.Error(err)
			}
		})
	})
}
