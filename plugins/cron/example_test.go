package cron_test

import (
	"fmt"
	"time"

	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/plugins/cron"
	"github.com/imbot-go/imbot/plugins/cron/crontest"
)

// A bot announces the stand-up every weekday at 09:00 in Paris, in a
// group: here on the embedded server, with a fake clock that runs two
// days in an instant.
func Example() {
	var t imtest.Script
	defer t.Close()
	s := imtest.NewServer(&t)
	alice := s.NewUser(&t, 1001)
	team := alice.CreateGroup(&t, 100)

	jobs, err := cron.ParseYAML([]byte(`
jobs:
  - id: standup
    spec: "0 9 * * mon-fri"
    timezone: Europe/Paris
    targets: {all_groups: true}
    message:
      text: 'Stand-up in 5 minutes! ({{.Time.Format "Mon 2 Jan 15:04 MST"}})'
      mention_all: true
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Friday, October 2, 2026, 08:00 in Paris.
	clock := crontest.NewClock(time.Date(2026, 10, 2, 6, 0, 0, 0, time.UTC))
	p, err := cron.New(cron.Options{Jobs: jobs, Clock: clock})
	if err != nil {
		fmt.Println(err)
		return
	}
	b := s.NewBot(&t, 100)
	if err := b.Plug(p); err != nil {
		fmt.Println(err)
		return
	}
	s.RunBot(&t, b)

	// Friday, the weekend, and Monday until noon.
	if err := clock.RunUntil(time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC), 10*time.Second); err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		m := alice.WaitReply(&t, team)
		fmt.Println(m.Text(), m.IsMentioned(alice.ID()))
	}
	// Output:
	// Stand-up in 5 minutes! (Fri 2 Oct 09:00 CEST) true
	// Stand-up in 5 minutes! (Mon 5 Oct 09:00 CEST) true
}
