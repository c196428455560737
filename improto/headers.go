package improto

// HeaderRetryAfterMs is the Response header (Response.headers) in which a
// server that refuses a request with TOO_MANY_REQUESTS says how long to
// wait before trying again: a whole number of milliseconds, in decimal.
// IM Cloud's reference names no such header; imbot's client and server
// share this one (README.md, choice 22).
const HeaderRetryAfterMs = "retry-after-ms"
