package im

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // image.DecodeConfig reads the sizes of GIF, JPEG and PNG uploads
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
)

// Errors of file uploads and downloads, matched with errors.Is on the
// *Error they come in.
var (
	// ErrFileTooLarge: the file is larger than the server takes (its
	// GET_MEDIA_UPLOAD_CONFIG max_size, or an HTTP 413).
	ErrFileTooLarge = errors.New("im: file too large for the server")
	// ErrFileType: the server refused the file's media type, or its
	// content did not look like the type declared (HTTP 415).
	ErrFileType = errors.New("im: the server refused the file's type")
	// ErrFileUnavailable: the server gives no URL for a message's file
	// (the caller may not read it, or the server no longer has it).
	ErrFileUnavailable = errors.New("im: the file is not available")
)

// Upload is a file to upload: its bytes, what the message will say of
// it, and who wants to hear how far it got (the seed's FileInfo with its
// fileHandler and onUploadProcess).
type Upload struct {
	// File describes the file. Type, MimeType, Size, Width and Height
	// (images), Duration (audio, video) and ImageSuffix are filled in
	// when zero; the upload sets Key and URL.
	File FileInfo
	// Body is the file's content, read from its current offset to its
	// end and never closed. One that is also an io.ReaderAt and an
	// io.Seeker (*os.File, *bytes.Reader, *strings.Reader) is read in
	// place, again on each retry; any other reader is first copied to a
	// temporary file, at most the server's size cap of it.
	Body io.Reader
	// OnProgress, when set, is told how far the upload is (the seed's
	// onUploadProcess): once as each attempt starts, then as its bytes
	// are handed to the connection. It is called from the goroutine that
	// writes the request body, one call at a time.
	OnProgress func(UploadProgress)
}

// UploadProgress is how far an upload is (the seed's UploaderInfor).
type UploadProgress struct {
	// Sent is the bytes of this attempt handed to the connection so far.
	Sent int64
	// Total is the file's size.
	Total int64
	// Attempt counts the attempts: 1, then 2 on the first retry, ….
	Attempt int
}

// uploadConfig is what GET_MEDIA_UPLOAD_CONFIG says, cached per client:
// the server's settings do not change under a running client.
type uploadConfig struct {
	maxSize int64
	allowed []string // empty: any type
}

// uploadConfigCache holds a client's uploadConfig once it was read.
type uploadConfigCache struct {
	mu  sync.Mutex
	cfg *uploadConfig
}

// uploadConfig returns the server's upload settings, asking once.
func (c *Client) uploadConfig(ctx context.Context) (*uploadConfig, error) {
	c.uploads.mu.Lock()
	defer c.uploads.mu.Unlock()
	if c.uploads.cfg != nil {
		return c.uploads.cfg, nil
	}
	b, err := callBody[*improto.GetMediaUploadConfigResponseBody](ctx, c, improto.IMCMD_GET_MEDIA_UPLOAD_CONFIG, &improto.GetMediaUploadConfigRequestBody{})
	if err != nil {
		return nil, err
	}
	c.uploads.cfg = &uploadConfig{maxSize: b.GetMaxSize(), allowed: b.GetAllowedMimeTypes()}
	return c.uploads.cfg, nil
}

