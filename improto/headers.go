package improto

// HeaderRetryAfterMs is the Response header (Response.headers) in which a
// server that refuses a request with TOO_MANY_REQUESTS says how long to
// wait before trying again: a whole number of milliseconds, in decimal.
// IM Cloud's reference names no such header; imbot's client and server
// share this one (README.md, choice 22).
const HeaderRetryAfterMs = "retry-after-ms"

// HeaderUserID and HeaderAppID are the Response headers in which a server
// names the user and app a request's token logged in as, in decimal: the
// answer to the first sync page (203) carries them, so that a client can
// tell that its token is another user's before it acts as that user
// (README.md, choice 23). The Frontier handshake's HTTP answer carries the
// same under HTTPHeaderUserID and HTTPHeaderAppID.
const (
	HeaderUserID = "user-id"
	HeaderAppID  = "app-id"

	HTTPHeaderUserID = "Imbot-User-Id"
	HTTPHeaderAppID  = "Imbot-App-Id"
)
