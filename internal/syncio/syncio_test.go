package syncio_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/imbot-go/imbot/internal/syncio"
)

// Lines written from 8 goroutines at once, read meanwhile, arrive whole
// (go test -race checks the locking).
func TestConcurrentWrites(t *testing.T) {
	var buf syncio.Buffer
	var under bytes.Buffer
	w := &syncio.Writer{W: &under}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				buf.Write([]byte("a line\n"))
				w.Write([]byte("a line\n"))
				_ = buf.String()
			}
		})
	}
	wg.Wait()
	for _, got := range []string{buf.String(), under.String()} {
		assert.Equal(t, 800, strings.Count(got, "a line\n"))
		assert.Len(t, got, 800*len("a line\n"))
	}
}
