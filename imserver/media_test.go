package imserver_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver"
	"github.com/imbot-go/imbot/imserver/blob"
	"github.com/imbot-go/imbot/internal/obs/obstest"
)

// withBlobs makes the server keep files in b.
func withBlobs(b blob.Store) func(*imserver.Config) {
	return func(cfg *imserver.Config) { cfg.Blobs = b }
}

// uploadToken asks for an upload token as user.
func (e *env) uploadToken(user int64, size int64, typ string) *improto.GetUploadTokenResponseBody {
	e.t.Helper()
	return call[*improto.GetUploadTokenResponseBody](e.t, e.user(user), improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN,
		&improto.GetUploadTokenRequestBody{FileName: proto.String("f"), FileSize: proto.Int64(size), MimeType: proto.String(typ)})
}

// post sends body to a route the server answered (relative to its root).
func (e *env) post(route string, body io.Reader, size int64) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.hs.URL+"/"+route, body)
	require.NoError(e.t, err)
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp, b
}

// upload uploads data as user, declared as typ, and returns its key.
func (e *env) upload(user int64, data []byte, typ string) string {
	e.t.Helper()
	tok := e.uploadToken(user, int64(len(data)), typ)
	resp, b := e.post(tok.GetUploadUrl(), bytes.NewReader(data), int64(len(data)))
	require.Equal(e.t, http.StatusOK, resp.StatusCode, "upload: %s", b)
	var out struct {
		FileKey  string `json:"file_key"`
		Size     int64  `json:"size"`
		MimeType string `json:"mime_type"`
	}
	require.NoError(e.t, json.Unmarshal(b, &out))
	assert.EqualValues(e.t, len(data), out.Size)
	return out.FileKey
}

// mediaURLs asks for the URLs of keys as user, optionally through msg.
func mediaURLs(t testing.TB, c caller, body *improto.GetMediaUrlsRequestBody) []*improto.MediaUrl {
	t.Helper()
	return call[*improto.GetMediaUrlsResponseBody](t, c, improto.IMCMD_GET_MEDIA_URLS, body).GetUrls()
}

// get downloads a route, with extra headers.
func (e *env) get(route string, header ...string) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.hs.URL+"/"+route, nil)
	require.NoError(e.t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp, b
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func pngBytes(t testing.TB) []byte {
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 8, 8))))
	return buf.Bytes()
}

func TestMediaUploadDownload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		data []byte
		typ  string
	}{
		{"0 B", nil, "application/octet-stream"},
		{"1 KB text", bytes.Repeat([]byte("hello, "), 1024/7), "text/plain"},
		{"1 KB binary", randomBytes(t, 1024), "application/pdf"},
		{"png", pngBytes(t), "image/png"},
		{"10 MB", randomBytes(t, 10<<20), "video/mp4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			key := e.upload(1, tc.data, tc.typ)
			urls := mediaURLs(t, e.user(1), &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}})
			require.Len(t, urls, 1)
			u := urls[0]
			assert.Equal(t, key, u.GetFileKey())
			assert.EqualValues(t, len(tc.data), u.GetSize())
			assert.Equal(t, tc.typ, u.GetMimeType())
			resp, got := e.get(u.GetUrl())
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", got)
			assert.True(t, bytes.Equal(tc.data, got), "same bytes back")
			assert.Equal(t, tc.typ, resp.Header.Get("Content-Type"))
			assert.Equal(t, fmt.Sprint(len(tc.data)), resp.Header.Get("Content-Length"))
			assert.Equal(t, `"`+key+`"`, resp.Header.Get("ETag"))
			assert.Contains(t, resp.Header.Get("Cache-Control"), "private, max-age=")
			assert.Equal(t, "bytes", resp.Header.Get("Accept-Ranges"))
		})
	}
}

func TestMediaRanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := randomBytes(t, 4096)
	key := e.upload(1, data, "application/octet-stream")
	u := mediaURLs(t, e.user(1), &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}})[0].GetUrl()

	resp, got := e.get(u, "Range", "bytes=100-199")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, data[100:200], got)
	assert.Equal(t, "bytes 100-199/4096", resp.Header.Get("Content-Range"))

	resp, got = e.get(u, "Range", "bytes=4000-")
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, data[4000:], got)

	resp, _ = e.get(u, "Range", "bytes=5000-6000")
	assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, resp.StatusCode)

	resp, got = e.get(u, "If-None-Match", `"`+key+`"`)
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
	assert.Empty(t, got)
}

