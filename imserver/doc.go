// Package imserver is an IM Cloud-compatible server in one process: the
// default backend of imbot's quick start, examples, tests and benchmarks.
//
// [New] returns a [Server], an http.Handler serving
//
//   - the HTTP API: POST /{route} with a protobuf Request, answered with a
//     protobuf Response (Content-Type application/x-protobuf). Routes are
//     the reference's; both spellings are served where Android and web
//     differ (e.g. v1/message/get_by_id and
//     v1/message/get_message_by_server_id).
//   - the Frontier WebSocket at [FrontierPath]: binary frames carry Frames
//     whose payload is a Request or Response; a Response echoes its
//     request's seqid; a Response with sequence_id 0 is a push; the text
//     "hi" is the heartbeat and is answered in kind.
//   - the probes at [HealthPath] and [ReadyPath]: GET answers 200 and a
//     JSON status while the server runs; /readyz 503 once Shutdown has
//     begun, so that an orchestrator stops sending it clients.
//   - the Prometheus metrics at Config.MetricsPath (default /metrics,
//     unless Config.DisableMetrics): requests by command and status and
//     their durations, sockets open and closed by reason, pushes and
//     fan-out time, store transaction time, and refusals by limit, all
//     named imbot_server_*; by default with the Go runtime and process
//     collectors besides. Config.Metrics sends them to a registry of
//     yours instead.
//   - the dev console at [ConsolePath] (unless Config.DisableConsole): a
//     chat client in the browser that speaks the two above like any SDK
//     (package imserver/console). With Config.DevLogin, for development
//     servers only, its login form can mint a token for any user.
//
// Serve it with any http.Server or httptest.NewServer, and call
// [Server.Shutdown] or [Server.Close] to end its sockets (http.Server does
// not track hijacked connections). On an address others can reach, serve
// it as cmd/imserver does, so that the limits below all hold:
//
//	hs := srv.HTTPServer() // header and keep-alive deadlines from the Config
//	go hs.Serve(srv.LimitListener(ln))
//
// # Slow and hostile clients
//
// Every phase of a connection has a deadline (Config.ReadHeaderTimeout,
// RequestBodyTimeout, ResponseWriteTimeout, KeepAliveTimeout,
// HandshakeTimeout; on a socket IdleTimeout and WriteTimeout). ServeHTTP
// sets the body, response and handshake deadlines itself through
// http.ResponseController, so they hold under any http.Server; the header
// and keep-alive deadlines are the http.Server's, which [Server.HTTPServer]
// sets and anyone serving the Server on their own http.Server must set
// (ReadHeaderTimeout and IdleTimeout). A body that has not arrived in
// RequestBodyTimeout is answered 408 and its connection closed. gorilla
// clears the HTTP deadlines when a socket is upgraded, so a socket lives
// as long as its heartbeats.
//
// One client's share is bounded: open connections per address and in all
// (Config.MaxConnsPerAddr, MaxConns, by [Server.LimitListener]), sockets
// per address and in all (MaxSocketsPerAddr, MaxSockets), HTTP API
// requests in flight (MaxRequestsInFlight), and requests per address that
// fail before a valid token is seen (UnauthRate, UnauthBurst). A refusal
// is an HTTP 429 (the client's own share) or 503 (the server's), with
// Retry-After, a protobuf Response with TOO_MANY_REQUESTS or SERVER_ERR
// and the [improto.HeaderRetryAfterMs] header, which the im client waits
// out before it retries; and a log line at Warn with the address (a few a
// second at most, with a count of those not logged). An address is the IP
// of the request's RemoteAddr: behind a reverse proxy every client has the
// proxy's, so raise the per-address limits there or let the proxy enforce
// them.
//
// # Authentication
//
// Requests carry a token (Request.token over HTTP, the token query parameter
// on the socket) minted by [Server.Token] or [MintToken]: app id, user id,
// expiry and a nonce signed with HMAC-SHA256 under the app secret, so that
// no two minted tokens are equal. An expired token
// is answered EXPIRED_TOKEN (100) so a client can fetch a new one; a
// missing, forged or foreign one INVALID_TOKEN (1). Tokens never appear in
// log lines or error descriptions. The socket also checks aid, fpid,
// device_id and access_key ([AccessKey]).
//
// # Commands
//
// Messages: 100 send · 200 inbox after a cursor · 203 first sync (paged) ·
// 301 one conversation, OLDER / NEWER / FROM_LATEST · 211 by server id ·
// 701 delete for self · 702 recall · 705 message properties · 2021 ext.
//
// Conversations: 609 create (single chats "{inbox}:1:{min}:{max}", found
// again on repeat; groups and live chats get a new short id, or the one an
// earlier request with the same idempotent_id got) · 608 / 610 info · 2006
// list · 603 delete for self · 604 / 2002 mark read · 614 dissolve · 652
// leave · 650 / 651 add / remove · 605 / 654 participants · 655 update a
// participant · 901 / 920 (empty bodies in the reference: use 608) ·
// 902 / 904 core info · 921 / 922 setting info · 2000 read indexes · 2019
// mute members · 2020 mute the conversation.
//
// Live chats (MASS_CHAT, 100): 10001 join · 10002 leave · 10003 members
// (imbot's numbers; see improto/README.md) · 2007 send · 2008 page · 2009
// online counts.
//
// Friends: 2046 apply · 2047 / 2048 sent / received applies · 2049 reply ·
// 2050 friends · 2051 delete.
//
// Pushes: 500 new or changed message (every online socket of every member
// who can see it, the sending socket included) · 501 read index
// moved · 502 conversation changed (membership, core, setting, block,
// dissolve: fetch with 608) · 505 live-chat message · 508 friend event.
//
// Files: 2003 upload token · 2004 download URLs · 2059 upload config (see
// Files below).
//
// Every other command of the reference is answered INVALID_CMD.
//
// # Delivery
//
// Each conversation numbers its messages 1, 2, 3 … and orders them by a
// strictly increasing order_in_conversation (microseconds). Each user has
// one inbox stream per inbox type: every message they may see, and every
// later change to one, is one entry under the next cursor, so 200 after
// cursor C returns everything after C in order. Pushes carry
// previous_cursor and next_cursor: a client that sees previous_cursor
// differ from the last cursor it holds pulls the gap. An entry resolves to
// the message as it is now (version grows by one per change), so clients
// keep the highest version per server message id. A paged 203 hands out
// per_user_cursor: continue with 200 from the first page's. Live chats have
// no inbox: page them with 2008.
//
// All state changes run one at a time, each in one store transaction, and
// their pushes leave after commit in commit order. A socket that cannot
// keep up (Config.SendQueue frames waiting) is closed rather than allowed
// to stall anyone else; its client catches up from its cursor.
//
// # Rules
//
// Only members read or write a conversation (USER_NOT_IN_GROUP); a
// conversation in another inbox type does not exist (CONVERSATION_NOT_FOUND).
// Owners and managers add members, change core info, mute members (2019)
// and the conversation (2020); managers act on ordinary members and
// visitors only; the owner alone dissolves, sets roles, and transfers
// ownership (655 with role owner). A muted member, or anyone but the owner
// (and the managers, with block_normal_only) in a muted conversation, is
// answered USER_BANNED_TO_POST. The sender may recall within
// Config.RecallWindow; owners and managers at any time. The s: ext keys the
// server acts on: s:client_message_id, s:mentioned_users (written from the
// body's mentioned_users), s:visible / s:invisible (who receives a
// message), s:do_not_increase_unread (unread counts), s:is_recalled (set by
// recall), s:message_priority (live chats: from the Request header of that
// name, since 2007's body has no ext), s:push_status and
// s:push_part_disable_config (validated in setting ext).
//
// # Rate limits
//
// Config.RequestRate bounds the requests on one socket; Config.SendRate,
// off by default, the messages one user sends (100 and 2007, HTTP and
// sockets together). Either answers an excess request TOO_MANY_REQUESTS
// with the header [improto.HeaderRetryAfterMs]: the whole milliseconds
// until it would pass. The im client waits that long before it retries.
//
// # Files
//
// A client uploads a file in two steps. GET_MEDIA_UPLOAD_TOKEN (2003)
// declares its exact size and media type (and, optionally, the
// conversation it is for, of which the caller must be a member) and
// answers a token valid for Config.UploadTokenTTL (10 minutes) and the
// route to send the file to. The file then goes, as the raw body of one
// HTTP request, to
//
//	POST /v1/media/upload?token=<token>            (MediaUploadPath)
//
// which answers 200 with JSON {"file_key", "size", "mime_type"}. The token
// is HMAC-signed with the app secret, like a login token, and binds the
// app, the user, the size and the media type; it may be used again until
// it expires (the same bytes get the same key). The server streams the
// body to its [blob.Store] (Config.Blobs) with http.MaxBytesReader, holding
// no more than a copy buffer of it in memory with blob.NewDir, and stores
// it only when exactly the declared size arrived: a body larger than the
// token's size is refused 413 (no token is issued above
// Config.MaxUploadBytes, 20 MiB), a shorter one or a client that hangs up
// is refused 400 or dropped, and nothing of it stays, not even a temporary
// file. The first 512 bytes are sniffed (http.DetectContentType) and must
// agree with the declared type (415 otherwise): an image must sniff as the
// image type it claims (image/jpg passes for image/jpeg); text may be
// declared as any textual type; content the sniffer does not recognise may
// be declared as anything but an image; anything may be declared
// application/octet-stream. Well-known spellings and formats on a
// container the sniffer names pass for it: audio/wav and audio/x-wav for
// audio/wave; audio/ogg and video/ogg for application/ogg; audio/mp4 for
// video/mp4, audio/webm for video/webm, audio/mp3 for audio/mpeg; and
// for application/zip the ZIP-based office documents (.docx, .xlsx,
// .pptx, application/vnd.openxmlformats-…; .odt, .ods, .odp), .jar, .apk
// and .epub.
// Config.AllowedMediaTypes, when set, restricts the declared types.
//
// GET_MEDIA_URLS (2004) answers, for each key the caller may read, a URL
// valid for Config.MediaURLTTL (1 hour):
//
//	GET /v1/media/file/<key>?type=…&exp=…&sig=…   (MediaFilePath)
//
// signed over the key, the media type and the expiry. It serves the file
// with http.ServeContent: that Content-Type, Content-Length, range requests
// (206, 416), ETag "<key>" (If-None-Match, If-Range) and Cache-Control
// "private, max-age=<seconds the URL has left>, immutable". A URL that is
// forged or altered answers 403, an expired one 403 saying so.
//
// Who may read a file: its uploader, and the members of a conversation
// in which a message granting it was sent, when that message is visible
// to them (s:visible, s:invisible) and not recalled. A message grants the
// files its content names the way the im client writes them,
//
//	{"__files": {"<slot>": {"remoteURL": …, "ext": {"s:file_ext_key_file_key": "<key>", …}}}}
//
// (at most 100 keys a message; a content without "__files" is not
// parsed), each one its sender may read at the time of sending: so a
// member who received a file may forward it to another conversation,
// while naming a key one cannot read grants nothing (the message is
// stored all the same: its content is opaque to the server, and a
// malformed one grants nothing either). Recalling a message takes its
// grants back. GET_MEDIA_URLS answers each key the caller may read; the
// message it may name (server_message_id, in a conversation the caller
// is a member of, visible to it) is looked at first, and without one
// the server looks at the key's first 1000 grants. Other keys are left
// out of the answer.
//
// Garbage: an upload record older than Config.UnsentFileTTL (24h;
// negative: never) whose key no message grants is deleted, and the file
// once no upload record and no grant holds its key. A janitor started by
// the server's first request and stopped by Close sweeps every
// Config.MediaSweepInterval (10 minutes), 256 records a transaction. A
// file is deleted under the lock every change takes, after checking again
// that nothing holds it, and an upload checks under the same lock that
// its file is still stored: an upload of the same bytes that races with
// their deletion is answered 503 with Retry-After (upload again), never
// recorded without its file. Each sweep that deletes something logs one
// line at Info; imbot_server_media_files_collected_total counts the
// files and imbot_server_media_stored_bytes is the bytes kept.
//
// Quotas: a user's upload records may add up to
// Config.MaxStoredBytesPerUser (1 GiB; negative: no limit) and the
// server's distinct files to Config.MaxStoredBytes (zero or negative, the
// default: no limit). The same file uploaded again by the same user costs
// nothing, by another user only towards their own quota. GET_MEDIA_UPLOAD_TOKEN refuses a token the
// declared size would take past a quota with status TOUCH_LIMIT (18, the
// reference's "limit reached"), naming the quota and the numbers; it
// cannot know yet that the bytes are ones already stored, so it counts
// them all. The upload checks again when it records the file (tokens
// issued together) and answers 507 Insufficient Storage, storing nothing.
// The counts are kept in the store, in the transactions that change them.
//
// Uploads and downloads get Config.MediaTimeout (10 minutes) to arrive and
// to be written, in place of RequestBodyTimeout and ResponseWriteTimeout,
// and a forged token or URL spends from the address's UnauthRate as a
// forged login does. At most Config.MaxUploadsInFlight (64) uploads are
// received at once; one more is answered 503 with Retry-After and counted
// under the refused_total reason "MaxUploadsInFlight". Uploads do not count
// towards MaxRequestsInFlight, nor downloads towards either.
//
// cmd/imserver keeps the files in a blob.NewDir beside its -data file.
// Not done yet (issue #15): a file stored by a process killed between
// storing and recording it is never collected.
//
// # Storage
//
// State lives in a [store.Store]: store.NewMemory for tests, bolt.Open for a
// server that must survive restarts. An acknowledged write is committed
// before its response leaves. The records every send reads (conversation,
// members, mute, inbox cursors, counters) are also kept decoded in memory,
// updated by the writes of the server's own transactions and dropped when
// one rolls back, so the server must be its store's only writer.
//
// Uploaded files live apart, in a [blob.Store] keyed by their SHA-256:
// blob.NewMemory by default, blob.NewDir for a server that must keep them
// (written to a temporary file, synced and renamed into place, so a kill
// leaves either the whole file or none). Who uploaded which key is
// recorded in the Store (bucket "media").
package imserver