// UploadFile uploads up's bytes to the server for a message to
// conversation to (the zero ConversationRef for none in particular; the
// server checks that the caller is a member of one it is given) and
// returns up.File completed: its Key, a signed URL, its Size, and what it
// could tell of the rest. Send it with FileInfo.Content, or use SendFile.
//
// The steps: the server's limits (GET_MEDIA_UPLOAD_CONFIG, asked once per
// client), an upload token bound to the size and type (2003), one HTTP
// POST of the bytes to the route it names, and a URL (2004). The file is
// refused before any byte goes out when it is larger than the server
// takes (ErrFileTooLarge). A POST that fails on the way (network, HTTP
// 429 or 5xx) is started again from the first byte, up to
// Options.MaxSendMsgRetryTimes times, after the server's Retry-After when
// it gives one: the server keeps files by their content, so a retry that
// repeats a stored upload stores nothing twice. An expired token is
// renewed once.
//
// What is filled in when zero: MimeType from the content
// (http.DetectContentType), or from Name's extension when the content
// says only application/octet-stream (never an image type: the server
// checks images by their content); Type from MimeType (image/, video/,
// audio/, else FileTypeFile); an image's Width, Height and ImageSuffix
// from its header (GIF, JPEG, PNG; nothing else is decoded); the
// Duration of WAV audio and of MP4/MOV/M4A audio or video from their
// headers. A Size that disagrees with the bytes is an error.
//
// ctx bounds the whole upload; Options.Timeout bounds each of its
// protobuf requests but not the POST, which may take long for a big file.
// Failures are *Error values: errors.Is matches ErrFileTooLarge and
// ErrFileType, and an HTTP refusal has the status in Args["http_status"].
func (c *Client) UploadFile(ctx context.Context, to ConversationRef, up Upload) (FileInfo, error) {
	if up.Body == nil {
		return up.File, uploadInvalid("Upload.Body is required")
	}
	if c.tracer == nil {
		return c.uploadFile(ctx, to, up)
	}
	ctx, span := c.tracer.Start(ctx, "im.UploadFile", trace.WithSpanKind(trace.SpanKindClient))
	defer span.End()
	f, err := c.uploadFile(ctx, to, up)
	span.SetAttributes(attribute.Int64("imbot.file.size", f.Size), attribute.String("imbot.file.mime_type", f.MimeType))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "upload failed")
	}
	return f, err
}

func (c *Client) uploadFile(ctx context.Context, to ConversationRef, up Upload) (FileInfo, error) {
	f := up.File
	cfg, err := c.uploadConfig(ctx)
	if err != nil {
		return f, err
	}
	src, size, cleanup, err := uploadSource(up.Body, cfg.maxSize)
	if err != nil {
		return f, err
	}
	defer cleanup()
	if size > cfg.maxSize {
		return f, &Error{Type: ErrorTypeInvalidArgument, Msg: fmt.Sprintf("the file is larger than the %d bytes the server takes", cfg.maxSize),
			Inner: ErrFileTooLarge, Args: map[string]any{"max_size": cfg.maxSize}}
	}
	if f.Size != 0 && f.Size != size {
		return f, uploadInvalid(fmt.Sprintf("FileInfo.Size is %d, but Body holds %d bytes", f.Size, size))
	}
	f.Size = size
	if err := describeFile(&f, src, size); err != nil {
		return f, err
	}
	if _, ok := fileKinds[f.Type]; !ok {
		return f, uploadInvalid("unknown FileInfo.Type " + strconv.Quote(string(f.Type)))
	}
	tokenReq := &improto.GetUploadTokenRequestBody{
		FileName: proto.String(f.Name),
		FileSize: proto.Int64(size),
		MimeType: proto.String(f.MimeType),
		FileType: proto.Int32(int32(f.Type.MessageType())),
	}
	if to != (ConversationRef{}) {
		tokenReq.ConversationId = proto.String(string(to.ID))
		tokenReq.ConversationShortId = proto.Int64(int64(to.ShortID))
		tokenReq.ConversationType = proto.Int32(int32(to.Type))
	}
	key, err := c.postUpload(ctx, tokenReq, src, size, up.OnProgress)
	if err != nil {
		return f, err
	}
	urls, err := c.mediaURLs(ctx, &improto.GetMediaUrlsRequestBody{FileKeys: []string{key}})
	if err != nil {
		return f, err
	}
	f.Key, f.URL = key, urls[key]
	if f.URL == "" {
		return f, &Error{Type: ErrorTypeServer, ReachServer: true, Cmd: improto.IMCMD_GET_MEDIA_URLS,
			Msg: "the server gave no URL for the file just uploaded", Inner: ErrMalformedResponse}
	}
	return f, nil
}

