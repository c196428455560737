package imserver_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/imserver"
)

// getProbe GETs a probe path and decodes its JSON.
func getProbe(t *testing.T, e *env, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(e.hs.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// TestProbes: /healthz and /readyz answer 200 while the server runs, with
// the open sockets; once Shutdown has begun /readyz answers 503 and
// /healthz still 200. Other methods are refused.
func TestProbes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.socket(1001, "web")
	for _, path := range []string{imserver.HealthPath, imserver.ReadyPath} {
		code, body := getProbe(t, e, path)
		assert.Equal(t, http.StatusOK, code, path)
		assert.Equal(t, "ok", body["status"], path)
		assert.EqualValues(t, 1, body["sockets"], path)
	}
	resp, err := http.Post(e.hs.URL+imserver.HealthPath, "text/plain", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "POST /healthz")

	require.NoError(t, e.srv.Shutdown(t.Context()))
	code, body := getProbe(t, e, imserver.ReadyPath)
	assert.Equal(t, http.StatusServiceUnavailable, code, "readyz after Shutdown")
	assert.Equal(t, "shutting down", body["status"])
	code, _ = getProbe(t, e, imserver.HealthPath)
	assert.Equal(t, http.StatusOK, code, "healthz after Shutdown")
}