func TestMediaUploadCap(t *testing.T) {
	t.Parallel()
	const capBytes = 64 << 10
	blobs := blob.NewMemory()
	e := newEnv(t, withBlobs(blobs), func(c *imserver.Config) { c.MaxUploadBytes = capBytes })

	cfg := call[*improto.GetMediaUploadConfigResponseBody](t, e.user(1), improto.IMCMD_GET_MEDIA_UPLOAD_CONFIG, &improto.GetMediaUploadConfigRequestBody{})
	assert.EqualValues(t, capBytes, cfg.GetMaxSize())
	assert.EqualValues(t, imserver.DefaultUploadTokenTTL.Milliseconds(), cfg.GetTokenTtlMs())

	wantStatus(t, e.user(1), improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, &improto.GetUploadTokenRequestBody{
		FileSize: proto.Int64(capBytes + 1), MimeType: proto.String("application/octet-stream")}, improto.StatusCode_INVALID_REQUEST)
	wantStatus(t, e.user(1), improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, &improto.GetUploadTokenRequestBody{
		FileSize: proto.Int64(-1), MimeType: proto.String("application/octet-stream")}, improto.StatusCode_INVALID_REQUEST)

	key := e.upload(1, randomBytes(t, capBytes), "application/octet-stream")
	assert.NotEmpty(t, key)
	require.Equal(t, 1, blobs.Len())

	// cap+1 bytes under a token for cap: announced, and sent chunked.
	tok := e.uploadToken(1, capBytes, "application/octet-stream")
	resp, b := e.post(tok.GetUploadUrl(), bytes.NewReader(randomBytes(t, capBytes+1)), capBytes+1)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", b)
	resp, b = e.post(tok.GetUploadUrl(), io.MultiReader(bytes.NewReader(randomBytes(t, capBytes+1))), -1)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", b)
	// Fewer bytes than the token is for.
	resp, b = e.post(tok.GetUploadUrl(), io.MultiReader(bytes.NewReader(randomBytes(t, capBytes-1))), -1)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", b)
	assert.Equal(t, 1, blobs.Len(), "nothing stored by the refused uploads")
}

func TestMediaUploadTokenRefused(t *testing.T) {
	t.Parallel()
	clk := newClock()
	blobs := blob.NewMemory()
	e := newEnv(t, withBlobs(blobs), withClock(clk))
	data := []byte("some text")
	tok := e.uploadToken(1, int64(len(data)), "text/plain")
	forged := []byte(tok.GetToken())
	forged[len(forged)-2] ^= 1
	for _, tc := range []struct{ name, token string }{
		{"none", ""},
		{"forged", string(forged)},
		{"a login token", e.token(1)},
		{"another app's", strings.Replace(tok.GetToken(), "imbotup1.", "imbotup1.x", 1)},
	} {
		resp, b := e.post("v1/media/upload?token="+url.QueryEscape(tc.token), bytes.NewReader(data), int64(len(data)))
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s: %s", tc.name, b)
	}
	clk.Advance(imserver.DefaultUploadTokenTTL)
	resp, b := e.post(tok.GetUploadUrl(), bytes.NewReader(data), int64(len(data)))
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "expired: %s", b)
	assert.Contains(t, string(b), "expired")
	assert.Zero(t, blobs.Len())
}

