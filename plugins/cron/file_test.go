package cron_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if len(jobs) != 2 {
		t.Fatalf("got %d jobs, want 2", len(jobs))
	}
	j := jobs[0]
	if j.ID != "standup" || j.Spec != "0 9 * * mon-fri" || j.TimeZone != "Europe/Paris" ||
		j.Missed != cron.MissedOnce || j.Grace != 30*time.Minute || j.Disabled {
		t.Errorf("standup = %+v", j)
	}
	if tg := j.Targets; len(tg.Conversations) != 2 || tg.Conversations[0] != "7001" || tg.Conversations[1] != "0:1:100:1001" ||
		!tg.AllGroups || len(tg.Live) != 1 || tg.Live[0] != "7002" {
		t.Errorf("standup targets = %+v", tg)
	}
	if m := j.Message; m.Text != `Stand-up at {{.Time.Format "15:04"}}` || len(m.Mentions) != 2 || m.Mentions[1] != 1002 ||
		!m.MentionAll || m.Ext["kind"] != "standup" {
		t.Errorf("standup message = %+v", m)
	}
	if j := jobs[1]; j.ID != "tick" || !j.Disabled || j.Missed != cron.MissedSkip || j.Grace != 0 || j.TimeZone != "" {
		t.Errorf("tick = %+v; want the defaults, disabled", j)
	}
}

func TestParseYAMLAndJSON(t *testing.T) {
	t.Parallel()
	jobs, err := cron.ParseYAML([]byte(goodYAML))
	if err != nil {
		t.Fatal(err)
	}
	checkGoodJobs(t, jobs)
	jobs, err = cron.ParseJSON([]byte(goodJSON))
	if err != nil {
		t.Fatal(err)
	}
	checkGoodJobs(t, jobs)
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, name := range []string{"jobs.yaml", "jobs.YML"} {
		jobs, err := cron.LoadFile(write(name, goodYAML))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkGoodJobs(t, jobs)
	}
	jobs, err := cron.LoadFile(write("jobs.json", goodJSON))
	if err != nil {
		t.Fatal(err)
	}
	checkGoodJobs(t, jobs)

	bad := write("bad.yaml", "jobs:\n  - id: x\n    spec: '* *'\n    targets: {all_groups: true}\n    message: {text: hi}\n")
	_, err = cron.LoadFile(bad)
	want := `cron: ` + bad + `: job "x": spec: expected 5 to 6 fields, found 2: [* *]`
	if err == nil || err.Error() != want {
		t.Fatalf("LoadFile(bad) = %v, want %s", err, want)
	}
	if je, ok := errors.AsType[*cron.JobError](err); !ok || je.File != bad || je.Job != "x" || je.Field != "spec" {
		t.Fatalf("LoadFile(bad) = %#v, want a *JobError", err)
	}
	for _, tc := range []struct{ path, want string }{
		{write("jobs.toml", goodYAML), `jobs.toml: unknown extension ".toml": want .yaml, .yml or .json`},
		{filepath.Join(dir, "missing.yaml"), "missing.yaml: no such file or directory"},
		{write("syntax.json", `{"jobs": [}`), "syntax.json: invalid character"},
	} {
		if _, err := cron.LoadFile(tc.path); err == nil || !strings.HasPrefix(err.Error(), "cron: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadFile(%s) = %v, want an error with %q", filepath.Base(tc.path), err, tc.want)
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
		{"unknown field", job(`id: x, spec: "@daily", tz: UTC, ` + ok), "cron: yaml: unmarshal errors:\n  line 2: field tz not found"},
		{"not a list", "jobs: 3\n", `cron: yaml: unmarshal errors`},
		{"mention not a user", job(`id: x, spec: "@daily", targets: {all_groups: true}, message: {text: hi, mentions: [alice]}`), `cron: yaml: unmarshal errors`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := cron.ParseYAML([]byte(tc.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("ParseYAML = %v, want an error starting %q", err, tc.wantErr)
			}
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
			if _, err := cron.ParseJSON([]byte(tc.json)); err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Errorf("ParseJSON(%s) = %v, want an error starting %q", tc.json, err, tc.wantErr)
			}
		}
	})
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
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("New = %v, want %s", err, tc.wantErr)
			}
			if _, ok := errors.AsType[*cron.JobError](err); !ok {
				t.Fatalf("New = %T, want a *JobError", err)
			}
		})
	}
}

// The jobs file that the package documentation shows parses as it says.
func TestDocExample(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
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
	if err != nil || len(jobs) != 1 {
		t.Fatalf("the documented file: %d jobs, %v", len(jobs), err)
	}
	j := jobs[0]
	if j.ID != "standup" || j.Missed != cron.MissedOnce || j.Grace != 30*time.Minute || j.Disabled ||
		len(j.Targets.Conversations) != 2 || !j.Targets.AllGroups || len(j.Targets.Live) != 1 || len(j.Message.Mentions) != 2 {
		t.Fatalf("the documented file gives %+v", j)
	}
}
