package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/examples/internal/devserver/devservertest"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/internal/syncio"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wantLines checks that out has each of want, in order.
func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	rest := out
	for _, w := range want {
		require.Contains(t, rest, w, "output lacks %q (in order):\n%s", w, out)
		rest = rest[strings.Index(rest, w)+len(w):]
	}
}

// The script against the friendly bot on imtest: the apply is accepted,
// the user greeted once, then echoed.
func TestFriendly(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	b := s.NewBot(t, botID)
	w := &syncio.Buffer{}
	require.NoError(t, setup(b, w))
	s.RunBot(t, b)
	err := script(context.Background(), s.Options(userID), w)
	got := w.String()
	require.NoError(t, err, "script:\n%s", got)
	wantLines(t, got,
		"user 1001 applied to be the bot's friend\n",
		"user 1001 and the bot are friends\n",
		"  100 → Hi 1001, nice to meet you! Say anything and I will say it back.\n",
		"  1001 → hello\n", "  100 → hello\n",
		"  1001 → what a friendly bot\n", "  100 → what a friendly bot\n",
	)
	// The audit line, which the bot writes beside the script: the apply
	// came as a push, or in the listing at start if it was that quick.
	wantLines(t, got, `level=INFO msg="friends: apply decided" apply=1 from=1001 decision=accept rule=all source=`,
		` ext_keys=[source] outcome=done`+"\n")
	require.Equal(t, 1, strings.Count(got, `msg="friends: apply decided"`), "want one decision:\n%s", got)
	require.Equal(t, 1, strings.Count(got, "nice to meet you"), "want one greeting:\n%s", got)
}

// The program as go run runs it, on the development server.
func TestRunScriptOnly(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"-script-only"}, &out, &bytes.Buffer{})
	require.NoError(t, err, "run:\n%s", out.String())
	wantLines(t, out.String(),
		"friendly bot: user 100, ready\n",
		"user 1001 and the bot are friends\n",
		"  100 → Hi 1001, nice to meet you!",
		"  100 → what a friendly bot\n",
	)
	require.NotContains(t, out.String(), "Still serving", "output with -script-only")
}

// The default mode: after the script, run keeps serving and prints how
// to connect as user 1002, whom the bot answers too.
func TestRun(t *testing.T) {
	t.Parallel()
	s := devservertest.Serve(t, run)
	wantLines(t, s.Output,
		"  100 → what a friendly bot\n",
		"\nStill serving. Apply to the bot as user 1002 to make friends too.\nChat with the bot as user 1002 ",
	)
	_, reply := s.Ask(t, botID, "hello from 1002")
	require.Equal(t, "hello from 1002", reply.Text(), "the bot's answer")
}

// -h prints the usage and is no error.
func TestRunHelp(t *testing.T) {
	t.Parallel()
	devservertest.Help(t, run, "friendly", "script-only")
}
