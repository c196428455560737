// Package baseline holds the bare baselines that benchmarks measure
// imbot against in the same run: a gorilla/websocket echo server and the
// percentiles of latency samples.
package baseline

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// EchoServer starts a bare WebSocket server with one reader per
// connection writing every message straight back, and returns its ws://
// URL; tb.Cleanup stops it.
func EchoServer(tb testing.TB) string {
	up := websocket.Upgrader{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			typ, data, err := ws.ReadMessage()
			if err != nil || ws.WriteMessage(typ, data) != nil {
				return
			}
		}
	}))
	tb.Cleanup(hs.Close)
	return WSURL(hs.URL)
}

// WSURL turns an http:// URL into its ws:// twin.
func WSURL(httpURL string) string { return strings.Replace(httpURL, "http", "ws", 1) }

// Dial opens a bare WebSocket; tb.Cleanup closes it.
func Dial(tb testing.TB, url string) *websocket.Conn {
	tb.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ws.Close() })
	return ws
}

// Percentile returns the p-th percentile (0 to 100) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}