func TestMediaDeclaredType(t *testing.T) {
	t.Parallel()
	blobs := blob.NewMemory()
	e := newEnv(t, withBlobs(blobs))
	img := pngBytes(t)
	for _, tc := range []struct {
		name string
		data []byte
		typ  string
		want int
	}{
		{"text as png", []byte("not an image at all"), "image/png", http.StatusUnsupportedMediaType},
		{"png as jpeg", img, "image/jpeg", http.StatusUnsupportedMediaType},
		{"html as text", []byte("<html><script>x</script></html>"), "text/plain", http.StatusUnsupportedMediaType},
		{"binary as png", randomBytes(t, 600), "image/png", http.StatusUnsupportedMediaType},
		{"png as png", img, "image/png", http.StatusOK},
		{"png as octet-stream", img, "application/octet-stream", http.StatusOK},
		{"json", []byte(`{"a":1}`), "application/json; charset=utf-8", http.StatusOK},
		{"wav as audio/wav, sniffed audio/wave", []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"), "audio/wav", http.StatusOK},
	} {
		tok := e.uploadToken(1, int64(len(tc.data)), tc.typ)
		resp, b := e.post(tok.GetUploadUrl(), bytes.NewReader(tc.data), int64(len(tc.data)))
		assert.Equal(t, tc.want, resp.StatusCode, "%s: %s", tc.name, b)
	}
	assert.Equal(t, 3, blobs.Len(), "only the accepted uploads are stored")
	wantStatus(t, e.user(1), improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, &improto.GetUploadTokenRequestBody{
		FileSize: proto.Int64(1), MimeType: proto.String("not a type")}, improto.StatusCode_INVALID_REQUEST)

	only := newEnv(t, func(c *imserver.Config) { c.AllowedMediaTypes = []string{"image/png"} })
	wantStatus(t, only.user(1), improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, &improto.GetUploadTokenRequestBody{
		FileSize: proto.Int64(1), MimeType: proto.String("text/plain")}, improto.StatusCode_INVALID_REQUEST)
	only.uploadToken(1, 1, "image/png")
}

// TestMediaTruncatedUpload has a client hang up half way through its
// body: nothing is stored, no temporary file is left.
func TestMediaTruncatedUpload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	blobs, err := blob.NewDir(dir)
	require.NoError(t, err)
	e := newEnv(t, withBlobs(blobs))
	const size = 1 << 20
	tok := e.uploadToken(1, size, "application/octet-stream")
	halfBody := func() *net.TCPConn {
		conn, err := net.Dial("tcp", e.hs.Listener.Addr().String())
		require.NoError(t, err)
		_, err = fmt.Fprintf(conn, "POST /%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", tok.GetUploadUrl(), size)
		require.NoError(t, err)
		_, err = conn.Write(randomBytes(t, size/2))
		require.NoError(t, err)
		return conn.(*net.TCPConn)
	}
	// Half-closed: the server sees the body end early and answers.
	conn := halfBody()
	require.NoError(t, conn.CloseWrite())
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(waitFor)))
	answer, err := io.ReadAll(conn)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(answer), "HTTP/1.1 400 "), "%s", answer)
	require.NoError(t, conn.Close())
	left, err := os.ReadDir(filepath.Join(dir, "tmp"))
	require.NoError(t, err)
	assert.Empty(t, left, "no temporary file once answered")

	// Gone: the connection closes under the server.
	require.NoError(t, halfBody().Close())
	require.Eventually(t, func() bool {
		left, err := os.ReadDir(filepath.Join(dir, "tmp"))
		return err == nil && len(left) == 0
	}, waitFor, 10*time.Millisecond, "the temporary file is removed")
	keys, err := blobs.Keys()
	require.NoError(t, err)
	assert.Empty(t, keys)

	// The same token still takes the whole file afterwards.
	data := randomBytes(t, size)
	resp, b := e.post(tok.GetUploadUrl(), bytes.NewReader(data), size)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	keys, err = blobs.Keys()
	require.NoError(t, err)
	assert.Len(t, keys, 1)
}

func TestMediaURLRefused(t *testing.T) {
	t.Parallel()
	clk := newClock()
	e := newEnv(t, withClock(clk))
	key := e.upload(1, []byte("secret words"), "text/plain")
	other := e.upload(1, []byte("other words"), "text/plain")
	u := mediaURLs(t, e.user(1), &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}})[0].GetUrl()
	parsed, err := url.Parse(u)
	require.NoError(t, err)
	q := parsed.Query()
	tamper := func(k, v string) string {
		q2 := url.Values{}
		for kk, vv := range q {
			q2[kk] = vv
		}
		q2.Set(k, v)
		return parsed.Path + "?" + q2.Encode()
	}
	for _, tc := range []struct{ name, url string }{
		{"no signature", parsed.Path},
		{"forged signature", tamper("sig", "AAAA")},
		{"another type", tamper("type", "text/html")},
		{"later expiry", tamper("exp", fmt.Sprint(clk.Now().Add(48*time.Hour).Unix()))},
		{"another file", strings.Replace(u, key, other, 1)},
		{"bad key", strings.Replace(u, key, "..%2F..%2Fetc", 1)},
	} {
		resp, b := e.get(tc.url)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s: %s", tc.name, b)
	}
	resp, _ := e.get(u)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	clk.Advance(imserver.DefaultMediaURLTTL)
	resp, b := e.get(u)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "expired: %s", b)
	assert.Contains(t, string(b), "expired")

	// A fresh URL works again.
	fresh := mediaURLs(t, e.user(1), &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}})[0].GetUrl()
	resp, _ = e.get(fresh)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// fileContent is a message content carrying key in its "media" slot, as
// the im client writes it.
func fileContent(key string) string {
	return `{"__files":{"media":{"remoteURL":"u","ext":{"s:file_ext_key_type":"file_ext_value_type_image","s:file_ext_key_file_key":"` + key + `"}}}}`
}

