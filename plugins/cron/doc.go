// Package cron is a bot plugin that posts scheduled announcements:
// jobs with a robfig/cron/v3 spec, a time zone, targets and a message
// template, defined in code or in a YAML or JSON file.
//
//	jobs, err := cron.LoadFile("jobs.yaml")   // or ParseYAML, ParseJSON, or []cron.Job in code
//	p, err := cron.New(cron.Options{Jobs: jobs, Store: store})
//	err = b.Plug(p)                           // b is a *bot.Bot
//	r.Group(p.AdminRoutes(adminID))           // optional: /cron list, pause, resume, run
//
// The [Plugin] is a bot.Plugin: Setup adds one background job to the bot
// (bot.Bot.Go), which starts once the bot is connected, runs every job on
// its schedule and stops with the bot. Nothing registers itself at
// import.
//
// # Jobs file
//
// A file holds a list of jobs; every field but id, spec, targets and
// message.text may be left out. Unknown fields are errors.
//
//	jobs:
//	  - id: standup                  # letters, digits, _ . -
//	    spec: "0 9 * * mon-fri"      # robfig/cron/v3; see Schedules
//	    timezone: Europe/Paris       # IANA zone; default Local
//	    targets:
//	      conversations: ["7001", "0:1:100:1001"]  # groups (short id) and single chats
//	      all_groups: true           # every group the bot is in
//	      live: ["7002"]             # live chats, joined before posting
//	    message:
//	      text: 'Stand-up in 5 minutes ({{.Time.Format "Mon 2 Jan 15:04 MST"}})'
//	      mentions: [1001, 1002]     # user ids
//	      mention_all: false
//	      ext: {kind: standup}       # the message's ext
//	    missed: once                 # skip (default), once or all
//	    grace: 30m                   # default 1h
//	    enabled: true                # default true
//
// JSON files have the same layout ({"jobs": [{"id": "standup", …}]}),
// with conversation ids as strings. [LoadFile] picks the format by the
// file's extension: .yaml, .yml or .json.
//
// A job that cannot run is an error at load, a [*JobError] naming the
// job and the field:
//
//	cron: jobs.yaml: job "standup": spec: expected 5 to 6 fields, found 2: [* *]
//	cron: jobs.yaml: job "standup": timezone: unknown time zone Mars/Base
//
// An unknown field is an error naming its line, the job (by its index
// in the list, from 0, and its id) and the fields known there:
//
//	cron: jobs.yaml: line 5: jobs[2] "standup": unknown field "schedule" (known: id, spec, timezone, targets, message, missed, grace, enabled)
//
// In JSON files it is the decoder's: json: unknown field "schedule".
//
// [New] checks jobs from code the same way, and also refuses two jobs
// with one id and a spec that never fires ("0 0 30 2 *").
//
// # Schedules
//
// A spec has five fields, minute hour day-of-month month day-of-week
// ("0 9 * * mon-fri"), or six with seconds first ("30 0 9 * * *"), or is
// a descriptor: @yearly, @monthly, @weekly, @daily (or @midnight),
// @hourly, or @every with a duration ("@every 90m", rounded to the
// second, at least one). It is read in the job's time zone, across
// daylight-saving changes, as robfig/cron/v3 reads it; a CRON_TZ= prefix
// is refused, since the job has a timezone field. An @every job counts
// from when the plugin starts leading (and, for missed runs, from the
// last run).
//
// # Messages
//
// message.text is a text/template executed for each occurrence with an
// [Occurrence]: .Job, .Time (the scheduled time, in the job's zone) and
// .Key. A field that does not exist is an error at load. The message
// mentions message.mentions, and everyone with mention_all; ext goes into
// the message's ext. In code, [Job].Compose builds the message instead.
//
// # Missed runs
//
// The plugin keeps, per job, the scheduled time of the last occurrence it
// posted, in a [Store] ([MemoryStore] by default; a durable one, such as
// package state's file store, for restarts). When it starts leading (at
// start-up, or on taking over from another replica), the occurrences
// after that last run and up to now were missed, and the job's policy
// decides: [MissedSkip] posts none, [MissedOnce] the latest, [MissedAll]
// each, oldest first, in both cases only those scheduled less than the
// grace window before now. A job that never ran has missed nothing. The
// same holds while running, for the occurrences after the one a timer
// waited for, if the process stalled past them.
//
// # Exactly once
//
// Each occurrence has an idempotency key, [Key](job, scheduled time),
// which is the client message id of every message it posts. The server
// keeps the first message of each (conversation, sender, client id) and
// answers a repeated send with it. The plugin records an occurrence in
// two steps: before posting, as pending; after it was posted to every
// target, as the last run. So:
//
//   - a bot that stops before recording the last run (crash, shutdown,
//     mid-way through the targets) finds the pending occurrence at its
//     next start and posts it again, whatever the policy: the targets
//     that got it get nothing new, the others get it. Not zero times.
//   - an occurrence posted again, by that, by a missed-run policy after a
//     lost record, or by a second replica that believed it led, makes no
//     second message. Not twice.
//
// A target that refuses the message (the bot left the group) or stays
// unreachable through the client's retries is reported to
// Options.OnError as a [*RunError], and the occurrence still counts as
// posted; the other targets are not held up.
//
// # Leader
//
// Several replicas of one bot would each run every job. A [Leader]
// elects the one that does: the plugin runs its jobs only while it
// holds leadership, and a new leader handles the missed runs from the
// shared Store. [LocalLeader] elects within a process; replicas in
// several processes need a Leader over a shared store (a Redis lock with
// a lease), and a shared Store. Leadership mostly saves work: two
// replicas that both believe they lead post an occurrence under the same
// key, which the server deduplicates. (Not so for @every jobs, whose
// occurrences count from when each leader started.)
//
// # Admin commands
//
// [Plugin.AdminRoutes] returns routes for a router.Router that let
// configured admins list the jobs with their next runs, pause and resume
// a job ([Plugin.Pause], [Plugin.Resume]; until the bot restarts), and
// post a job's message now. Everyone else is answered "not allowed".
//
// # Metrics
//
// Setup registers the plugin's Prometheus metrics with the bot's registry
// (bot.Bot.Metrics); with the bot's metrics off, there are none. Their
// labels are the jobs' ids, which the program's author chooses, and fixed
// outcomes:
//
//   - imbot_cron_runs_total{job,outcome}: runs of a job: its scheduled
//     occurrences, those a missed-run policy or a stop's pending record
//     posts late, and admins' "run" commands. outcome is ok (every target
//     got the message), partial (some targets failed), failed (none got
//     it: the message could not be built, or every target failed) or
//     interrupted (the bot stopped, or the plugin lost the lead, first;
//     the occurrence stays pending, to be posted again).
//   - imbot_cron_run_duration_seconds{job}: how long a run took, building
//     the message and posting it to every target, in real time whatever
//     Options.Clock.
//   - imbot_cron_sends_total{job,outcome}: the messages runs posted, one
//     per target: ok, or failed (the send, or finding or joining the
//     conversation, failed; each is also a [*RunError]).
//   - imbot_cron_missed_total{job}: occurrences that passed while the job
//     could not run (the bot was down, another replica led, the process
//     stalled), counted when the plugin finds them, whatever the job's
//     policy: those it posts late are runs as well. They are found from
//     the job's last run in the Store, which MissedSkip leaves as it is,
//     so under it a bot that starts twice before the job's next run
//     counts them twice. At most 10000 are counted at a time. Occurrences
//     skipped while a job is paused are not missed.
//   - imbot_cron_leader: 1 while this process holds the [Leader] and runs
//     the jobs, 0 otherwise. Replicas that do not lead do not evaluate the
//     schedule, so they count no runs.
//
// One registry takes one Plugin's metrics: a second Plugin on a bot of the
// same registry fails Setup, naming the metric (put the jobs in one
// Plugin).
//
// # Panics
//
// A panic while building or posting an occurrence (in a Compose func,
// say) is recovered and reported to Options.OnError as a *RunError
// wrapping a *bot.PanicError; the job keeps its schedule. robfig/cron's
// own Cron does not recover by default; this package does not use it,
// only its parser and schedules.
//
// # Testing
//
// Options.Clock takes a fake clock, [crontest.Clock], that moves only
// when the test moves it: a month of occurrences runs in milliseconds
// against the embedded server (package imtest), without sleeping.
//
// [crontest.Clock]: https://pkg.go.dev/github.com/imbot-go/imbot/plugins/cron/crontest#Clock
package cron
