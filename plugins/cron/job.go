package cron

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/template"
	"time"

	robfig "github.com/robfig/cron/v3"

	"github.com/imbot-go/imbot/im"
)

// DefaultGrace is a job's grace window when Job.Grace is zero.
const DefaultGrace = time.Hour

// Job is one scheduled announcement. Jobs come from code or from a file
// ([LoadFile], [ParseYAML], [ParseJSON]); [New] checks them.
type Job struct {
	// ID names the job in errors, logs, the store and admin commands:
	// letters, digits, '_', '.' and '-', starting with a letter or digit.
	ID string
	// Spec is when the job runs: five fields (minute hour day-of-month
	// month day-of-week), six with seconds first, or a descriptor
	// (@hourly, @daily, @weekly, @monthly, @yearly, @every 90m), as
	// robfig/cron/v3 reads them. Time zone prefixes (CRON_TZ=) are
	// refused: set TimeZone.
	Spec string
	// TimeZone is the IANA zone (Europe/Paris) the spec is read in and the
	// message's time is given in. Default "Local", the process's zone.
	TimeZone string
	// Targets are the conversations the message goes to.
	Targets Targets
	// Message is what is posted, unless Compose is set.
	Message Message
	// Compose, when not nil, builds the message of each occurrence in
	// place of Message (jobs defined in code only). Its ClientID is
	// overwritten with the occurrence's key. A panic in it is recovered
	// and reported; the job keeps its schedule.
	Compose func(ctx context.Context, o Occurrence) (im.OutgoingMessage, error)
	// Missed says what to do with the occurrences that passed while the
	// job could not run (the bot was down or not the leader). Default
	// MissedSkip.
	Missed Missed
	// Grace bounds the missed occurrences that MissedOnce and MissedAll
	// post: only those scheduled less than Grace before now. Default
	// DefaultGrace.
	Grace time.Duration
	// Disabled jobs start paused; the admin command "resume" starts them
	// until the bot restarts.
	Disabled bool
}

// Targets are where a job posts. Each conversation gets an occurrence at
// most once, however many of the lists name it.
type Targets struct {
	// Conversations are single chats and groups the bot is a member of,
	// by id: "0:1:100:1001" for a single chat, the short id in decimal
	// for a group.
	Conversations []im.ConversationID `yaml:"conversations" json:"conversations"`
	// AllGroups adds every group the bot is a member of at the time of
	// the occurrence.
	AllGroups bool `yaml:"all_groups" json:"all_groups"`
	// Live are live chats, by id; the bot joins each before posting (a
	// join is idempotent), as only joined members may send to one.
	Live []im.ConversationID `yaml:"live" json:"live"`
}

func (t Targets) empty() bool {
	return len(t.Conversations) == 0 && !t.AllGroups && len(t.Live) == 0
}

// Message is a job's message: a text template and what goes with it.
type Message struct {
	// Text is a text/template executed with the [Occurrence]:
	// "Stand-up at {{.Time.Format "15:04 MST"}}". A missing key or field
	// is an error when the job is loaded.
	Text string `yaml:"text" json:"text"`
	// Mentions are the users the message mentions; MentionAll mentions
	// everyone.
	Mentions   []im.UserID `yaml:"mentions" json:"mentions"`
	MentionAll bool        `yaml:"mention_all" json:"mention_all"`
	// Ext is the message's ext. Live chats' messages have none (the
	// protocol's live send carries no ext): posts there go without it.
	Ext map[string]string `yaml:"ext" json:"ext"`
}

// Occurrence is one run of a job, the data its text template gets.
type Occurrence struct {
	// Job is the job's ID.
	Job string
	// Time is when the occurrence is scheduled, in the job's time zone;
	// for an admin's "run", when it was asked for.
	Time time.Time
	// Key is the occurrence's idempotency key, the ClientID of every
	// message it posts (see [Key]).
	Key string
}

// Missed is a job's policy for the occurrences it missed.
type Missed int

// Missed policies.
const (
	// MissedSkip posts none of them: the job goes on with its next
	// occurrence.
	MissedSkip Missed = iota
	// MissedOnce posts the latest of them that is within the grace
	// window, once.
	MissedOnce
	// MissedAll posts every one of them that is within the grace
	// window, oldest first.
	MissedAll
)

var missedNames = [...]string{MissedSkip: "skip", MissedOnce: "once", MissedAll: "all"}

// String returns "skip", "once" or "all", as files write the policy.
func (m Missed) String() string {
	if m >= 0 && int(m) < len(missedNames) {
		return missedNames[m]
	}
	return fmt.Sprintf("Missed(%d)", int(m))
}

// parseMissed reads a policy as files write it; "" is MissedSkip.
func parseMissed(s string) (Missed, error) {
	if s == "" {
		return MissedSkip, nil
	}
	for m, name := range missedNames {
		if s == name {
			return Missed(m), nil
		}
	}
	return 0, fmt.Errorf("%q is not skip, once or all", s)
}

// Key returns the idempotency key of job's occurrence scheduled at t:
// "cron:" and 32 hex digits of a SHA-256 of the job id and t in UTC. It
// is the client message id of every message the occurrence posts, so
// that posting it again (after a crash, by a second replica) is answered
// by the server with the message it stored the first time.
func Key(job string, t time.Time) string {
	return hashKey(job, t.UTC().Format(time.RFC3339Nano))
}

// hashKey hashes parts, NUL-separated, into a "cron:" key.
func hashKey(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "cron:" + hex.EncodeToString(h[:16])
}