// sendFile sends a message carrying key to conv.
func sendFile(t testing.TB, c caller, conv *improto.ConversationInfoV2, key string) *improto.SendMessageResponseBody {
	t.Helper()
	body := textBody(conv, "")
	body.Content = proto.String(fileContent(key))
	return call[*improto.SendMessageResponseBody](t, c, improto.IMCMD_SEND_MESSAGE, body)
}

// TestMediaURLsAccess checks who gets a file's URL: its uploader, and the
// members of a conversation in which a message granting it was sent by
// someone who could read it.
func TestMediaURLsAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := e.upload(1, pngBytes(t), "image/png")
	only := &improto.GetMediaUrlsRequestBody{FileKeys: []string{key, "not-a-key"}}
	assert.Len(t, mediaURLs(t, e.user(1), only), 1, "the uploader")
	assert.Empty(t, mediaURLs(t, e.user(2), only), "someone else, with no message")

	group := createGroup(t, e.user(1), 2, 4)
	sent := sendFile(t, e.user(1), group, key)
	id, short, typ := convRef(group)
	viaMessage := &improto.GetMediaUrlsRequestBody{
		ConversationId: id, ConversationShortId: short, ConversationType: typ,
		ServerMessageId: proto.Int64(sent.GetServerMessageId()), FileKeys: []string{key},
	}
	urls := mediaURLs(t, e.user(2), viaMessage)
	require.Len(t, urls, 1, "a member, through the message")
	assert.Equal(t, "image/png", urls[0].GetMimeType())
	resp, _ := e.get(urls[0].GetUrl())
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	wantStatus(t, e.user(3), improto.IMCMD_GET_MEDIA_URLS, viaMessage, improto.StatusCode_USER_NOT_IN_GROUP)

	plain := sendText(t, e.user(1), group, "no file here")
	viaOther := proto.Clone(viaMessage).(*improto.GetMediaUrlsRequestBody)
	viaOther.ServerMessageId = proto.Int64(plain.GetServerMessageId())
	assert.Len(t, mediaURLs(t, e.user(2), viaOther), 1, "through another message: the grant is the earlier one's")

	textOnly := createGroup(t, e.user(1), 5)
	sendText(t, e.user(1), textOnly, key)
	assert.Empty(t, mediaURLs(t, e.user(5), only), "a key in plain text grants nothing")
	other := e.upload(1, []byte("only mine"), "text/plain")
	byOther := sendFile(t, e.user(4), group, other)
	viaOther.ServerMessageId = proto.Int64(byOther.GetServerMessageId())
	viaOther.FileKeys = []string{other}
	assert.Empty(t, mediaURLs(t, e.user(2), viaOther), "a message whose sender could not read the file")
	assert.Empty(t, mediaURLs(t, e.user(4), viaOther), "not even for that sender")

	wantStatus(t, e.user(1), improto.IMCMD_GET_MEDIA_URLS, &improto.GetMediaUrlsRequestBody{
		FileKeys: make([]string, 101)}, improto.StatusCode_INVALID_REQUEST)
	// A token for a conversation the user is not in.
	wantStatus(t, e.user(3), improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, &improto.GetUploadTokenRequestBody{
		ConversationId: id, ConversationShortId: short, ConversationType: typ,
		FileSize: proto.Int64(1), MimeType: proto.String("text/plain")}, improto.StatusCode_USER_NOT_IN_GROUP)
}

// TestMediaSurvivesRestart serves a file uploaded to one server from a
// new server on the same directory.
func TestMediaSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := blob.NewDir(dir)
	require.NoError(t, err)
	e := newEnv(t, withBlobs(first))
	data := randomBytes(t, 100<<10)
	key := e.upload(1, data, "application/octet-stream")
	u := mediaURLs(t, e.user(1), &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}})[0].GetUrl()

	second, err := blob.NewDir(dir)
	require.NoError(t, err)
	again := newEnv(t, withBlobs(second))
	resp, got := again.get(u) // same app secret: the URL is good on both
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, data, got)
}

// patternReader gives n bytes of a fixed pattern without holding them.
type patternReader struct{ n, off int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n-p.off)
	for i := range b[:k] {
		b[i] = byte((p.off + int64(i)) * 7919 >> 3)
	}
	p.off += k
	return int(k), nil
}

