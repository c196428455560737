package main

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

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
	if err := setup(b, "", cron.Options{Clock: clock, OnError: func(err error) { t.Errorf("cron: %v", err) }}); err != nil {
		t.Fatal(err)
	}
	s.RunBot(t, b)
	user := s.NewUser(t, userID)
	group := user.CreateGroup(t, botID)
	chat := user.CreateSingle(t, botID)

	user.Send(t, chat, "/cron list")
	want := "heartbeat (@every 2s): next 2026-10-02 06:59:57 UTC\n" +
		"standup (0 9 * * mon-fri): next 2026-10-02 09:00:00 CEST\n" +
		"hourly (0 0 * * * *): paused"
	if got := user.WaitReply(t, chat).Text(); got != want {
		t.Fatalf("/cron list: got\n%s\nwant\n%s", got, want)
	}

	if err := clock.RunUntil(start.Add(8*time.Second), imtest.DefaultTimeout); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 5 {
		m := user.WaitReply(t, group)
		got = append(got, m.Text())
		if strings.HasPrefix(m.Text(), "Stand-up") && (!m.MentionsAll() || m.Ext["kind"] != "standup") {
			t.Errorf("the stand-up mentions all: %v, ext %v", m.MentionsAll(), m.Ext)
		}
	}
	wantPosts := []string{"heartbeat 06:59:57", "heartbeat 06:59:59",
		"Stand-up in 5 minutes! (Fri 2 Oct 09:00 CEST)", "heartbeat 07:00:01", "heartbeat 07:00:03"}
	if !slices.Equal(got, wantPosts) {
		t.Fatalf("the group got\n%q\nwant\n%q", got, wantPosts)
	}

	user.Send(t, chat, "/cron resume hourly")
	if got := user.WaitReply(t, chat).Text(); got != "resumed hourly" {
		t.Fatalf("/cron resume hourly: %q", got)
	}
}

// go run ./examples/announcer works: with -n 1 it returns after the
// first heartbeat (real time: at most two seconds).
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-n", "1"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"asked it /cron list", "] heartbeat "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// A jobs file with a mistake stops the announcer at once, naming the
// job and the field.
func TestBadJobsFile(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/jobs.json"
	if err := os.WriteFile(path, []byte(`{"jobs": [{"id": "x", "spec": "@daily", "timezone": "Mars/Base", "targets": {"all_groups": true}, "message": {"text": "hi"}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-jobs", path}, &bytes.Buffer{})
	if want := `job "x": timezone: unknown time zone Mars/Base`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("run = %v, want an error with %q", err, want)
	}
}
