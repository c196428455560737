package im_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imbot-go/imbot/im"
	"github.com/imbot-go/imbot/imserver"
)

// fileCap is the server's upload cap in these tests, small so that the
// cap and one byte past it stay quick.
const fileCap = 256 << 10

// fileReceiver returns a started client of user whose received messages come
// on the channel.
func fileReceiver(t *testing.T, s *server, user int64) (*im.Client, <-chan *im.Message) {
	t.Helper()
	got := make(chan *im.Message, 16)
	c := s.unstarted(user)
	c.OnMessageReceived(func(e im.MessageEvent) {
		if e.Message.Sender != im.UserID(user) {
			got <- e.Message
		}
	})
	return start(t, c), got
}

func await(t *testing.T, got <-chan *im.Message) *im.Message {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-time.After(waitFor):
		require.FailNow(t, "no message arrived within the deadline")
		return nil
	}
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func download(t *testing.T, c *im.Client, m *im.Message) []byte {
	t.Helper()
	body, err := c.OpenFile(ctx(t), m)
	require.NoError(t, err)
	defer body.Close()
	b, err := io.ReadAll(body)
	require.NoError(t, err)
	return b
}

// A file goes up, the other member gets the message, and the bytes come
// back down the same, at every size up to the cap; one past it is
// refused before anything is sent.
func TestSendFileRoundTrip(t *testing.T) {
	s := newServer(t, func(c *imserver.Config) { c.MaxUploadBytes = 10 << 20 })
	conv := groupWith(t, s, 1, 2)
	bob, got := fileReceiver(t, s, 2)
	alice := s.client(1)
	for _, size := range []int{0, 1 << 10, 10 << 20} {
		data := randomBytes(t, size)
		var last im.UploadProgress
		m, err := alice.SendFile(ctx(t), conv, im.Upload{
			File:       im.FileInfo{Name: "blob.bin"},
			Body:       bytes.NewReader(data),
			OnProgress: func(p im.UploadProgress) { last = p },
		}, im.OutgoingMessage{})
		require.NoError(t, err, "%d bytes", size)
		assert.Equal(t, im.UploadProgress{Sent: int64(size), Total: int64(size), Attempt: 1}, last, "%d bytes: the last progress", size)
		assert.Equal(t, im.MessageTypeFile, m.Type)

		in := await(t, got)
		f, ok := in.File()
		require.True(t, ok, "%d bytes: the pushed message carries a file: %s", size, in.Content)
		assert.Equal(t, int64(size), f.Size)
		assert.Equal(t, "blob.bin", f.Name)
		assert.Len(t, f.Key, 64)
		assert.True(t, strings.HasPrefix(f.URL, s.hs.URL+"/"), "an absolute URL: %s", f.URL)
		assert.True(t, bytes.Equal(data, download(t, bob, in)), "%d bytes: bob downloads what alice uploaded", size)
	}
}

func TestUploadCap(t *testing.T) {
	s := newServer(t, func(c *imserver.Config) { c.MaxUploadBytes = fileCap })
	conv := groupWith(t, s, 1, 2)
	alice := s.client(1)
	f, err := alice.UploadFile(ctx(t), conv, im.Upload{Body: bytes.NewReader(randomBytes(t, fileCap))})
	require.NoError(t, err, "the cap itself")
	assert.EqualValues(t, fileCap, f.Size)

	for name, body := range map[string]io.Reader{
		"in place": bytes.NewReader(randomBytes(t, fileCap+1)),
		"spooled":  io.MultiReader(bytes.NewReader(randomBytes(t, fileCap+1))),
	} {
		sent := false
		_, err := alice.UploadFile(ctx(t), conv, im.Upload{Body: body, OnProgress: func(im.UploadProgress) { sent = true }})
		require.ErrorIs(t, err, im.ErrFileTooLarge, name)
		assert.False(t, sent, "%s: nothing was sent", name)
	}
}

// An image's type, size and suffix come from its bytes; a reader that
// cannot seek is spooled and still uploads.
func TestUploadDescribesImage(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	alice := s.client(1)
	img := image.NewRGBA(image.Rect(0, 0, 33, 21))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	data := buf.Bytes()

	m, err := alice.SendFile(ctx(t), conv, im.Upload{File: im.FileInfo{Name: "chart.png"}, Body: io.MultiReader(bytes.NewReader(data))}, im.OutgoingMessage{})
	require.NoError(t, err)
	assert.Equal(t, im.MessageTypeImage, m.Type)
	f, ok := m.File()
	require.True(t, ok)
	assert.Equal(t, im.FileTypeImage, f.Type)
	assert.Equal(t, "image/png", f.MimeType)
	assert.Equal(t, [2]int{33, 21}, [2]int{f.Width, f.Height})
	assert.Equal(t, "png", f.ImageSuffix)
	assert.EqualValues(t, len(data), f.Size)
	assert.Equal(t, data, download(t, alice, m))
}

