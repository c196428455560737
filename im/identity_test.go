package im_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/improto"
)

// TestWrongUserTokenFailsInit gives a client configured as user 100 the
// token of user 1001: Init fails with an *IdentityError naming both, over
// every transport level, and nothing is sent as 1001.
func TestWrongUserTokenFailsInit(t *testing.T) {
	s := newServer(t)
	for _, level := range []im.WebSocketLevel{im.WebSocketLevelDefault, im.WebSocketLevelAll, im.WebSocketLevelDisable} {
		t.Run(level.String(), func(t *testing.T) {
			c := s.unstarted(100, func(o *im.Options) {
				o.WebSocketLevel = level
				o.Token = func(context.Context) (string, error) { return s.srv.Token(1001, time.Hour) }
			})
			err := c.Init(ctx(t))
			require.ErrorIs(t, err, im.ErrWrongUser)
			var ie *im.IdentityError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, im.IdentityError{WantUser: 100, GotUser: 1001, WantApp: testAppID, GotApp: testAppID}, *ie)
			assert.Contains(t, err.Error(), "user 1001")
			assert.Contains(t, err.Error(), "user 100 ")
		})
	}
}

// TestRightUserPassesIdentityCheck: the same client with its own token
// starts, and a server that names no user (as IM Cloud's may not) is not
// refused for it.
func TestRightUserPassesIdentityCheck(t *testing.T) {
	s := newServer(t)
	start(t, s.unstarted(100))

	// A proxy that strips the identity headers stands for a server that
	// does not send them.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		s.srv.ServeHTTP(rec, r)
		var resp improto.Response
		if !assert.NoError(t, proto.Unmarshal(rec.Body.Bytes(), &resp)) { // the handler's goroutine: no FailNow
			return
		}
		delete(resp.Headers, improto.HeaderUserID)
		delete(resp.Headers, improto.HeaderAppID)
		b, err := proto.Marshal(&resp)
		if !assert.NoError(t, err) {
			return
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(b)
	}))
	t.Cleanup(proxy.Close)
	c := s.unstarted(1001, func(o *im.Options) {
		*o = s.optionsFor(proxy.URL, 1001)
		o.WebSocketLevel = im.WebSocketLevelDisable
		o.Token = func(context.Context) (string, error) { return s.srv.Token(1001, time.Hour) }
	})
	require.NoError(t, c.Init(ctx(t)))
}
