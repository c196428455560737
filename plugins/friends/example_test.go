package friends_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/plugins/friends"
)

// A bot that accepts every apply, up to 100 a day, and greets its new
// friends. In a test, pass t instead of the Script.
func ExampleNew() {
	var t imtest.Script
	defer t.Close()

	p, err := friends.New(friends.Options{
		All:      true,
		DailyCap: 100,
		Greeting: "Hi {{.User}}, thanks for the add!",
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	s := imtest.NewServer(&t)
	b := s.NewBot(&t, 100)
	if err := b.Plug(p); err != nil {
		fmt.Println(err)
		return
	}
	s.RunBot(&t, b)

	alice := s.NewUser(&t, 1)
	if _, err := alice.Client.SendFriendApply(context.Background(), 100, nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(alice.WaitReply(&t, alice.CreateSingle(&t, 100)).Text())
	// Output: Hi 1, thanks for the add!
}

// A bad expression is an error at construction, with its position.
func ExampleNew_badExpr() {
	_, err := friends.New(friends.Options{Expr: `Ext["source"] == "web" && Age > 3`})
	fmt.Println(err)
	// Output:
	// friends: Options.Expr "Ext[\"source\"] == \"web\" && Age > 3": unknown name Age (1:27)
	//  | Ext["source"] == "web" && Age > 3
	//  | ..........................^
}
