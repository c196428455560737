package bot

import (
	"log/slog"
	"runtime"
	"testing"

	"github.com/imbot-go/imbot/im"
)

// TestNewDefaults checks the documented defaults of Options (the send
// queue's are checked by TestOutboxDefaults).
func TestNewDefaults(t *testing.T) {
	b, err := New(Options{Client: im.Options{AppID: 1, UserID: 100, Token: im.StaticToken("t"),
		APIURL: "http://127.0.0.1:1", FrontierURL: "ws://127.0.0.1:1/ws/v2"}})
	if err != nil {
		t.Fatal(err)
	}
	o := b.opts
	if o.Workers != 4*runtime.GOMAXPROCS(0) || o.MaxQueued != DefaultMaxQueued || o.DrainTimeout != DefaultDrainTimeout {
		t.Errorf("workers %d, max queued %d, drain %v; want %d, %d, %v",
			o.Workers, o.MaxQueued, o.DrainTimeout, 4*runtime.GOMAXPROCS(0), DefaultMaxQueued, DefaultDrainTimeout)
	}
	if r := o.Retry; r.Attempts != DefaultRetryAttempts || r.Backoff != DefaultRetryBackoff || r.MaxBackoff != DefaultRetryMaxBackoff {
		t.Errorf("retry policy %+v, want the defaults", r)
	}
	if _, ok := o.Progress.(*MemoryProgress); !ok {
		t.Errorf("progress store %T, want *MemoryProgress", o.Progress)
	}
	if o.Logger != slog.Default() || o.OnError == nil {
		t.Errorf("logger %v (want slog.Default()), OnError set: %v", o.Logger, o.OnError != nil)
	}
	// The send queue retries sends, so the client must not retry them too
	// (-1 asks im.New for no retries).
	if got := b.Client().Options().MaxSendMsgRetryTimes; got != 0 {
		t.Errorf("the client retries a send %d times, want 0", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
