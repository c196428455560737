package bot

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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
			if err != nil {
				t.Errorf("waitNext: %v", err)
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
	if got["answer"] != dialogs || got["worked"] != busy {
		t.Errorf("handlers finished: %v; want %d answers and %d works", got, dialogs, busy)
	}
	d.close()
	wg.Wait()
	if most > workers {
		t.Errorf("%d handlers ran at once, want at most %d", most, workers)
	}
	if d.live != 0 || d.active != 0 || d.parked != 0 {
		t.Errorf("after close: %d workers live, %d handlers active, %d parked; want none", d.live, d.active, d.parked)
	}
}
