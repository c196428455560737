// Package state keeps a bot's state in one file, so that a bot restarted
// on it carries on where it stopped: each message handled once, the
// dedup window and rate limits as they were, scheduled jobs not run
// twice nor forgotten.
//
//	st, err := state.Open(filepath.Join(dataDir, "bot.state"), nil)
//	if err != nil {
//		return err
//	}
//	defer st.Close()
//	opts.Progress = st // bot.Options
//	b.Use(middleware.Dedup(st, 10*time.Minute),
//		middleware.RateLimit(middleware.RateLimitOptions{PerUser: perUser, Store: st}))
//
// A [File] implements the small interfaces behind which imbot keeps
// state, each with an in-memory default elsewhere: [bot.ProgressStore],
// [middleware.DedupStore], [middleware.RateStore], and the last-run store
// of the cron plugin ([File.LastRun], [File.SetLastRun]). The package
// statetest holds their conformance suites, which the File passes like
// the in-memory stores.
//
// # What is kept, and how durably
//
//   - Progress: the sync cursor, and per conversation the index of the
//     last message handled. The bot commits a message's progress after
//     its handler returned; CommitProgress returns once the commit is
//     fsynced, so that a commit that returned survives a crash or a
//     power cut. It never moves back.
//   - Dedup window: a key per message handled, until its expiry. Mark
//     returns once fsynced, like a commit: a message marked is not
//     handled again after a crash. Seen treats an expired key as unseen;
//     each Mark deletes a few keys that expired by the latest time
//     passed to Seen, oldest first, so that the file holds about the
//     keys of one window.
//   - Rate buckets: the tokens of each bucket and when it had them.
//     Writing every Take would cost an fsync per event, so Take counts in
//     memory and writes the buckets it changed once Options.RateFlush
//     (DefaultRateFlush, one second) has passed in the time of the
//     events, and at Close. After a crash, a bucket is as it was at the
//     last write: fuller than it was by at most the tokens taken since,
//     which lets through a burst that a limit would have refused, and
//     never refuses one that it would have let through. For rate limits
//     that is an acceptable loss; for progress it would not be. Buckets
//     full again leave the file: a bucket that is not there is full.
//   - Last runs: when each cron job last ran. SetLastRun returns once
//     fsynced.
//
// Writes are fsynced in group commits: the writes asked for, by any
// goroutine, while a transaction is being written wait and then go
// together in the next one, so that many conversations committing at
// once share an fsync, and a lone commit waits for no other. A File
// starts no goroutine; the callers' own run the transactions.
//
// # Layout
//
// The file is a [go.etcd.io/bbolt] database with one top-level bucket
// for each kind of record, so that the bbolt command-line tool can
// inspect it:
//
//	meta          "format" → "imbot-state 1"
//	progress      "cursor" → int64
//	handled       conversation id → int64 (the index of the last message handled)
//	dedup         key → expiry
//	dedup-expiry  expiry ‖ key → nothing (the keys in order of expiry)
//	rate          scope ‖ user ‖ conversation → tokens, time, rate, burst
//	runs          job → time (time.Time.MarshalBinary)
//
// Integers are big-endian; times are nanoseconds since 1970 (clamped to
// the years 1678 to 2262), with the sign bit flipped so that they sort
// in byte order. A change of layout gets a new format, and a file of
// another format is refused.
//
// # Errors
//
// Open refuses, with [ErrFormat] and the path, a file that is not a state
// file of this format: another program's, another format's, or one
// damaged on disk (Open reads the whole file once, with bbolt's
// consistency check and then every record, so that damage shows there
// as an error rather than as a panic later). It tells the embedded
// server's data file (imserver -data im.db) by its buckets:
//
//	state: im.db is an imserver data file (imserver/store/bolt), not a bot state file
//
// A record damaged in a file that opened is an ErrFormat error of the
// call that reads it. A file already open, in another process (a bot, or
// a running imserver on its -data file) or in another File of this one,
// is refused with [ErrLocked] after Options.Timeout (DefaultTimeout, one
// second); a locked file cannot be read, so the error names the file but
// cannot say whose it is. The methods of a closed File return
// [ErrClosed].
//
// # One file per bot
//
// A file serves one bot, and one of each store: its progress is that of
// the bot's user, and a RateStore serves one RateLimit (its keys do not
// say which limits they were made for). bbolt locks the file, so that a
// bot started twice on one file fails at Open rather than corrupting
// it.
//
// # Sharing state between replicas
//
// Several replicas of one bot cannot share a file. To share their
// state, implement the interfaces over a shared database (Redis, say:
// the progress in a hash written with a script that keeps the maximum,
// the dedup keys with SET PXAT, the buckets with a script doing
// middleware.RateBucket's arithmetic), and run the statetest suites
// against it: they say what the rest of imbot relies on.
package state
