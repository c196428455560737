package imserver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/imbot-go/imbot/improto"
	"github.com/imbot-go/imbot/imserver/blob"
	"github.com/imbot-go/imbot/imserver/store"
)

// Paths of the file endpoints, outside the protobuf API (see the package
// doc's "Files" section). Clients get them, signed, from
// GET_MEDIA_UPLOAD_TOKEN and GET_MEDIA_URLS.
const (
	// MediaUploadPath takes one file in a POST body under an upload token:
	// POST /v1/media/upload?token=….
	MediaUploadPath = "/v1/media/upload"
	// MediaFilePath prefixes a file's signed download URL:
	// GET /v1/media/file/<key>?type=…&exp=…&sig=….
	MediaFilePath = "/v1/media/file/"
)

// Defaults of the Config's file settings.
const (
	DefaultMaxUploadBytes = 20 << 20
	DefaultUploadTokenTTL = 10 * time.Minute
	DefaultMediaURLTTL    = time.Hour
	DefaultMediaTimeout   = 10 * time.Minute
	// DefaultMaxUploadsInFlight is Config.MaxUploadsInFlight's default.
	DefaultMaxUploadsInFlight = 64
)

// maxMediaURLs bounds the keys of one GET_MEDIA_URLS.
const maxMediaURLs = 100

// bucketMedia records who uploaded what: key|":"|uploader → uploadRecord.
const bucketMedia = "media"

type uploadRecord struct {
	Size int64  `json:"size"`
	Type string `json:"type"`
	At   int64  `json:"at"` // ms since the epoch
}

func mediaKey(fileKey string, user int64) []byte {
	return []byte(fileKey + ":" + strconv.FormatInt(user, 10))
}

// uploadTokenPrefix versions the upload token format; it differs from a
// login token's, so that neither is ever taken for the other.
const uploadTokenPrefix = "imbotup1."

// uploadClaims is what an upload token binds.
type uploadClaims struct {
	user int64
	size int64
	typ  string // media type, lowercase, no parameters
	exp  time.Time
}

// mintUploadToken returns "imbotup1." + base64url("app:user:size:expUnix:nonce:type")
// + "." + base64url(HMAC-SHA256(secret, the part before the last dot)).
func mintUploadToken(appID int64, secret string, c uploadClaims) string {
	var nonce [8]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand)
	claims := tokenEncoding.EncodeToString(fmt.Appendf(nil, "%d:%d:%d:%d:%x:%s", appID, c.user, c.size, c.exp.Unix(), nonce, c.typ))
	signed := uploadTokenPrefix + claims
	return signed + "." + tokenEncoding.EncodeToString(tokenMAC(secret, signed))
}

// verifyUploadToken checks an upload token as VerifyToken checks a login
// token; errors wrap ErrTokenInvalid or ErrTokenExpired.
func verifyUploadToken(token string, appID int64, secret string, now time.Time) (uploadClaims, error) {
	var c uploadClaims
	dot := strings.LastIndexByte(token, '.')
	if !strings.HasPrefix(token, uploadTokenPrefix) || dot < len(uploadTokenPrefix) {
		return c, fmt.Errorf("%w: not an upload token", ErrTokenInvalid)
	}
	signed, sig := token[:dot], token[dot+1:]
	mac, err := tokenEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, tokenMAC(secret, signed)) {
		return c, fmt.Errorf("%w: bad signature", ErrTokenInvalid)
	}
	raw, err := tokenEncoding.DecodeString(signed[len(uploadTokenPrefix):])
	if err != nil {
		return c, fmt.Errorf("%w: bad claims", ErrTokenInvalid)
	}
	parts := strings.SplitN(string(raw), ":", 6)
	if len(parts) != 6 {
		return c, fmt.Errorf("%w: bad claims", ErrTokenInvalid)
	}
	var nums [4]int64
	for i, p := range parts[:4] {
		if nums[i], err = strconv.ParseInt(p, 10, 64); err != nil {
			return c, fmt.Errorf("%w: bad claims", ErrTokenInvalid)
		}
	}
	if nums[0] != appID {
		return c, fmt.Errorf("%w: minted for another app", ErrTokenInvalid)
	}
	c = uploadClaims{user: nums[1], size: nums[2], exp: time.Unix(nums[3], 0), typ: parts[5]}
	if !now.Before(c.exp) {
		return c, fmt.Errorf("%w: upload token", ErrTokenExpired)
	}
	return c, nil
}

// mediaSig signs a download URL's key, type and expiry.
func mediaSig(secret, key, typ string, exp int64) string {
	return tokenEncoding.EncodeToString(tokenMAC(secret, "imbotmedia1:"+key+":"+typ+":"+strconv.FormatInt(exp, 10)))
}

