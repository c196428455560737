// Package imtest is imbot's test harness, as net/http/httptest is
// net/http's: a real embedded IM server (package imserver) on loopback,
// users logged in to it, and bots run against it. Every test above
// package im uses it; none needs a network or a secret.
//
// # Servers
//
// [NewServer] starts an [imserver.Server] behind an httptest server, with a
// memory store, app id [AppID], a random secret, a discarding logger,
// per-socket rate limits no test reaches and no limit per remote address
// (every scripted user comes from 127.0.0.1); t.Cleanup closes it (the
// imserver and its sockets, the httptest server, the store).
// [NewUnstartedServer] returns one whose [Server.Config] the test may
// change before [Server.Start]:
//
//	s := imtest.NewUnstartedServer(t)
//	s.Config.RecallWindow = time.Second
//	s.Start()
//
// [Server.Options] gives the client options for a user, with a token
// provider that mints tokens, and [Server.BotOptions] the bot options.
//
// # Users
//
// [Server.NewUser] returns a [User]: a client that has completed Init and
// has its socket up (pushed-only events reach it), closed by t.Cleanup,
// with helpers that fail the test on error (CreateSingle, CreateGroup,
// CreateLive, JoinLive, Send, SendMessage).
// A User subscribes to new messages before Init and keeps those from
// other users per conversation, so [User.WaitMessage] and
// [User.WaitReply] return the next one even if it came before the call.
// Waits never sleep: they wait on a channel with a deadline and fail the
// test with what they were waiting for when it passes.
//
// # Bots
//
// [Server.RunBot] runs a bot's Run on a goroutine the test owns, returns
// once the bot is ready (logged in, socket up), and registers a cleanup that cancels Run and
// waits for it (the bot drains its handlers). A handler test reads:
//
//	s := imtest.NewServer(t)
//	b := s.NewBot(t, 100)
//	b.Handle(echo)
//	s.RunBot(t, b)
//	alice := s.NewUser(t, 1)
//	conv := alice.CreateSingle(t, 100)
//	alice.Send(t, conv, "hi")
//	require.Equal(t, "hi", alice.WaitReply(t, conv).Text())
//
// # TB and Examples
//
// The helpers take a [TB], the four methods of testing.TB they use
// (Helper, Cleanup, Errorf, FailNow), rather than testing.TB itself.
// testing.TB has an unexported method, so nothing outside package testing
// can implement it, and an Example has no *testing.T to pass. TB is
// testify's require.TestingT (Errorf, FailNow) and Helper and Cleanup, so
// what a test passes to imtest it passes to require and assert too. With
// TB, tests pass their *testing.T (or B, or F) unchanged, and an Example
// passes a [Script]: its FailNow panics with the failure's message, its
// Close runs the cleanups.
//
//	func Example() {
//		var t imtest.Script
//		defer t.Close()
//		s := imtest.NewServer(&t)
//		b, err := bot.New(s.BotOptions(100))
//		require.NoError(&t, err)
//		…
//		// Output: …
//	}
//
// The alternatives were worse: a struct embedding a nil testing.TB
// panics on the first method it forgets to override, and a second,
// error-returning API would double the package for the sake of Examples.
//
// # Layering
//
// imtest joins im and imserver, which never import each other, and
// imports bot for RunBot and BotOptions; package bot's own tests are an
// external test package (bot_test), so there is no cycle.
package imtest
