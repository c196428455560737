package imserver_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/blob"
	"github.com/imbot-go/imbot/imserver/store/bolt"
)

// TestMediaForward has a member who received a file send it on to a
// conversation its uploader is not in: its members may read it there.
func TestMediaForward(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.upload(1, pngBytes(t), "image/png")
	first := createGroup(t, e.user(1), 2)
	sendFile(t, e.user(1), first, key)
	only := &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}}
	assert.Empty(t, mediaURLs(t, e.user(3), only), "not a member anywhere it was sent")

	second := createGroup(t, e.user(2), 3)
	sendFile(t, e.user(2), second, key)
	urls := mediaURLs(t, e.user(3), only)
	require.Len(t, urls, 1, "a member of the conversation it was forwarded to")
	assert.Equal(t, "image/png", urls[0].GetMimeType())

	// Someone who may not read a key sends it: stored, but grants nothing.
	third := createGroup(t, e.user(4), 5)
	sendFile(t, e.user(4), third, key)
	assert.Empty(t, mediaURLs(t, e.user(5), only), "sent by someone who could not read it")
}

// TestMediaCollected sweeps files: an unsent one older than UnsentFileTTL
// goes with its blob, a sent one and a young one stay.
func TestMediaCollected(t *testing.T) {
	t.Parallel()
	clk := newClock()
	blobs := blob.NewMemory()
	e := newEnv(t, withBlobs(blobs), withClock(clk), func(c *imserver.Config) { c.MediaSweepInterval = time.Hour })
	unsent := e.upload(1, []byte("never sent"), "text/plain")
	sent := e.upload(1, []byte("sent"), "text/plain")
	sendFile(t, e.user(1), createGroup(t, e.user(1), 2), sent)
	clk.Advance(imserver.DefaultUnsentFileTTL + time.Minute)
	young := e.upload(1, []byte("young"), "text/plain")

	records, files, err := imserver.SweepMedia(e.srv)
	require.NoError(t, err)
	assert.Equal(t, 1, records)
	assert.Equal(t, 1, files)
	assert.Equal(t, 2, blobs.Len())
	user := e.user(1)
	got := mediaURLs(t, user, &improto.GetMediaUrlsRequestBody{FileKeys: []string{unsent, sent, young}})
	require.Len(t, got, 2)
	assert.Equal(t, sent, got[0].GetFileKey())
	assert.Equal(t, young, got[1].GetFileKey())
}

// TestMediaQuota refuses a token and an upload past MaxStoredBytesPerUser,
// and lets a re-upload of a file the user has cost nothing.
func TestMediaQuota(t *testing.T) {
	t.Parallel()
	blobs := blob.NewMemory()
	e := newEnv(t, withBlobs(blobs), func(c *imserver.Config) { c.MaxStoredBytesPerUser = 100 })
	data := bytes.Repeat([]byte("a"), 60)
	e.upload(1, data, "text/plain")
	resp := wantStatus(t, e.user(1), improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, &improto.GetUploadTokenRequestBody{
		FileSize: proto.Int64(60), MimeType: proto.String("text/plain")}, improto.StatusCode_TOUCH_LIMIT)
	assert.Contains(t, resp.GetErrorDesc(), "MaxStoredBytesPerUser")

	// Two tokens issued while there was room: the second upload is refused.
	tok1, tok2 := e.uploadToken(2, 60, "text/plain"), e.uploadToken(2, 60, "text/plain")
	r, b := e.post(tok1.GetUploadUrl(), bytes.NewReader(bytes.Repeat([]byte("b"), 60)), 60)
	require.Equal(t, http.StatusOK, r.StatusCode, "%s", b)
	r, b = e.post(tok2.GetUploadUrl(), bytes.NewReader(bytes.Repeat([]byte("c"), 60)), 60)
	assert.Equal(t, http.StatusInsufficientStorage, r.StatusCode, "%s", b)
	assert.Contains(t, string(b), "MaxStoredBytesPerUser")
	assert.Equal(t, 2, blobs.Len(), "the refused upload stored nothing")
	// The same bytes again cost nothing.
	r, b = e.post(tok2.GetUploadUrl(), bytes.NewReader(bytes.Repeat([]byte("b"), 60)), 60)
	assert.Equal(t, http.StatusOK, r.StatusCode, "%s", b)
}

// TestMediaRecallRevokes recalls the only message that granted a file:
// the member who could read it through that message no longer gets its
// URL, while its uploader still does.
func TestMediaRecallRevokes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.upload(1, pngBytes(t), "image/png")
	group := createGroup(t, e.user(1), 2)
	sent := sendFile(t, e.user(1), group, key)
	only := &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}}
	require.Len(t, mediaURLs(t, e.user(2), only), 1, "a member, before the recall")

	call[*improto.RecallMessageResponseBody](t, e.user(1), improto.IMCMD_RECALL_MESSAGE, recallBody(group, sent.GetServerMessageId()))
	assert.Empty(t, mediaURLs(t, e.user(2), only), "a member, after the recall")
	assert.Len(t, mediaURLs(t, e.user(1), only), 1, "the uploader")
}

// sweepOnPut is a blob.Store that, once armed, runs a sweep right after a
// Put has stored its bytes and before the upload records them: the
// window in which an upload of bytes that a sweep is collecting races
// with their deletion.
type sweepOnPut struct {
	blob.Store
	srv   *imserver.Server
	armed atomic.Bool
	swept chan error
}