// mediaURL is a file's signed download URL, relative to the API's root
// (a route, as improto README choice 25 says).
func (s *Server) mediaURL(key, typ string, exp time.Time) string {
	q := url.Values{
		"type": {typ},
		"exp":  {strconv.FormatInt(exp.Unix(), 10)},
		"sig":  {mediaSig(s.cfg.AppSecret, key, typ, exp.Unix())},
	}
	return strings.TrimPrefix(MediaFilePath, "/") + key + "?" + q.Encode()
}

// mediaType parses a declared content type into its lowercase media type.
func mediaType(declared string) (string, bool) {
	t, _, err := mime.ParseMediaType(declared)
	if err != nil || !strings.Contains(t, "/") || strings.ContainsAny(t, ":") {
		return "", false
	}
	return t, true
}

// sniffedAs lists, for a type http.DetectContentType answers, the
// other declared types its content may well be: a spelling of the same
// type (audio/wav for its audio/wave, image/jpg for image/jpeg), or a
// format built on the container it recognises (an Ogg stream, an MP4 or
// WebM file holding only sound, the ZIP archives that office documents,
// Java and Android packages and e-books are). Clients declare these from
// a file's extension, and refusing them would refuse ordinary files.
var sniffedAs = map[string][]string{
	"audio/wave":      {"audio/wav", "audio/x-wav", "audio/vnd.wave"},
	"application/ogg": {"audio/ogg", "video/ogg", "audio/opus"},
	"video/mp4":       {"audio/mp4", "audio/x-m4a"},
	"video/webm":      {"audio/webm"},
	"audio/mpeg":      {"audio/mp3"},
	"application/zip": {
		"application/x-zip-compressed",
		"application/vnd.openxmlformats-officedocument.wordprocessingml.document",
		"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"application/vnd.openxmlformats-officedocument.presentationml.presentation",
		"application/vnd.oasis.opendocument.text",
		"application/vnd.oasis.opendocument.spreadsheet",
		"application/vnd.oasis.opendocument.presentation",
		"application/java-archive",
		"application/vnd.android.package-archive",
		"application/epub+zip",
	},
	"image/jpeg":   {"image/jpg", "image/pjpeg"},
	"image/x-icon": {"image/vnd.microsoft.icon"},
}

// typeMatches reports whether content that http.DetectContentType
// calls sniffed may be stored as declared: the same media type or one of
// its sniffedAs; anything as application/octet-stream; and, where the
// sniffer knows no signature (its answers application/octet-stream and
// text/plain), any declared type but an image's for binary and a textual
// type for text. Images are all sniffable, so an image must sniff as the
// type it claims (or another spelling of it).
func typeMatches(declared, sniffed string) bool {
	sniffed, _ = mediaType(sniffed)
	switch {
	case declared == sniffed, declared == "application/octet-stream", slices.Contains(sniffedAs[sniffed], declared):
		return true
	case sniffed == "application/octet-stream":
		return !strings.HasPrefix(declared, "image/")
	case sniffed == "text/plain":
		return strings.HasPrefix(declared, "text/") ||
			slices.Contains([]string{"application/json", "application/xml", "application/javascript", "application/x-ndjson"}, declared)
	}
	return false
}

