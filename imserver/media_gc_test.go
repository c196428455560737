package imserver_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/blob"
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
