package cron_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/plugins/cron"
)

const goodYAML = `
jobs:
  - id: standup
    spec: "0 9 * * mon-fri"
    timezone: Europe/Paris
    targets:
      conversations: [7001, "0:1:100:1001"]
      all_groups: true
      live: ["7002"]
    message:
      text: "Stand-up at {{.Time.Format \"15:04\"}}"
      mentions: [1001, 1002]
      mention_all: true
      ext: {kind: standup}
    missed: once
    grace: 30m
  - id: tick
    spec: "@every 90s"
    targets: {all_groups: true}
    message: {text: tick}
    enabled: false
`

const goodJSON = `{"jobs": [
  {"id": "standup", "spec": "0 9 * * mon-fri", "timezone": "Europe/Paris",
   "targets": {"conversations": ["7001", "0:1:100:1001"], "all_groups": true, "live": ["7002"]},
   "message": {"text": "Stand-up at {{.Time.Format \"15:04\"}}", "mentions": [1001, 1002], "mention_all": true, "ext": {"kind": "standup"}},
   "missed": "once", "grace": "30m"},
  {"id": "tick", "spec": "@every 90s", "targets": {"all_groups": true}, "message": {"text": "tick"}, "enabled": false}
]}`

func checkGoodJobs(t *testing.T, jobs []cron.Job) {
	t.Helper()
	require.Len(t, jobs, 2, "jobs")
	j := jobs[0]
	assert.Equal(t, "standup", j.ID, "standup ID")
	assert.Equal(t, "0 9 * * mon-fri", j.Spec, "standup Spec")
	assert.Equal(t, "Europe/Paris", j.TimeZone, "standup TimeZone")
	assert.Equal(t, cron.MissedOnce, j.Missed, "standup Missed")
	assert.Equal(t, 30*time.Minute, j.Grace, "standup Grace")
	assert.False(t, j.Disabled, "standup Disabled")
	tg := j.Targets
	assert.Equal(t, []im.ConversationID{"7001", "0:1:100:1001"}, tg.Conversations, "standup targets")
	assert.True(t, tg.AllGroups, "standup targets AllGroups")
	assert.Equal(t, []im.ConversationID{"7002"}, tg.Live, "standup targets Live")
	m := j.Message
	assert.Equal(t, `Stand-up at {{.Time.Format "15:04"}}`, m.Text, "standup message text")
	if assert.Len(t, m.Mentions, 2, "standup message mentions") {
		assert.Equal(t, im.UserID(1002), m.Mentions[1], "standup message mentions")
	}
	assert.True(t, m.MentionAll, "standup message MentionAll")
	assert.Equal(t, "standup", m.Ext["kind"], "standup message ext")
	j = jobs[1] // want the defaults, disabled
	assert.Equal(t, "tick", j.ID, "tick ID")
	assert.True(t, j.Disabled, "tick Disabled")
	assert.Equal(t, cron.MissedSkip, j.Missed, "tick Missed")
	assert.Zero(t, j.Grace, "tick Grace")
	assert.Empty(t, j.TimeZone, "tick TimeZone")
}

