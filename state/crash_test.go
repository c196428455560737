package state_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/bot"
	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/state"
)

// crashChildEnv, set to a file's path in a child process's environment,
// makes the test binary write to that state file as crashChild says,
// until it is killed: TestCrashKeepsCommits re-executes itself this way.
const crashChildEnv = "STATE_TEST_CRASH_CHILD"

// crashBase is the time of the child's dedup marks and last runs.
var crashBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	crashWorkers = 8      // goroutines of the child, each its own conversation, key and job
	crashLimit   = 100000 // writes per goroutine, should the kill never come
)

// crashChild writes to the state file at path from crashWorkers
// goroutines, each committing its conversation's progress, marking dedup
// keys and setting its job's last run, in turn, and prints a line to
// stdout for each write once it returned: "p <worker> <index>",
// "d <worker> <n>", "r <worker> <n>". It exits when a write fails, or
// after crashLimit rounds.
func crashChild(path string) {
	f, err := state.Open(path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	ack := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...) // unbuffered: a line out is a write done
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Go(func() {
			conv := im.ConversationID(fmt.Sprint("0:1:", w, ":100"))
			for i := 1; i <= crashLimit; i++ {
				var err error
				switch i % 3 {
				case 0:
					if err = f.CommitProgress(ctx, bot.Commit{Conversation: conv, Index: int64(i), Cursor: int64(i)}); err == nil {
						ack("p %d %d", w, i)
					}
				case 1:
					if err = f.Mark(ctx, fmt.Sprint(w, "/", i), crashBase.Add(time.Hour)); err == nil {
						ack("d %d %d", w, i)
					}
				case 2:
					if err = f.SetLastRun(ctx, fmt.Sprint("job", w), crashBase.Add(time.Duration(i)*time.Second)); err == nil {
						ack("r %d %d", w, i)
					}
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
			}
		})
	}
	wg.Wait()
	os.Exit(0)
}

// TestCrashKeepsCommits kills, with SIGKILL, a process writing to a
// state file from several goroutines, and opens the file again: every
// commit, mark and last run that returned before the kill is there.
func TestCrashKeepsCommits(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	// Read the acknowledgements; kill the child once a few hundred came,
	// and read on to the end: a line in the pipe is a write that returned.
	const killAfter = 300
	lastProgress := map[int]int{} // worker → highest index committed
	lastRun := map[int]int{}      // worker → its job's last run set
	var marked []string
	lines := 0
	sc := bufio.NewScanner(out)
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() }) // bounds a stuck child
	defer timer.Stop()
	for sc.Scan() {
		var kind string
		var w, n int
		_, err := fmt.Sscanf(sc.Text(), "%s %d %d", &kind, &w, &n)
		require.NoError(t, err, "child line %q", sc.Text())
		switch kind {
		case "p":
			lastProgress[w] = max(lastProgress[w], n)
		case "r":
			lastRun[w] = n
		case "d":
			marked = append(marked, strconv.Itoa(w)+"/"+strconv.Itoa(n))
		}
		if lines++; lines == killAfter {
			cmd.Process.Kill()
			killed = true
		}
	}
	err = cmd.Wait()
	require.True(t, killed, "the child ended before %d writes (%v); stderr:\n%s", killAfter, err, stderr.String())
	t.Logf("%d writes acknowledged before the SIGKILL", lines)

	f := openAt(t, path, nil)
	ctx := context.Background()
	p, err := f.LoadProgress(ctx)
	require.NoError(t, err)
	maxIndex := 0
	for w, want := range lastProgress {
		conv := im.ConversationID(fmt.Sprint("0:1:", w, ":100"))
		assert.GreaterOrEqual(t, p.Handled[conv], int64(want), "worker %d: %s after the crash, but %d was committed", w, conv, want)
		maxIndex = max(maxIndex, want)
	}
	assert.GreaterOrEqual(t, p.Cursor, int64(maxIndex), "cursor after the crash, but %d was committed", maxIndex)
	for _, key := range marked {
		seen, err := f.Seen(ctx, key, crashBase)
		assert.NoError(t, err, "dedup key %s marked before the crash: Seen", key)
		assert.True(t, seen, "dedup key %s marked before the crash: Seen", key)
	}
	for w, want := range lastRun {
		// The goroutine may have set a later one whose line never came out.
		at, ok, err := f.LastRun(ctx, fmt.Sprint("job", w))
		assert.NoError(t, err, "job%d: LastRun after the crash", w)
		assert.True(t, ok, "job%d: LastRun after the crash: ok", w)
		assert.False(t, at.Before(crashBase.Add(time.Duration(want)*time.Second)), "job%d: LastRun = %v after the crash, want %d s after the base or later", w, at, want)
	}
}