// SendFile uploads up (see UploadFile) and sends it as a file message of
// its type to conversation to, with out's Ext, Mentions, ReplyTo,
// ClientID and Priority (out's Type and Content come from the file and
// must be empty). It returns what SendMessage returns, or a nil message
// when the upload failed. A retry of SendFile with the same
// out.ClientID after a failure sends the message at most once: the
// server answers a repeated client id with the message it stored, and
// keeps the file's bytes once whatever the attempts.
func (c *Client) SendFile(ctx context.Context, to ConversationRef, up Upload, out OutgoingMessage) (*Message, error) {
	if out.Type != 0 || out.Content != "" {
		return nil, uploadInvalid("SendFile takes the message's Type and Content from the file; leave them empty in OutgoingMessage")
	}
	f, err := c.UploadFile(ctx, to, up)
	if err != nil {
		return nil, err
	}
	if out.Content, err = f.Content(); err != nil {
		return nil, err
	}
	out.Type = f.Type.MessageType()
	return c.SendMessage(ctx, to, out)
}

// FileURL returns a URL that m's file downloads from: for a file the
// server keeps (FileInfo.Key), a freshly signed one from GET_MEDIA_URLS,
// which the server gives to members of a conversation the file was sent
// to (ErrFileUnavailable otherwise); for a file elsewhere, the message's
// own URL. A message that carries no file is an invalid-argument *Error.
func (c *Client) FileURL(ctx context.Context, m *Message) (string, error) {
	f, ok := m.File()
	if !ok {
		return "", uploadInvalid("the message carries no file")
	}
	if f.Key == "" {
		return f.URL, nil
	}
	conv := m.Conversation()
	urls, err := c.mediaURLs(ctx, &improto.GetMediaUrlsRequestBody{
		ConversationId:      proto.String(string(conv.ID)),
		ConversationShortId: proto.Int64(int64(conv.ShortID)),
		ConversationType:    proto.Int32(int32(conv.Type)),
		ServerMessageId:     proto.Int64(int64(m.ServerID)),
		FileKeys:            []string{f.Key},
	})
	if err != nil {
		return "", err
	}
	u, ok := urls[f.Key]
	if !ok {
		return "", &Error{Type: ErrorTypeServer, ReachServer: true, Cmd: improto.IMCMD_GET_MEDIA_URLS,
			Msg: "the server gives no URL for file " + f.Key, Inner: ErrFileUnavailable}
	}
	return u, nil
}

// OpenFile downloads m's file from a fresh URL (FileURL) and returns its
// body, which the caller reads and closes; ctx bounds the download. A
// download answered with anything but 200 is an *Error with the HTTP
// status in Args["http_status"].
func (c *Client) OpenFile(ctx context.Context, m *Message) (io.ReadCloser, error) {
	u, err := c.FileURL(ctx, m)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, uploadInvalid("the file's URL: " + err.Error())
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, &Error{Type: networkOrTimeout(err), Msg: "downloading the file", Inner: err}
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, httpFileError("downloading the file", resp)
	}
	return resp.Body, nil
}

// mediaURLs asks GET_MEDIA_URLS and returns the absolute URL of each key
// the server answered.
func (c *Client) mediaURLs(ctx context.Context, req *improto.GetMediaUrlsRequestBody) (map[string]string, error) {
	b, err := callBody[*improto.GetMediaUrlsResponseBody](ctx, c, improto.IMCMD_GET_MEDIA_URLS, req)
	if err != nil {
		return nil, err
	}
	urls := make(map[string]string, len(b.GetUrls()))
	for _, u := range b.GetUrls() {
		urls[u.GetFileKey()] = c.apiURL(u.GetUrl())
	}
	return urls, nil
}

// apiURL joins a route the server answered with Options.APIURL, as
// requests join theirs (§3); an absolute URL stays as it is.
func (c *Client) apiURL(route string) string {
	if strings.HasPrefix(route, "http://") || strings.HasPrefix(route, "https://") {
		return route
	}
	return strings.TrimRight(c.opts.APIURL, "/") + "/" + strings.TrimLeft(route, "/")
}