func TestParseYAMLAndJSON(t *testing.T) {
	t.Parallel()
	jobs, err := cron.ParseYAML([]byte(goodYAML))
	require.NoError(t, err)
	checkGoodJobs(t, jobs)
	jobs, err = cron.ParseJSON([]byte(goodJSON))
	require.NoError(t, err)
	checkGoodJobs(t, jobs)
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(data), 0o600))
		return path
	}
	for _, name := range []string{"jobs.yaml", "jobs.YML"} {
		jobs, err := cron.LoadFile(write(name, goodYAML))
		require.NoError(t, err, "%s", name)
		checkGoodJobs(t, jobs)
	}
	jobs, err := cron.LoadFile(write("jobs.json", goodJSON))
	require.NoError(t, err)
	checkGoodJobs(t, jobs)

	bad := write("bad.yaml", "jobs:\n  - id: x\n    spec: '* *'\n    targets: {all_groups: true}\n    message: {text: hi}\n")
	_, err = cron.LoadFile(bad)
	want := `cron: ` + bad + `: job "x": spec: expected 5 to 6 fields, found 2: [* *]`
	require.EqualError(t, err, want, "LoadFile(bad)")
	je, ok := errors.AsType[*cron.JobError](err)
	require.True(t, ok, "LoadFile(bad) = %#v, want a *JobError", err)
	require.Equal(t, bad, je.File, "LoadFile(bad): the JobError's File")
	require.Equal(t, "x", je.Job, "LoadFile(bad): the JobError's Job")
	require.Equal(t, "spec", je.Field, "LoadFile(bad): the JobError's Field")
	for _, tc := range []struct{ path, want string }{
		{write("jobs.toml", goodYAML), `jobs.toml: unknown extension ".toml": want .yaml, .yml or .json`},
		{filepath.Join(dir, "missing.yaml"), "missing.yaml: no such file or directory"},
		{write("syntax.json", `{"jobs": [}`), "syntax.json: invalid character"},
	} {
		_, err := cron.LoadFile(tc.path)
		if assert.Error(t, err, "LoadFile(%s)", filepath.Base(tc.path)) {
			assert.True(t, strings.HasPrefix(err.Error(), "cron: "), "LoadFile(%s) = %v, want an error starting cron: ", filepath.Base(tc.path), err)
			assert.ErrorContains(t, err, tc.want, "LoadFile(%s)", filepath.Base(tc.path))
		}
	}
}

// Every bad job is an error at load that names the job and the field.
func TestBadJobs(t *testing.T) {
	t.Parallel()
	job := func(fields string) string {
		return "jobs:\n  - {" + fields + "}\n"
	}
	const ok = `targets: {all_groups: true}, message: {text: hi}`
	for _, tc := range []struct {
		name, yaml, wantErr string
	}{
		{"spec fields", job(`id: standup, spec: "* *", ` + ok), `cron: job "standup": spec: expected 5 to 6 fields, found 2: [* *]`},
		{"spec value", job(`id: standup, spec: "61 * * * *", ` + ok), `cron: job "standup": spec: end of range (61) above maximum (59): 61`},
		{"spec descriptor", job(`id: standup, spec: "@fortnightly", ` + ok), `cron: job "standup": spec: unrecognized descriptor: @fortnightly`},
		{"spec every", job(`id: standup, spec: "@every soon", ` + ok), `cron: job "standup": spec: failed to parse duration @every soon`},
		{"spec empty", job(`id: standup, ` + ok), `cron: job "standup": spec: empty spec string`},
		{"spec tz prefix", job(`id: standup, spec: "CRON_TZ=Asia/Tokyo 0 9 * * *", ` + ok), `cron: job "standup": spec: a time zone prefix is not allowed here; set the job's timezone`},
		{"spec tz prefix alone", job(`id: standup, spec: "TZ=x", ` + ok), `cron: job "standup": spec: a time zone prefix`},
		{"timezone", job(`id: x, spec: "@daily", timezone: Mars/Base, ` + ok), `cron: job "x": timezone: unknown time zone Mars/Base`},
		{"no id", job(`spec: "@daily", ` + ok), `cron: job "#1": id: missing`},
		{"bad id", job(`id: "a b", spec: "@daily", ` + ok), `cron: job "a b": id: use letters, digits`},
		{"pending id", job(`id: "a#pending", spec: "@daily", ` + ok), `cron: job "a#pending": id: use letters, digits`},
		{"no targets", job(`id: x, spec: "@daily", message: {text: hi}`), `cron: job "x": targets: none`},
		{"no text", job(`id: x, spec: "@daily", targets: {all_groups: true}`), `cron: job "x": message: the text is empty`},
		{"bad template", job(`id: x, spec: "@daily", targets: {all_groups: true}, message: {text: "{{.Time"}`), `cron: job "x": message: template: x:1: unclosed action`},
		{"unknown template field", job(`id: x, spec: "@daily", targets: {all_groups: true}, message: {text: "{{.When}}"}`), `cron: job "x": message: template: x:1:2: executing "x" at <.When>: can't evaluate field When`},
		{"missed", job(`id: x, spec: "@daily", missed: twice, ` + ok), `cron: job "x": missed: "twice" is not skip, once or all`},
		{"grace", job(`id: x, spec: "@daily", grace: soon, ` + ok), `cron: job "x": grace: time: invalid duration "soon"`},
		{"negative grace", job(`id: x, spec: "@daily", grace: -1m, ` + ok), `cron: job "x": grace: -1m0s is negative`},
		{"second job", job(`id: a, spec: "@daily", `+ok) + "  - {id: b, spec: nope, " + ok + "}\n", `cron: job "b": spec:`},
		{"unknown field", job(`id: x, spec: "@daily", tz: UTC, ` + ok), `cron: line 2: jobs[0] "x": unknown field "tz" (known: id, spec,`},
		{"not a list", "jobs: 3\n", `cron: yaml: unmarshal errors`},
		{"mention not a user", job(`id: x, spec: "@daily", targets: {all_groups: true}, message: {text: hi, mentions: [alice]}`), `cron: yaml: unmarshal errors`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := cron.ParseYAML([]byte(tc.yaml))
			require.Error(t, err, "ParseYAML")
			require.True(t, strings.HasPrefix(err.Error(), tc.wantErr), "ParseYAML = %v, want an error starting %q", err, tc.wantErr)
		})
	}
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct{ json, wantErr string }{
			{`{"jobs": [{"id": "x", "spec": "@daily", "timezone": "Mars/Base", "targets": {"all_groups": true}, "message": {"text": "hi"}}]}`,
				`cron: job "x": timezone: unknown time zone Mars/Base`},
			{`{"jobs": [], "extra": 1}`, `cron: json: unknown field "extra"`},
			{`{"jobs": []} {}`, `cron: data after the JSON object`},
			{`{"jobs": [{"targets": {"conversations": [7001]}}]}`, `cron: json: cannot unmarshal number`},
		} {
			_, err := cron.ParseJSON([]byte(tc.json))
			if assert.Error(t, err, "ParseJSON(%s)", tc.json) {
				assert.True(t, strings.HasPrefix(err.Error(), tc.wantErr), "ParseJSON(%s) = %v, want an error starting %q", tc.json, err, tc.wantErr)
			}
		}
	})
}