func (s *sweepOnPut) Put(ctx context.Context, r io.Reader, size int64) (string, error) {
	key, err := s.Store.Put(ctx, r, size)
	if err == nil && s.armed.CompareAndSwap(true, false) {
		_, _, serr := imserver.SweepMedia(s.srv)
		s.swept <- serr
	}
	return key, err
}

// TestMediaUploadRacesSweep uploads again, past UnsentFileTTL, bytes
// never sent, with a sweep collecting them between Put and the record:
// the upload is refused with 503 (upload again) rather than recorded
// without its blob, and the next upload stores them anew.
func TestMediaUploadRacesSweep(t *testing.T) {
	t.Parallel()
	clk := newClock()
	blobs := &sweepOnPut{Store: blob.NewMemory(), swept: make(chan error, 1)}
	e := newEnv(t, withBlobs(blobs), withClock(clk), func(c *imserver.Config) { c.MediaSweepInterval = time.Hour })
	blobs.srv = e.srv
	data := []byte("uploaded long ago, never sent")
	key := e.upload(1, data, "text/plain")
	clk.Advance(imserver.DefaultUnsentFileTTL + time.Minute)

	blobs.armed.Store(true)
	tok := e.uploadToken(1, int64(len(data)), "text/plain")
	resp, b := e.post(tok.GetUploadUrl(), bytes.NewReader(data), int64(len(data)))
	require.NoError(t, <-blobs.swept)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", b)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	_, _, err := blobs.Open(key)
	require.ErrorIs(t, err, blob.ErrNotFound, "the sweep deleted the blob")
	assert.Empty(t, mediaURLs(t, e.user(1), &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}}),
		"no record left without its blob")

	assert.Equal(t, key, e.upload(1, data, "text/plain"))
	u := mediaURLs(t, e.user(1), &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}})
	require.Len(t, u, 1)
	resp, got := e.get(u[0].GetUrl())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, data, got)
}

// TestMediaGCDefaults checks the documented defaults of the garbage and
// quota settings: files unsent for 24h are collected (not sooner), a
// sweep every 10 minutes, 1 GiB a user, no total.
func TestMediaGCDefaults(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 24*time.Hour, imserver.DefaultUnsentFileTTL)
	assert.Equal(t, 10*time.Minute, imserver.DefaultMediaSweepInterval)
	assert.EqualValues(t, 1<<30, imserver.DefaultMaxStoredBytesPerUser)

	clk := newClock()
	e := newEnv(t, withClock(clk), func(c *imserver.Config) { c.MaxUploadBytes = 4 << 30 })
	e.upload(1, []byte("unsent"), "text/plain")
	clk.Advance(24*time.Hour - time.Minute)
	records, _, err := imserver.SweepMedia(e.srv)
	require.NoError(t, err)
	assert.Zero(t, records, "younger than 24h")
	clk.Advance(2 * time.Minute)
	records, _, err = imserver.SweepMedia(e.srv)
	require.NoError(t, err)
	assert.Equal(t, 1, records, "older than 24h")

	e.uploadToken(2, 1<<30, "application/octet-stream")
	resp := wantStatus(t, e.user(2), improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, &improto.GetUploadTokenRequestBody{
		FileSize: proto.Int64(1<<30 + 1), MimeType: proto.String("application/octet-stream")}, improto.StatusCode_TOUCH_LIMIT)
	assert.Contains(t, resp.GetErrorDesc(), "MaxStoredBytesPerUser")

	// No total: a server with no per-user quota takes any token.
	free := newEnv(t, func(c *imserver.Config) { c.MaxUploadBytes, c.MaxStoredBytesPerUser = 1<<62, -1 })
	free.uploadToken(1, 1<<61, "application/octet-stream")
}

// TestMediaQuotaSurvivesRestart keeps the quota counters in a bolt store
// across a restart: the new server refuses what would pass the quota
// with what the first one stored, and reports media_stored_bytes.
func TestMediaQuotaSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := func() (*bolt.Store, blob.Store) {
		st, err := bolt.Open(filepath.Join(dir, "state.db"), nil)
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() }) // idempotent
		blobs, err := blob.NewDir(filepath.Join(dir, "media"))
		require.NoError(t, err)
		return st, blobs
	}
	quota := func(c *imserver.Config) { c.MaxStoredBytesPerUser = 100 }
	st, blobs := open()
	first := newEnv(t, quota, withBlobs(blobs), func(c *imserver.Config) { c.Store = st })
	first.upload(1, bytes.Repeat([]byte("a"), 60), "text/plain")
	first.upload(2, bytes.Repeat([]byte("b"), 30), "text/plain")
	require.NoError(t, first.srv.Close())
	first.hs.Close()
	require.NoError(t, st.Close())

	st, blobs = open()
	var reg *prometheus.Registry
	again := newEnv(t, quota, withBlobs(blobs), withMetrics(&reg), func(c *imserver.Config) { c.Store = st })
	resp := wantStatus(t, again.user(1), improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, &improto.GetUploadTokenRequestBody{
		FileSize: proto.Int64(41), MimeType: proto.String("text/plain")}, improto.StatusCode_TOUCH_LIMIT)
	assert.Contains(t, resp.GetErrorDesc(), "make user 1's files 101 bytes", "the 60 of before the restart count")
	again.uploadToken(1, 40, "text/plain")

	// The first request started the janitor, whose first sweep reports
	// the total kept.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, _, body := getMetrics(t, again.hs.URL+"/metrics")
		assert.Contains(c, body, "\nimbot_server_media_stored_bytes 90\n")
	}, 5*time.Second, 10*time.Millisecond)
}