// JobError is a job that cannot be loaded: which job, which field, why.
// Its message reads
//
//	cron: jobs.yaml: job "standup": timezone: unknown time zone Mars/Base
type JobError struct {
	// File is the file the job came from, or "".
	File string
	// Job is the job's ID, or "#3" (its position, from 1) when it has
	// none.
	Job string
	// Field is the field at fault, as files name it: id, spec,
	// timezone, targets, message, missed, grace.
	Field string
	Err   error
}

func (e *JobError) Error() string {
	file := ""
	if e.File != "" {
		file = e.File + ": "
	}
	return fmt.Sprintf("cron: %sjob %q: %s: %v", file, e.Job, e.Field, e.Err)
}

func (e *JobError) Unwrap() error { return e.Err }

// jobName is how errors name the n-th job (from 1): by its id, or by
// its position when it has none.
func jobName(id string, n int) string {
	if id == "" {
		return fmt.Sprintf("#%d", n)
	}
	return id
}

// specParser reads five fields, six with seconds, and descriptors.
var specParser = robfig.NewParser(robfig.SecondOptional | robfig.Minute | robfig.Hour |
	robfig.Dom | robfig.Month | robfig.Dow | robfig.Descriptor)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// entry is a checked job, ready to run.
type entry struct {
	Job
	sched robfig.Schedule
	loc   *time.Location
	tmpl  *template.Template // nil when Compose is set
}

// compile checks job (the n-th, from 1) and prepares it.
func compile(job Job, n int) (*entry, error) {
	fail := func(field string, err error) error {
		return &JobError{Job: jobName(job.ID, n), Field: field, Err: err}
	}
	if !idPattern.MatchString(job.ID) {
		if job.ID == "" {
			return nil, fail("id", errors.New("missing"))
		}
		return nil, fail("id", errors.New("use letters, digits, '_', '.' and '-', starting with a letter or digit"))
	}
	sched, err := parseSpec(job.Spec)
	if err != nil {
		return nil, fail("spec", err)
	}
	tz := job.TimeZone
	if tz == "" {
		tz = "Local"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fail("timezone", err)
	}
	if job.Targets.empty() {
		return nil, fail("targets", errors.New("none: name conversations, live chats or all_groups"))
	}
	if job.Missed < MissedSkip || job.Missed > MissedAll {
		return nil, fail("missed", fmt.Errorf("unknown policy %v", job.Missed))
	}
	if job.Grace < 0 {
		return nil, fail("grace", fmt.Errorf("%v is negative", job.Grace))
	}
	if job.Grace == 0 {
		job.Grace = DefaultGrace
	}
	e := &entry{Job: job, sched: sched, loc: loc}
	switch {
	case job.Compose != nil && job.Message.Text != "":
		return nil, fail("message", errors.New("set either the text or Compose, not both"))
	case job.Compose != nil:
	case job.Message.Text == "":
		return nil, fail("message", errors.New("the text is empty"))
	default:
		tmpl, err := template.New(job.ID).Option("missingkey=error").Parse(job.Message.Text)
		if err != nil {
			return nil, fail("message", err)
		}
		// A dry run finds what Parse cannot: fields that do not exist.
		sample := Occurrence{Job: job.ID, Time: time.Date(2000, 1, 1, 0, 0, 0, 0, loc), Key: Key(job.ID, time.Time{})}
		if err := tmpl.Execute(io.Discard, sample); err != nil {
			return nil, fail("message", err)
		}
		e.tmpl = tmpl
	}
	return e, nil
}

// parseSpec parses a spec, refusing time zone prefixes: the job has its
// own field, and robfig/cron v3.0.1 panics on a prefix without a space
// after it ("TZ=UTC").
func parseSpec(spec string) (robfig.Schedule, error) {
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		return nil, errors.New("a time zone prefix is not allowed here; set the job's timezone")
	}
	return specParser.Parse(spec)
}

// render builds the message of occurrence o.
func (e *entry) render(ctx context.Context, o Occurrence) (im.OutgoingMessage, error) {
	if e.Compose != nil {
		out, err := e.Compose(ctx, o)
		out.ClientID = o.Key
		return out, err
	}
	var text strings.Builder
	if err := e.tmpl.Execute(&text, o); err != nil {
		return im.OutgoingMessage{}, err
	}
	return im.OutgoingMessage{
		Content:    im.TextContent(text.String()),
		Mentions:   e.Message.Mentions,
		MentionAll: e.Message.MentionAll,
		Ext:        e.Message.Ext,
		ClientID:   o.Key,
	}, nil
}

// next returns the first occurrence after t, in the job's zone, or the
// zero time when there is none.
func (e *entry) next(t time.Time) time.Time {
	return e.sched.Next(t.In(e.loc))
}

// missed returns the occurrences after last and up to now that the job's
// policy posts: none, the latest, or all, of those scheduled less than
// Grace before now.
func (e *entry) missed(last, now time.Time) []time.Time {
	if e.Missed == MissedSkip {
		return nil
	}
	// Occurrences before the window are dropped anyway: start at its
	// edge rather than walk from a last run long ago.
	from := last
	if edge := now.Add(-e.Grace); edge.After(from) {
		from = edge
	}
	var out []time.Time
	for t := e.next(from); !t.IsZero() && !t.After(now); t = e.next(t) {
		out = append(out, t)
	}
	if e.Missed == MissedOnce && len(out) > 1 {
		out = out[len(out)-1:]
	}
	return out
}