// wav is a WAV file of n bytes of 16-bit mono audio at 8 kHz: n/16000
// seconds.
func wav(n int) []byte {
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))     // PCM
	le(uint16(1))     // mono
	le(uint32(8000))  // sample rate
	le(uint32(16000)) // byte rate
	le(uint16(2))     // block align
	le(uint16(16))    // bits per sample
	b.WriteString("data")
	le(uint32(n))
	b.Write(make([]byte, n))
	return b.Bytes()
}

// mp4 is an ISO base media file whose movie header says dur units of
// timescale a second.
func mp4(timescale, dur uint32) []byte {
	box := func(typ string, payload ...[]byte) []byte {
		p := bytes.Join(payload, nil)
		b := binary.BigEndian.AppendUint32(nil, uint32(8+len(p)))
		return append(append(b, typ...), p...)
	}
	mvhd := make([]byte, 100)
	binary.BigEndian.PutUint32(mvhd[12:], timescale)
	binary.BigEndian.PutUint32(mvhd[16:], dur)
	return append(box("ftyp", []byte("isom\x00\x00\x02\x00isommp41")), box("moov", box("mvhd", mvhd))...)
}

func TestUploadDescribesDuration(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	alice := s.client(1)
	for name, tc := range map[string]struct {
		data []byte
		mime string
		typ  im.FileType
		dur  time.Duration
	}{
		"wav": {wav(24000), "audio/wave", im.FileTypeAudio, 1500 * time.Millisecond},
		"mp4": {mp4(600, 1500), "video/mp4", im.FileTypeVideo, 2500 * time.Millisecond},
	} {
		f, err := alice.UploadFile(ctx(t), conv, im.Upload{Body: bytes.NewReader(tc.data)})
		require.NoError(t, err, name)
		assert.Equal(t, tc.mime, f.MimeType, name)
		assert.Equal(t, tc.typ, f.Type, name)
		assert.Equal(t, tc.dur, f.Duration, name)
	}
}

// What the caller says wins over what the bytes would say, and a type
// the content contradicts is refused by the server, typed.
func TestUploadDeclared(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	alice := s.client(1)
	f, err := alice.UploadFile(ctx(t), conv, im.Upload{File: im.FileInfo{Type: im.FileTypeFile, Width: 7, Height: 9, MimeType: "application/octet-stream"},
		Body: bytes.NewReader(wav(100))})
	require.NoError(t, err)
	assert.Equal(t, [2]int{7, 9}, [2]int{f.Width, f.Height})
	assert.Zero(t, f.Duration, "a plain file has no duration")

	_, err = alice.UploadFile(ctx(t), conv, im.Upload{File: im.FileInfo{MimeType: "image/png"}, Body: strings.NewReader("not a picture")})
	require.ErrorIs(t, err, im.ErrFileType)
	var e *im.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusUnsupportedMediaType, e.Args["http_status"])
	assert.Contains(t, err.Error(), "looks like text/plain")

	_, err = alice.UploadFile(ctx(t), conv, im.Upload{File: im.FileInfo{Size: 5}, Body: strings.NewReader("four")})
	require.Error(t, err, "a Size that is not the body's")
	_, err = alice.UploadFile(ctx(t), conv, im.Upload{})
	require.Error(t, err, "no body")
	_, err = alice.SendFile(ctx(t), conv, im.Upload{Body: strings.NewReader("x")}, im.OutgoingMessage{Content: "{}"})
	require.Error(t, err, "a content of the caller's")
}

// flakyProxy forwards to the server, but answers the first n upload
// POSTs 503 with Retry-After (after reading them whole), or cuts them
// off half way.
type flakyProxy struct {
	proxy *httputil.ReverseProxy
	fail  atomic.Int32
	cut   bool
	mu    sync.Mutex
	seen  int // upload POSTs that reached the proxy
}