// An unknown field is an error naming where it is, the job by its index
// (from 0) and its id, and the fields known there, not the package's
// types.
func TestUnknownFields(t *testing.T) {
	t.Parallel()
	const jobFields = "(known: id, spec, timezone, targets, message, missed, grace, enabled)"
	for _, tc := range []struct {
		name, yaml, wantErr string
	}{
		{"job", `jobs:
  - {id: tick, spec: "@hourly", targets: {all_groups: true}, message: {text: tick}}
  - {id: tock, spec: "@hourly", targets: {all_groups: true}, message: {text: tock}}
  - id: standup
    schedule: "0 9 * * mon-fri"
    targets: {all_groups: true}
    message: {text: stand-up}
`, `cron: line 5: jobs[2] "standup": unknown field "schedule" ` + jobFields},
		{"job without an id", "jobs:\n  - {spec: '@daily', every: day}\n",
			`cron: line 2: jobs[0]: unknown field "every" ` + jobFields},
		{"id after the field", "jobs:\n  - {spec: '@daily', every: day, id: daily}\n",
			`cron: line 2: jobs[0] "daily": unknown field "every" ` + jobFields},
		{"targets", "jobs:\n  - id: x\n    targets: {all_group: true}\n",
			`cron: line 3: jobs[0] "x": targets: unknown field "all_group" (known: conversations, all_groups, live)`},
		{"message", "jobs:\n  - id: x\n    message: {text: hi, mention: [1001]}\n",
			`cron: line 3: jobs[0] "x": message: unknown field "mention" (known: text, mentions, mention_all, ext)`},
		{"top level", "job:\n  - id: x\n", `cron: line 1: unknown field "job" (known: jobs)`},
		{"merged job", "jobs:\n  - &d {id: a, spec: '@daily', targets: {all_groups: true}, message: {text: hi}}\n  - {<<: *d, id: b, tz: UTC}\n",
			`cron: line 3: jobs[1] "b": unknown field "tz" ` + jobFields},
		{"in a merged mapping", "jobs:\n  - &d {id: a, spec: '@daily', tz: UTC}\n  - {<<: *d, id: b}\n",
			`cron: line 2: jobs[0] "a": unknown field "tz" ` + jobFields},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := cron.ParseYAML([]byte(tc.yaml))
			require.EqualError(t, err, tc.wantErr, "ParseYAML")
		})
	}

	path := filepath.Join(t.TempDir(), "jobs.yaml")
	require.NoError(t, os.WriteFile(path, []byte("jobs:\n  - id: standup\n    schedule: '@daily'\n"), 0o600))
	_, err := cron.LoadFile(path)
	require.EqualError(t, err, `cron: `+path+`: line 3: jobs[0] "standup": unknown field "schedule" `+jobFields, "LoadFile")

	// A good merge key passes; an alias that contains itself ends the
	// walk, and the decoder's error stands.
	jobs, err := cron.ParseYAML([]byte("jobs:\n  - &d {id: a, spec: '@daily', targets: {all_groups: true}, message: {text: hi}}\n  - {<<: *d, id: b}\n"))
	require.NoError(t, err, "ParseYAML with a good merge key")
	require.Len(t, jobs, 2, "ParseYAML with a good merge key")
	_, err = cron.ParseYAML([]byte("jobs: &j [*j]\n"))
	require.Error(t, err, "ParseYAML with an alias that contains itself")
	_, err = cron.ParseYAML([]byte("jobs:\n  - &m {id: a, <<: *m}\n"))
	require.Error(t, err, "ParseYAML with a merge that contains itself")
}

