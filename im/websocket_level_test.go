package im_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
)

// TestWebSocketLevels checks which requests use HTTP at each level, as the
// seed defines them: with All none (Init opens the socket and pulls over
// it, and a request made while the socket is down waits for the next
// one), with PushOnly every one, and with Default those made while the
// socket is not up.
func TestWebSocketLevels(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	rec := s.recorded(t)
	conv := groupWith(t, s, 1, 2)
	overHTTP := func(tag string) int {
		return len(rec.matching(func(r seenRequest) bool { return r.tag == tag && !r.frontier }))
	}
	level := func(l im.WebSocketLevel) func(*im.Options) {
		return func(o *im.Options) { o.WebSocketLevel = l }
	}

	all := s.client(1, rec.via("all"), level(im.WebSocketLevelAll))
	for i := range 3 {
		if i > 0 {
			// A request made right after the socket died goes out on the
			// next one.
			all.DropConnection()
		}
		_, err := all.GetConversation(ctx(t), conv)
		require.NoError(t, err, "WebSocketLevelAll, request %d", i)
	}
	assert.Zero(t, overHTTP("all"), "HTTP requests WebSocketLevelAll made")

	push := s.client(1, rec.via("push"), level(im.WebSocketLevelPushOnly))
	waitConnected(t, push)
	_, err := push.GetConversation(ctx(t), conv)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, overHTTP("push"), 2, "HTTP requests WebSocketLevelPushOnly made, want Init's and GetConversation's") // Init's pull and GetConversation

	// A Frontier that cannot be reached: All fails Init, which needs the
	// socket; Default pulls over HTTP and works without it.
	unreachable := func(o *im.Options) { o.FrontierURL = "ws://127.0.0.1:1/ws/v2"; o.Timeout = time.Second }
	assert.Error(t, s.unstarted(1, unreachable, level(im.WebSocketLevelAll)).Init(ctx(t)), "WebSocketLevelAll: Init without a reachable socket")
	def := s.client(1, rec.via("default"), unreachable, level(im.WebSocketLevelDefault))
	_, err = def.GetConversation(ctx(t), conv)
	require.NoError(t, err, "WebSocketLevelDefault without a socket")
	assert.GreaterOrEqual(t, overHTTP("default"), 2, "HTTP requests WebSocketLevelDefault made without a socket, want Init's and GetConversation's")
}

// With WebSocketLevelAll a request waits for the socket no longer than
// Options.Timeout, and fails with a timeout rather than going over HTTP.
func TestWebSocketLevelAllWaitsForTheSocket(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	c := s.client(1, func(o *im.Options) { o.WebSocketLevel = im.WebSocketLevelAll; o.Timeout = 300 * time.Millisecond })
	s.srv.Close() // the socket goes, and no new one comes
	_, err := c.GetConversation(ctx(t), conv)
	var e *im.Error
	require.ErrorAs(t, err, &e, "request without a socket: want a timeout or network *Error")
	require.False(t, e.ReachServer, "request without a socket: %v, want a timeout or network *Error", err)
	require.Contains(t, []im.ErrorType{im.ErrorTypeTimeout, im.ErrorTypeNetwork}, e.Type, "request without a socket: %v, want a timeout or network *Error", err)
}
