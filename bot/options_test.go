package bot

import (
	"log/slog"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
)

// TestNewDefaults checks the documented defaults of Options (the send
// queue's are checked by TestOutboxDefaults).
func TestNewDefaults(t *testing.T) {
	b, err := New(Options{Client: im.Options{AppID: 1, UserID: 100, Token: im.StaticToken("t"),
		APIURL: "http://127.0.0.1:1", FrontierURL: "ws://127.0.0.1:1/ws/v2"}})
	require.NoError(t, err)
	o := b.opts
	assert.Equal(t, 4*runtime.GOMAXPROCS(0), o.Workers, "workers")
	assert.Equal(t, DefaultMaxQueued, o.MaxQueued, "max queued")
	assert.Equal(t, DefaultDrainTimeout, o.DrainTimeout, "drain timeout")
	assert.Equal(t, DefaultRetryAttempts, o.Retry.Attempts, "retry policy %+v: attempts", o.Retry)
	assert.Equal(t, DefaultRetryBackoff, o.Retry.Backoff, "retry policy %+v: backoff", o.Retry)
	assert.Equal(t, DefaultRetryMaxBackoff, o.Retry.MaxBackoff, "retry policy %+v: max backoff", o.Retry)
	assert.IsType(t, &MemoryProgress{}, o.Progress, "progress store")
	assert.Same(t, slog.Default(), o.Logger, "logger")
	assert.NotNil(t, o.OnError, "OnError")
	// The send queue retries sends, so the client must not retry them too
	// (-1 asks im.New for no retries).
	assert.Zero(t, b.Client().Options().MaxSendMsgRetryTimes, "times the client retries a send")
	require.NoError(t, b.Close())
}