// New checks jobs from code as the parsers check those from files, and
// also what only a set of jobs shows.
func TestNewRefusesBadJobs(t *testing.T) {
	t.Parallel()
	to := cron.Targets{Conversations: []im.ConversationID{"7001"}}
	hi := cron.Message{Text: "hi"}
	for _, tc := range []struct {
		name    string
		jobs    []cron.Job
		wantErr string
	}{
		{"duplicate id", []cron.Job{{ID: "a", Spec: "@daily", Targets: to, Message: hi}, {ID: "a", Spec: "@hourly", Targets: to, Message: hi}},
			`cron: job "a": id: used by another job`},
		{"never fires", []cron.Job{{ID: "feb30", Spec: "0 0 30 2 *", Targets: to, Message: hi}},
			`cron: job "feb30": spec: "0 0 30 2 *" never fires`},
		{"text and compose", []cron.Job{{ID: "a", Spec: "@daily", Targets: to, Message: hi,
			Compose: func(context.Context, cron.Occurrence) (im.OutgoingMessage, error) { return im.OutgoingMessage{}, nil }}},
			`cron: job "a": message: set either the text or Compose, not both`},
		{"unknown policy", []cron.Job{{ID: "a", Spec: "@daily", Targets: to, Message: hi, Missed: 7}},
			`cron: job "a": missed: unknown policy Missed(7)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := cron.New(cron.Options{Jobs: tc.jobs})
			require.EqualError(t, err, tc.wantErr, "New")
			_, ok := errors.AsType[*cron.JobError](err)
			require.True(t, ok, "New = %T, want a *JobError", err)
		})
	}
}

// The jobs file that the package documentation shows parses as it says.
func TestDocExample(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	var yaml []string
	in := false
	for line := range strings.Lines(string(src)) {
		switch {
		case line == "//\tjobs:\n":
			in = true
		case in && !strings.HasPrefix(line, "//\t"):
			in = false
		}
		if in {
			yaml = append(yaml, strings.TrimPrefix(line, "//\t"))
		}
	}
	jobs, err := cron.ParseYAML([]byte(strings.Join(yaml, "")))
	require.NoError(t, err, "the documented file")
	require.Len(t, jobs, 1, "the documented file's jobs")
	j := jobs[0]
	require.Equal(t, "standup", j.ID, "the documented file gives %+v", j)
	require.Equal(t, cron.MissedOnce, j.Missed, "the documented file gives %+v", j)
	require.Equal(t, 30*time.Minute, j.Grace, "the documented file gives %+v", j)
	require.False(t, j.Disabled, "the documented file gives %+v", j)
	require.Len(t, j.Targets.Conversations, 2, "the documented file gives %+v", j)
	require.True(t, j.Targets.AllGroups, "the documented file gives %+v", j)
	require.Len(t, j.Targets.Live, 1, "the documented file gives %+v", j)
	require.Len(t, j.Message.Mentions, 2, "the documented file gives %+v", j)
}
