package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/imbot-go/imbot/examples/internal/devserver/devservertest"
	"github.com/imbot-go/imbot/imtest"
	"github.com/imbot-go/imbot/plugins/cron"
	"github.com/imbot-go/imbot/plugins/cron/crontest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The announcer's jobs, on a fake clock from a Friday at 08:59:55 in
// Paris (06:59:55 UTC) to 09:00:03: four heartbeats and the stand-up, in
// order, once each; the hourly job stays paused until the admin resumes
// it.
func TestAnnouncer(t *testing.T) {
	t.Parallel()
	s := imtest.NewServer(t)
	start := time.Date(2026, 10, 2, 6, 59, 55, 0, time.UTC)
	clock := crontest.NewClock(start)
	b := s.NewBot(t, botID)
	require.NoError(t, setup(b, "", cron.Options{Clock: clock, OnError: func(err error) { t.Errorf("cron: %v", err) }}))
	s.RunBot(t, b)
	user := s.NewUser(t, userID)
	group := user.CreateGroup(t, botID)
	chat := user.CreateSingle(t, botID)

	user.Send(t, chat, "/cron list")
	want := "heartbeat (@every 2s): next 2026-10-02 06:59:57 UTC\n" +
		"standup (0 9 * * mon-fri): next 2026-10-02 09:00:00 CEST\n" +
		"hourly (0 0 * * * *): paused"
	require.Equal(t, want, user.WaitReply(t, chat).Text(), "/cron list")

	require.NoError(t, clock.RunUntil(start.Add(8*time.Second), imtest.DefaultTimeout))
	var got []string
	for range 5 {
		m := user.WaitReply(t, group)
		got = append(got, m.Text())
		if strings.HasPrefix(m.Text(), "Stand-up") {
			assert.True(t, m.MentionsAll(), "the stand-up mentions all")
			assert.Equal(t, "standup", m.Ext["kind"], "the stand-up's ext kind; ext %v", m.Ext)
		}
	}
	wantPosts := []string{"heartbeat 06:59:57", "heartbeat 06:59:59",
		"Stand-up in 5 minutes! (Fri 2 Oct 09:00 CEST)", "heartbeat 07:00:01", "heartbeat 07:00:03"}
	require.Equal(t, wantPosts, got, "what the group got")

	user.Send(t, chat, "/cron resume hourly")
	require.Equal(t, "resumed hourly", user.WaitReply(t, chat).Text(), "/cron resume hourly")
}

// go run ./examples/announcer works: with -n 1 it returns after the
// first heartbeat (real time: at most two seconds).
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"-n", "1"}, &out, &bytes.Buffer{})
	require.NoError(t, err, "run:\n%s", out.String())
	for _, want := range []string{"asked it /cron list", "] heartbeat "} {
		assert.Contains(t, out.String(), want, "output")
	}
}

// -h prints the usage and is no error.
func TestRunHelp(t *testing.T) {
	t.Parallel()
	devservertest.Help(t, run, "announcer", "jobs", "n")
}

// A jobs file with a mistake stops the announcer at once, naming the
// job and the field.
func TestBadJobsFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, content, wantErr string }{
		{"jobs.json", `{"jobs": [{"id": "x", "spec": "@daily", "timezone": "Mars/Base", "targets": {"all_groups": true}, "message": {"text": "hi"}}]}`,
			`job "x": timezone: unknown time zone Mars/Base`},
		{"jobs.yaml", "jobs:\n  - id: standup\n    schedule: '0 9 * * mon-fri'\n",
			`line 3: jobs[0] "standup": unknown field "schedule" (known: id, spec, timezone, targets, message, missed, grace, enabled)`},
	} {
		path := filepath.Join(t.TempDir(), tc.name)
		require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
		err := run(context.Background(), []string{"-jobs", path}, &bytes.Buffer{}, &bytes.Buffer{})
		require.EqualError(t, err, "cron: "+path+": "+tc.wantErr, "run -jobs %s", tc.name)
	}
}
