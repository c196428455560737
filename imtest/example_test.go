package imtest_test

import (
	"fmt"

	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/imtest"
)

// An echo bot and a user who talks to it, checked with require as a test
// would. In a test, pass t instead of the Script.
func Example() {
	var t imtest.Script
	defer t.Close()

	s := imtest.NewServer(&t)
	b := s.NewBot(&t, 100)
	b.Handle(bot.HandlerFunc(func(c *bot.Context) error {
		if m := c.Event.Message; c.FromUser() {
			_, err := c.Reply("echo: " + m.Text())
			return err
		}
		return nil
	}))
	s.RunBot(&t, b)
	alice := s.NewUser(&t, 1)
	conv := alice.CreateSingle(&t, 100)
	alice.Send(&t, conv, "hi")
	reply := alice.WaitReply(&t, conv)
	require.Equal(&t, b.UserID(), reply.Sender, "who replied")
	fmt.Println(reply.Text())
	// Output: echo: hi
}

// Two users in a group: what one sends, the others wait for.
func ExampleUser_WaitMessage() {
	var t imtest.Script
	defer t.Close()

	s := imtest.NewServer(&t)
	alice, bob := s.NewUser(&t, 1), s.NewUser(&t, 2)
	group := alice.CreateGroup(&t, bob.ID())
	alice.Send(&t, group, "one")
	alice.Send(&t, group, "two")
	for range 2 {
		m := bob.WaitReply(&t, group)
		fmt.Println(m.Index, m.Sender, m.Text())
	}
	// Output:
	// 1 1 one
	// 2 1 two
}

// A server with a tweaked configuration.
func ExampleNewUnstartedServer() {
	var t imtest.Script
	defer t.Close()

	s := imtest.NewUnstartedServer(&t)
	s.Config.InitMessages = 5
	s.Start()
	fmt.Println(s.AppID())
	// Output: 1
}