// postUpload gets an upload token and POSTs the file under it, again
// while attempts fail on the way; it returns the file's key.
func (c *Client) postUpload(ctx context.Context, tokenReq *improto.GetUploadTokenRequestBody, src io.ReaderAt, size int64, progress func(UploadProgress)) (string, error) {
	tok, err := callBody[*improto.GetUploadTokenResponseBody](ctx, c, improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, tokenReq)
	if err != nil {
		return "", err
	}
	renewed := false
	for attempt := 1; ; attempt++ {
		key, retryAfter, err := c.postUploadOnce(ctx, c.apiURL(tok.GetUploadUrl()), src, size, attempt, progress)
		if err == nil {
			return key, nil
		}
		if httpStatusOf(err) == http.StatusUnauthorized && !renewed {
			// The token expired between the attempts (they may be long).
			renewed = true
			if tok, err = callBody[*improto.GetUploadTokenResponseBody](ctx, c, improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN, tokenReq); err != nil {
				return "", err
			}
			continue
		}
		if !uploadRetryable(err) || attempt > c.opts.MaxSendMsgRetryTimes || ctx.Err() != nil {
			return "", err
		}
		t := time.NewTimer(max(time.Duration(attempt)*200*time.Millisecond, retryAfter))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", &Error{Type: networkOrTimeout(ctx.Err()), Msg: "uploading the file", Inner: ctx.Err()}
		}
	}
}

