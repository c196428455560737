package main

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/state/redisstate"
	"github.com/imbot-go/imbot/state/redisstate/redistest"
)

// BenchmarkReplicas measures the messages per second that 1, 2 and 3
// replicas (child processes) answer together: b.N messages sent by 8
// goroutines over 100 conversations, timed from the first send to the
// last reply. Every replica receives every message (each is a device of
// the bot's user) and handles those of its partitions.
//
//	go test -run XXX -bench Replicas -benchtime 2000x ./examples/cluster/
func BenchmarkReplicas(b *testing.B) {
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprint("replicas=", n), func(b *testing.B) {
			s := imtest.NewServer(b)
			r := redistest.Start(b)
			cfg := replicaConfig{APIURL: s.URL(), FrontierURL: s.FrontierURL(), AppSecret: s.Config.AppSecret, Redis: r.Addr(),
				Prefix: redisstate.BotPrefix(s.AppID(), botID), LeaseTTL: time.Second}
			f := newFleet(testReplica, cfg, io.Discard)
			b.Cleanup(func() { _ = f.close() })
			for i := range n {
				if err := f.start(replicaName(i), imtest.DefaultTimeout); err != nil {
					b.Fatal(err)
				}
			}
			st, err := redisstate.Open(b.Context(), r.Client(b), redisstate.Options{Prefix: cfg.Prefix})
			if err != nil {
				b.Fatal(err)
			}
			view, err := st.Cluster(redisstate.ClusterOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := awaitSplit(b.Context(), view, n, 10*time.Second); err != nil {
				b.Fatal(err)
			}
			c, err := newChat(b.Context(), s.Options(userID), 100)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(c.close)
			const senders = 8
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, senders)
			for k := range senders {
				wg.Go(func() {
					for i := k; i < b.N; i += senders {
						if err := c.send(b.Context(), i); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			if err := awaitReplies(b.Context(), c, b.N, time.Minute); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}