// TestMediaMemoryBounded uploads and downloads 64 MB through a directory
// store and checks that what the process allocated meanwhile is bounded
// by buffers, not by the file's size. It does not run in parallel, so
// that the allocations it measures are its own and the server's.
func TestMediaMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 128 MB")
	}
	const size = 64 << 20
	blobs, err := blob.NewDir(t.TempDir())
	require.NoError(t, err)
	e := newEnv(t, withBlobs(blobs), func(c *imserver.Config) { c.MaxUploadBytes = size })
	tok := e.uploadToken(1, size, "application/octet-stream")

	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	var key string
	up := allocated(func() {
		resp, b := e.post(tok.GetUploadUrl(), &patternReader{n: size}, size)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
		var out struct {
			FileKey string `json:"file_key"`
		}
		require.NoError(t, json.Unmarshal(b, &out))
		key = out.FileKey
	})
	u := mediaURLs(t, e.user(1), &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}})[0].GetUrl()
	var n int64
	down := allocated(func() {
		resp, err := http.Get(e.hs.URL + "/" + u)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		n, err = io.Copy(io.Discard, resp.Body)
		require.NoError(t, err)
	})
	assert.EqualValues(t, size, n)
	t.Logf("allocated while moving %d MB: upload %d KB, download %d KB", size>>20, up>>10, down>>10)
	const bound = 8 << 20
	assert.Less(t, up, uint64(bound), "upload allocations grow with the file")
	assert.Less(t, down, uint64(bound), "download allocations grow with the file")
}

func TestMediaUploadsInFlight(t *testing.T) {
	t.Parallel()
	var reg *prometheus.Registry
	e := newEnv(t, withMetrics(&reg), func(c *imserver.Config) { c.MaxUploadsInFlight = 1 })
	const size = 1 << 20
	big := e.uploadToken(1, size, "application/octet-stream")
	pr, pw := io.Pipe()
	firstDone := make(chan int, 1)
	go func() { // ends when the pipe is closed below
		req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/"+big.GetUploadUrl(), pr)
		req.ContentLength = size
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			firstDone <- 0
			return
		}
		resp.Body.Close()
		firstDone <- resp.StatusCode
	}()
	_, err := pw.Write(make([]byte, 1000))
	require.NoError(t, err)

	small := []byte("hi")
	tok := e.uploadToken(1, int64(len(small)), "text/plain")
	require.Eventually(t, func() bool {
		resp, _ := e.post(tok.GetUploadUrl(), bytes.NewReader(small), int64(len(small)))
		return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "1"
	}, waitFor, 10*time.Millisecond, "a second upload is refused while one is in flight")
	assert.GreaterOrEqual(t, obstest.Value(t, reg, "imbot_server_refused_total", "reason", "MaxUploadsInFlight"), 1.0)

	_, err = pw.Write(make([]byte, size-1000))
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	select {
	case code := <-firstDone:
		assert.Equal(t, http.StatusOK, code)
	case <-time.After(waitFor):
		t.Fatal("the first upload did not finish")
	}
	// The first upload leaves the count just after its answer is out.
	require.Eventually(t, func() bool {
		resp, _ := e.post(tok.GetUploadUrl(), bytes.NewReader(small), int64(len(small)))
		return resp.StatusCode == http.StatusOK
	}, waitFor, 10*time.Millisecond, "uploads are taken again once the first is done")
}

// TestMediaDefaults checks the documented defaults: a 20 MiB cap, upload
// tokens for 10 minutes, URLs for an hour, any media type.
func TestMediaDefaults(t *testing.T) {
	t.Parallel()
	clk := newClock()
	e := newEnv(t, withClock(clk))
	cfg := call[*improto.GetMediaUploadConfigResponseBody](t, e.user(1), improto.IMCMD_GET_MEDIA_UPLOAD_CONFIG, &improto.GetMediaUploadConfigRequestBody{})
	assert.EqualValues(t, 20<<20, cfg.GetMaxSize())
	assert.EqualValues(t, (10 * time.Minute).Milliseconds(), cfg.GetTokenTtlMs())
	assert.Empty(t, cfg.GetAllowedMimeTypes())

	tok := e.uploadToken(1, 3, "text/plain")
	assert.Equal(t, clk.Now().Add(10*time.Minute).UnixMilli(), tok.GetExpireTime())
	assert.EqualValues(t, 20<<20, tok.GetMaxSize())
	assert.True(t, strings.HasPrefix(tok.GetUploadUrl(), "v1/media/upload?token="), tok.GetUploadUrl())
	key := e.upload(1, []byte("abc"), "text/plain")
	u := mediaURLs(t, e.user(1), &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}})[0]
	assert.Equal(t, clk.Now().Add(time.Hour).UnixMilli(), u.GetExpireTime())
	assert.True(t, strings.HasPrefix(u.GetUrl(), "v1/media/file/"+key+"?"), u.GetUrl())
	resp, _ := e.get(u.GetUrl())
	assert.Equal(t, "private, max-age=3600, immutable", resp.Header.Get("Cache-Control"))
}