// getUploadToken serves GET_MEDIA_UPLOAD_TOKEN (2003).
func (s *Server) getUploadToken(c *call) (proto.Message, error) {
	b := c.body.(*improto.GetUploadTokenRequestBody)
	size := b.GetFileSize()
	if size < 0 || size > s.cfg.MaxUploadBytes {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST,
			"file_size %d is not within 0 and the server's cap of %d bytes (MaxUploadBytes)", size, s.cfg.MaxUploadBytes)
	}
	typ, ok := mediaType(b.GetMimeType())
	if !ok {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "mime_type %q is not a media type", b.GetMimeType())
	}
	if len(s.cfg.AllowedMediaTypes) > 0 && !slices.Contains(s.cfg.AllowedMediaTypes, typ) {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "mime_type %q is not one the server takes (AllowedMediaTypes)", typ)
	}
	err := s.view(func(tx store.Tx) error {
		if b.GetConversationId() != "" || b.GetConversationShortId() != 0 {
			if _, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId(), requireWritable); err != nil {
				return err
			}
		}
		// The file may be one the user or the server holds already, which
		// would cost nothing; the token cannot know, so it counts it all.
		if err := s.checkQuota(tx, c.user, size, size); err != nil {
			return err.(*quotaError).status()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	exp := c.now.Add(s.cfg.UploadTokenTTL)
	tok := mintUploadToken(s.cfg.AppID, s.cfg.AppSecret, uploadClaims{user: c.user, size: size, typ: typ, exp: exp})
	return &improto.GetUploadTokenResponseBody{
		Token:      proto.String(tok),
		UploadUrl:  proto.String(strings.TrimPrefix(MediaUploadPath, "/") + "?token=" + url.QueryEscape(tok)),
		ExpireTime: proto.Int64(exp.UnixMilli()),
		MaxSize:    proto.Int64(s.cfg.MaxUploadBytes),
	}, nil
}

// getMediaUploadConfig serves GET_MEDIA_UPLOAD_CONFIG (2059).
func (s *Server) getMediaUploadConfig(*call) (proto.Message, error) {
	return &improto.GetMediaUploadConfigResponseBody{
		MaxSize:          proto.Int64(s.cfg.MaxUploadBytes),
		AllowedMimeTypes: slices.Clone(s.cfg.AllowedMediaTypes),
		TokenTtlMs:       proto.Int64(s.cfg.UploadTokenTTL.Milliseconds()),
	}, nil
}

// getMediaURLs serves GET_MEDIA_URLS (2004): a fresh signed URL for each
// key the caller may read (mayRead): one it uploaded, or one a message
// visible to it in a conversation it is a member of grants. The message
// the request may name (server_message_id) must be visible to the
// caller; its grants are looked at first. Keys the caller may not read
// are left out.
func (s *Server) getMediaURLs(c *call) (proto.Message, error) {
	b := c.body.(*improto.GetMediaUrlsRequestBody)
	keys := b.GetFileKeys()
	if len(keys) > maxMediaURLs {
		return nil, errStatus(improto.StatusCode_INVALID_REQUEST, "%d file keys: at most %d a request", len(keys), maxMediaURLs)
	}
	exp := c.now.Add(s.cfg.MediaURLTTL)
	resp := &improto.GetMediaUrlsResponseBody{}
	err := s.view(func(tx store.Tx) error {
		var via *improto.MessageBody
		if b.GetServerMessageId() != 0 {
			conv, _, err := memberConv(tx, c, b.GetConversationId(), b.GetConversationShortId())
			if err != nil {
				return err
			}
			m, err := findMessage(tx, conv, b.GetServerMessageId())
			if err != nil {
				return err
			}
			if m == nil || !visibleTo(m, c.user) || isRecalled(m) {
				return errStatus(improto.StatusCode_INVALID_REQUEST, "message %d not found in conversation %s", b.GetServerMessageId(), conv.ID)
			}
			via = m
		}
		for _, k := range keys {
			if !blob.ValidKey(k) {
				continue
			}
			meta, ok, err := mayRead(tx, c.user, k, via)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			resp.Urls = append(resp.Urls, &improto.MediaUrl{
				FileKey:    proto.String(k),
				Url:        proto.String(s.mediaURL(k, meta.typ, exp)),
				ExpireTime: proto.Int64(exp.Unix() * 1000),
				Size:       proto.Int64(meta.size),
				MimeType:   proto.String(meta.typ),
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// uploadOf returns user's upload record of key.
func uploadOf(tx store.Tx, key string, user int64) (uploadRecord, bool) {
	var rec uploadRecord
	v := tx.Get(bucketMedia, mediaKey(key, user))
	return rec, v != nil && json.Unmarshal(v, &rec) == nil
}

// mediaError answers a file endpoint's failure as plain text.
func mediaError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, fmt.Sprintf(format, args...), code)
}

// serveUpload serves POST MediaUploadPath: one file, exactly the size the
// token names, streamed to the blob store.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, addr string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		mediaError(w, http.StatusMethodNotAllowed, "%s takes POST", MediaUploadPath)
		return
	}
	claims, err := verifyUploadToken(r.URL.Query().Get("token"), s.cfg.AppID, s.cfg.AppSecret, s.cfg.Now())
	if err != nil {
		s.failedAuth(addr)
		mediaError(w, http.StatusUnauthorized, "%v", err)
		return
	}
	if !s.enterUpload(w, addr) {
		return
	}
	defer s.uploads.Add(-1)
	if r.ContentLength > claims.size {
		w.Header().Set("Connection", "close")
		mediaError(w, http.StatusRequestEntityTooLarge, "body of %d bytes; the upload token is for %d", r.ContentLength, claims.size)
		return
	}
	if r.ContentLength >= 0 && r.ContentLength < claims.size {
		mediaError(w, http.StatusBadRequest, "body of %d bytes; the upload token is for %d", r.ContentLength, claims.size)
		return
	}
	body := http.MaxBytesReader(w, r.Body, claims.size)
	head := make([]byte, min(claims.size, 512))
	if _, err := io.ReadFull(body, head); err != nil {
		s.uploadFailed(w, claims, err)
		return
	}
	if sniffed := http.DetectContentType(head); !typeMatches(claims.typ, sniffed) {
		mediaError(w, http.StatusUnsupportedMediaType, "declared %s, but the content looks like %s", claims.typ, sniffed)
		return
	}
	key, err := s.cfg.Blobs.Put(r.Context(), io.MultiReader(bytes.NewReader(head), body), claims.size)
	if err != nil {
		s.uploadFailed(w, claims, err)
		return
	}
	var total int64
	err = s.update(func(tx store.Tx, _ *outbox) error {
		var err error
		total, err = s.recordUpload(tx, key, claims, s.cfg.Now().UnixMilli())
		return err
	})
	var quota *quotaError
	switch {
	case errors.As(err, &quota):
		quotaRefusal(w, quota)
		return
	case errors.Is(err, errCollected):
		w.Header().Set("Retry-After", "1")
		mediaError(w, http.StatusServiceUnavailable, "the same bytes, uploaded long ago and never sent, were collected while this upload was stored: upload again")
		return
	case err != nil:
		s.log.Error("imserver: recording an upload", "user", claims.user, "err", err)
		mediaError(w, http.StatusInternalServerError, "the file was not recorded")
		return
	}
	s.metrics.mediaStored(total)
	s.answerDeadline(w)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"file_key": key, "size": claims.size, "mime_type": claims.typ})
}

// uploadFailed answers an upload whose body could not be stored.
func (s *Server) uploadFailed(w http.ResponseWriter, c uploadClaims, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig), errors.Is(err, blob.ErrTooLarge):
		w.Header().Set("Connection", "close")
		mediaError(w, http.StatusRequestEntityTooLarge, "more than the %d bytes the upload token is for", c.size)
	case errors.Is(err, blob.ErrShort), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		mediaError(w, http.StatusBadRequest, "the body ended before the %d bytes the upload token is for", c.size)
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads the answer.
	default:
		s.log.Warn("imserver: upload failed", "user", c.user, "err", err)
		w.Header().Set("Connection", "close")
		mediaError(w, http.StatusBadRequest, "the upload failed: %v", err)
	}
}

