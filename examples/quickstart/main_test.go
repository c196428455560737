package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/examples/internal/devserver/devservertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wantScript is the scripted conversation.
var wantScript = []string{
	"demo bot: user 100, ready",
	"user 1001 opened 0:1:100:1001 with the bot",
	"1001 → hello\n  100 → try /help",
	"1001 → /help\n  100 → commands: /echo <text>, /help",
	"1001 → /echo imbot works\n  100 → imbot works (quoting)",
}

func TestQuickstartScript(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"-script-only"}, &out, &bytes.Buffer{})
	require.NoError(t, err, "run:\n%s", out.String())
	for _, want := range wantScript {
		assert.Contains(t, out.String(), want, "output")
	}
	assert.NotContains(t, out.String(), "Still serving", "output with -script-only")
}

// The default mode, as the README runs it: after the script, run keeps
// serving and prints the dev console link and how to connect; a second
// client logged in with what it printed talks to the bot.
func TestQuickstartServes(t *testing.T) {
	t.Parallel()
	s := devservertest.Serve(t, run)
	for _, want := range append(wantScript, "\nStill serving.\nChat with the bot as user 1001 ") {
		assert.Contains(t, s.Output, want, "output")
	}
	sent, reply := s.Ask(t, botID, "/echo from another client")
	assert.Equal(t, "from another client", reply.Text(), "the bot's answer")
	if assert.NotNil(t, reply.Reference, "the bot's answer quotes") {
		assert.Equal(t, sent.ServerID, reply.Reference.ReferencedMessageID, "the bot's answer quotes the message")
	}
}

// -h prints the usage and is no error.
func TestRunHelp(t *testing.T) {
	t.Parallel()
	devservertest.Help(t, run, "quickstart", "script-only")
}