// postUploadOnce is one attempt: the whole file in one POST. It returns
// the key, or the error and the wait the server asked for.
func (c *Client) postUploadOnce(ctx context.Context, url string, src io.ReaderAt, size int64, attempt int, progress func(UploadProgress)) (string, time.Duration, error) {
	var body io.Reader = io.NewSectionReader(src, 0, size)
	if progress != nil {
		progress(UploadProgress{Total: size, Attempt: attempt})
		body = &progressReader{r: body, p: UploadProgress{Total: size, Attempt: attempt}, report: progress}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return "", 0, uploadInvalid("the server's upload URL: " + err.Error())
	}
	req.ContentLength = size
	if size == 0 {
		req.Body = http.NoBody
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	for k, v := range c.opts.HTTPHeaders {
		req.Header.Set(k, v)
	}
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return "", 0, &Error{Type: networkOrTimeout(err), Msg: "uploading the file", Inner: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		wait := time.Duration(0)
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			wait = min(time.Duration(s)*time.Second, maxRetryAfter)
		}
		return "", wait, httpFileError("uploading the file", resp)
	}
	var ans struct {
		Key string `json:"file_key"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&ans); err != nil || ans.Key == "" {
		return "", 0, &Error{Type: ErrorTypeServer, ReachServer: true, Msg: "the upload's answer names no file_key", Inner: ErrMalformedResponse}
	}
	return ans.Key, 0, nil
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r      io.Reader
	p      UploadProgress
	report func(UploadProgress)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.p.Sent += int64(n)
		p.report(p.p)
	}
	return n, err
}

// httpFileError describes a file endpoint's refusal; the first line of
// its plain-text answer says why.
func httpFileError(what string, resp *http.Response) *Error {
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	msg := strings.TrimSpace(string(text))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	e := &Error{Type: ErrorTypeServer, ReachServer: true, Msg: fmt.Sprintf("%s: HTTP %d: %s", what, resp.StatusCode, msg),
		Args: map[string]any{"http_status": resp.StatusCode}}
	switch resp.StatusCode {
	case http.StatusRequestEntityTooLarge:
		e.Inner = ErrFileTooLarge
	case http.StatusUnsupportedMediaType:
		e.Inner = ErrFileType
	}
	return e
}

// httpStatusOf returns the HTTP status of a file endpoint's refusal, or 0.
func httpStatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		s, _ := e.Args["http_status"].(int)
		return s
	}
	return 0
}

// uploadRetryable reports whether another attempt of a failed POST may
// succeed: the connection failed, or the server was busy or failing.
func uploadRetryable(err error) bool {
	switch httpStatusOf(err) {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 0:
		var e *Error
		return errors.As(err, &e) && !e.ReachServer && (e.Type == ErrorTypeNetwork || e.Type == ErrorTypeTimeout)
	}
	return false
}

func networkOrTimeout(err error) ErrorType {
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrorTypeTimeout
	}
	return ErrorTypeNetwork
}

func uploadInvalid(msg string) *Error {
	return &Error{Type: ErrorTypeInvalidArgument, Msg: msg}
}

// readerAtSeeker is a Body read in place.
type readerAtSeeker interface {
	io.ReaderAt
	io.Seeker
}

// uploadSource returns body's bytes from its offset as a ReaderAt and
// their count: body itself when it can be read in place, else a
// temporary file with at most limit+1 of its bytes (one more than the
// server takes tells a too-large file). cleanup removes the file.
func uploadSource(body io.Reader, limit int64) (src io.ReaderAt, size int64, cleanup func(), err error) {
	if rs, ok := body.(readerAtSeeker); ok {
		off, err := rs.Seek(0, io.SeekCurrent)
		if err == nil {
			var end int64
			if end, err = rs.Seek(0, io.SeekEnd); err == nil {
				return io.NewSectionReader(rs, off, end-off), end - off, func() {}, nil
			}
		}
		return nil, 0, nil, uploadInvalid("Upload.Body: " + err.Error())
	}
	tmp, err := os.CreateTemp("", "imbot-upload-*")
	if err != nil {
		return nil, 0, nil, &Error{Type: ErrorTypeUnknown, Msg: "a temporary file for the upload", Inner: err}
	}
	cleanup = func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	n, err := io.Copy(tmp, io.LimitReader(body, limit+1))
	if err != nil {
		cleanup()
		return nil, 0, nil, &Error{Type: ErrorTypeUnknown, Msg: "reading Upload.Body", Inner: err}
	}
	return tmp, n, cleanup, nil
}

// describeFile fills in what f leaves zero from the bytes (see
// UploadFile).
func describeFile(f *FileInfo, src io.ReaderAt, size int64) error {
	if f.MimeType == "" {
		head := make([]byte, min(size, 512))
		if _, err := src.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
			return &Error{Type: ErrorTypeUnknown, Msg: "reading Upload.Body", Inner: err}
		}
		f.MimeType = sniffMediaType(head, f.Name)
	}
	if f.Type == "" {
		f.Type = fileTypeFor(f.MimeType)
	}
	switch f.Type {
	case FileTypeImage:
		if f.Width == 0 || f.Height == 0 {
			if cfg, format, err := image.DecodeConfig(io.NewSectionReader(src, 0, size)); err == nil {
				f.Width, f.Height = cfg.Width, cfg.Height
				if f.ImageSuffix == "" {
					f.ImageSuffix = format
				}
			}
		}
	case FileTypeAudio, FileTypeVideo:
		if f.Duration == 0 {
			f.Duration = mediaDuration(src, size)
		}
	}
	return nil
}

// sniffMediaType is the media type of content starting with head, as
// the server will judge it; a name's extension speaks only where the
// content says nothing but "bytes".
func sniffMediaType(head []byte, name string) string {
	t, _, _ := mime.ParseMediaType(http.DetectContentType(head))
	if t == "application/octet-stream" {
		if byExt, _, err := mime.ParseMediaType(mime.TypeByExtension(path.Ext(name))); err == nil && !strings.HasPrefix(byExt, "image/") {
			return byExt
		}
	}
	return t
}

// fileTypeFor is the FileType of a media type.
func fileTypeFor(mediaType string) FileType {
	switch {
	case strings.HasPrefix(mediaType, "image/"):
		return FileTypeImage
	case strings.HasPrefix(mediaType, "video/"):
		return FileTypeVideo
	case strings.HasPrefix(mediaType, "audio/"):
		return FileTypeAudio
	}
	return FileTypeFile
}