// serveFile serves GET MediaFilePath<key>: a signed, unexpired URL's file,
// with ranges, ETag and caching headers (http.ServeContent).
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, addr string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		mediaError(w, http.StatusMethodNotAllowed, "%s takes GET", MediaFilePath)
		return
	}
	key := strings.TrimPrefix(r.URL.Path, MediaFilePath)
	q := r.URL.Query()
	typ := q.Get("type")
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	want := mediaSig(s.cfg.AppSecret, key, typ, exp)
	if err != nil || !blob.ValidKey(key) || !hmac.Equal([]byte(q.Get("sig")), []byte(want)) {
		s.failedAuth(addr)
		mediaError(w, http.StatusForbidden, "not a signed file URL")
		return
	}
	left := time.Unix(exp, 0).Sub(s.cfg.Now())
	if left <= 0 {
		mediaError(w, http.StatusForbidden, "the file URL expired; ask GET_MEDIA_URLS for a fresh one")
		return
	}
	f, _, err := s.cfg.Blobs.Open(key)
	if errors.Is(err, blob.ErrNotFound) {
		mediaError(w, http.StatusNotFound, "no such file")
		return
	}
	if err != nil {
		s.log.Error("imserver: opening a file", "err", err)
		mediaError(w, http.StatusInternalServerError, "the file cannot be read")
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("ETag", `"`+key+`"`)
	h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(int64(left/time.Second), 10)+", immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, f)
}

// enterUpload counts an upload under MaxUploadsInFlight, or answers 503
// and reports false; the caller takes it off s.uploads when done.
func (s *Server) enterUpload(w http.ResponseWriter, addr string) bool {
	n := s.uploads.Add(1)
	if s.cfg.MaxUploadsInFlight < 0 || n <= int64(s.cfg.MaxUploadsInFlight) {
		return true
	}
	s.uploads.Add(-1)
	why := "server busy: " + strconv.Itoa(s.cfg.MaxUploadsInFlight) + " uploads in flight (MaxUploadsInFlight)"
	s.metrics.refusal(refusedMaxUploadsInFlight)
	s.refusals.log(s.log, addr, why)
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Connection", "close")
	mediaError(w, http.StatusServiceUnavailable, "%s", why)
	return false
}
