package bot

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/imbot-go/imbot/im"
)

func message(conv im.ConversationID, text string) Event {
	return Event{Kind: EventMessage, ConversationRef: im.ConversationRef{ID: conv}, Message: &im.Message{Sender: 1, Content: text}}
}

// Handlers parked in WaitNext leave their slot to others, and take one
// again before they go on: never more than workers handlers run at once,
// and the goroutines started in their place end when they are spare.
func TestDispatcherParkedHandlersDoNotCount(t *testing.T) {
	const workers, dialogs, busy = 2, 4, 3
	d := newDispatcher(100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	running, most := 0, 0
	enter := func() {
		mu.Lock()
		defer mu.Unlock()
		running++
		most = max(most, running)
	}
	leave := func() {
		mu.Lock()
		defer mu.Unlock()
		running--
	}
	parked := make(chan struct{}, dialogs)
	release := make(chan struct{})
	done := make(chan string, dialogs+busy)
	d.start(workers, wg.Go, func(ev Event) {
		enter()
		defer leave()
		switch ev.Message.Content {
		case "ask":
			leave()
			parked <- struct{}{}
			m, err := d.waitNext(context.Background(), ev.ConversationRef.ID, ev.Message.Sender, time.Minute)
			enter()
			if !assert.NoError(t, err, "waitNext") {
				done <- ""
				return
			}
			done <- m.Content
		case "work":
			<-release
			done <- "worked"
		}
	})
	for i := range dialogs {
		d.enqueue(message(im.ConversationID(fmt.Sprint("dialog", i)), "ask"))
	}
	for range dialogs {
		<-parked // every dialog waits, and none holds a worker
	}
	for i := range busy {
		d.enqueue(message(im.ConversationID(fmt.Sprint("busy", i)), "work"))
	}
	for i := range dialogs {
		d.enqueue(message(im.ConversationID(fmt.Sprint("dialog", i)), "answer"))
	}
	close(release)
	got := map[string]int{}
	for range dialogs + busy {
		select {
		case s := <-done:
			got[s]++
		case <-time.After(10 * time.Second):
			t.Fatalf("handlers finished: %v; want %d answers and %d works", got, dialogs, busy)
		}
	}
	assert.Equal(t, dialogs, got["answer"], "answers among the handlers finished: %v", got)
	assert.Equal(t, busy, got["worked"], "works among the handlers finished: %v", got)
	d.close()
	wg.Wait()
	assert.LessOrEqual(t, most, workers, "handlers that ran at once")
	assert.Zero(t, d.live, "workers live after close")
	assert.Zero(t, d.active, "handlers active after close")
	assert.Zero(t, d.parked, "handlers parked after close")
}
