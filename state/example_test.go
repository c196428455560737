package state_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/middleware"
	"github.com/imbot-go/imbot/state"
)

// A bot's state outlives the process: what one run committed, the next
// run on the same file finds.
func Example() {
	dir, err := os.MkdirTemp("", "imbot-state-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "bot.state")
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	perUser := middleware.Limit{Rate: 1, Burst: 2}
	alice := middleware.RateKey{Scope: middleware.LimitPerUser, User: 1}

	// The first run handles a message, and alice spends her burst.
	st, err := state.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	// A bot does these through bot.Options.Progress, middleware.Dedup and
	// middleware.RateLimit.
	if err := st.CommitProgress(ctx, bot.Commit{Conversation: "0:1:1:100", Index: 7, Cursor: 42}); err != nil {
		log.Fatal(err)
	}
	if err := st.Mark(ctx, "100/0:1:1:100/7301", now.Add(10*time.Minute)); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		if _, err := st.Take(ctx, alice, perUser, now); err != nil {
			log.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		log.Fatal(err)
	}

	// The next run finds it all.
	st, err = state.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	p, err := st.LoadProgress(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("resume from", p.Cursor, "with 0:1:1:100 handled up to", p.Handled["0:1:1:100"])
	seen, err := st.Seen(ctx, "100/0:1:1:100/7301", now.Add(time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("message 7301 seen:", seen)
	wait, err := st.Take(ctx, alice, perUser, now.Add(500*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice's next token in", wait)

	// A second Open of a file in use fails.
	if _, err := state.Open(path, &state.Options{Timeout: 50 * time.Millisecond}); err != nil {
		fmt.Println("second open locked:", errors.Is(err, state.ErrLocked))
	}
	// Output:
	// resume from 42 with 0:1:1:100 handled up to 7
	// message 7301 seen: true
	// alice's next token in 500ms
	// second open locked: true
}