func (p *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == imserver.MediaUploadPath {
		p.mu.Lock()
		p.seen++
		p.mu.Unlock()
		if p.fail.Add(-1) >= 0 {
			if p.cut {
				_, _ = io.CopyN(io.Discard, r.Body, 100)
				panic(http.ErrAbortHandler) // the connection drops mid-upload
			}
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
	}
	p.proxy.ServeHTTP(w, r)
}

func TestUploadRetries(t *testing.T) {
	for _, cut := range []bool{false, true} {
		name := map[bool]string{false: "503", true: "cut"}[cut]
		t.Run(name, func(t *testing.T) {
			s := newServer(t)
			conv := groupWith(t, s, 1, 2)
			target, _ := url.Parse(s.hs.URL)
			p := &flakyProxy{proxy: httputil.NewSingleHostReverseProxy(target), cut: cut}
			p.proxy.ErrorLog = nil
			p.fail.Store(1)
			front := httptest.NewServer(p)
			t.Cleanup(front.Close)
			bob, got := fileReceiver(t, s, 2)
			alice := start(t, s.unstarted(1, func(o *im.Options) { o.APIURL = front.URL }))
			data := randomBytes(t, 64<<10)
			var attempts []int
			m, err := alice.SendFile(ctx(t), conv, im.Upload{Body: bytes.NewReader(data), OnProgress: func(p im.UploadProgress) {
				if p.Sent == 0 {
					attempts = append(attempts, p.Attempt)
				}
			}}, im.OutgoingMessage{ClientID: "retried-file"})
			require.NoError(t, err)
			assert.Equal(t, []int{1, 2}, attempts, "the progress says each attempt")
			assert.Equal(t, 2, p.seen, "two POSTs")
			in := await(t, got)
			assert.Equal(t, m.ServerID, in.ServerID)
			assert.Equal(t, data, download(t, bob, in))

			// The same send again, as after a crash: the same message.
			again, err := alice.SendFile(ctx(t), conv, im.Upload{Body: bytes.NewReader(data)}, im.OutgoingMessage{ClientID: "retried-file"})
			require.NoError(t, err)
			assert.Equal(t, m.ServerID, again.ServerID, "one message for one client id")
		})
	}
}

// Someone outside the conversation gets no URL for its file.
func TestFileURLNonMember(t *testing.T) {
	s := newServer(t)
	conv := groupWith(t, s, 1, 2)
	alice := s.client(1)
	m, err := alice.SendFile(ctx(t), conv, im.Upload{Body: strings.NewReader("a secret")}, im.OutgoingMessage{})
	require.NoError(t, err)
	carol := s.client(3)
	_, err = carol.FileURL(ctx(t), m)
	require.Error(t, err)
	assert.True(t, errors.Is(err, im.ErrNotMember) || errors.Is(err, im.ErrFileUnavailable), "%v", err)

	_, err = alice.FileURL(ctx(t), &im.Message{Type: im.MessageTypeText, Content: im.TextContent("hi")})
	require.Error(t, err, "a text message has no file")
}

// A file elsewhere (a URL and no key) is its own URL.
func TestFileURLElsewhere(t *testing.T) {
	s := newServer(t)
	alice := s.client(1)
	content, err := im.FileInfo{Type: im.FileTypeImage, URL: "https://cdn.example.com/cat.png"}.Content()
	require.NoError(t, err)
	u, err := alice.FileURL(ctx(t), &im.Message{Type: im.MessageTypeImage, Content: content})
	require.NoError(t, err)
	assert.Equal(t, "https://cdn.example.com/cat.png", u)
}

func TestMessageFile(t *testing.T) {
	in := im.FileInfo{Type: im.FileTypeVideo, URL: "https://x/v.mp4", Key: strings.Repeat("a", 64), Name: "v.mp4", Size: 123,
		MimeType: "video/mp4", Width: 640, Height: 480, ImageThumbWidth: 64, ImageThumbHeight: 48,
		Duration: 2500 * time.Millisecond, Ext: map[string]string{"mine": "1"}}
	content, err := in.Content()
	require.NoError(t, err)
	out, ok := (&im.Message{Type: im.MessageTypeVideo, Content: content}).File()
	require.True(t, ok)
	assert.Equal(t, in, out, "Content and File are each other's inverse")

	for name, m := range map[string]*im.Message{
		"text":      {Type: im.MessageTypeText, Content: content},
		"not JSON":  {Type: im.MessageTypeImage, Content: "{"},
		"no URL":    {Type: im.MessageTypeImage, Content: `{"__files":{"media":{"ext":{}}}}`},
		"no files":  {Type: im.MessageTypeFile, Content: `{"text":"hi"}`},
		"nil":       nil,
		"wrong arm": {Type: im.MessageTypeFile, Content: `{"__files":{"other":{"remoteURL":"u"}}}`},
	} {
		_, ok := m.File()
		assert.False(t, ok, name)
	}
	f, ok := (&im.Message{Type: im.MessageTypeAudio,
		Content: `{"__files":{"media":{"remoteURL":"u","ext":{"s:file_ext_key_file_size":"-5","s:file_ext_key_audio_duration":"1e300"}}}}`}).File()
	require.True(t, ok)
	assert.Equal(t, im.FileInfo{Type: im.FileTypeAudio, URL: "u"}, f, "nonsense numbers read as zero; the type comes from the message")
}
