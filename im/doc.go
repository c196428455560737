// Package im is a Go client for IM Cloud (the protocol of ByteDance /
// Volcengine's IM SDKs), modelled on the Web SDK: every class, enum and
// field of the SDK reference has a Go counterpart here (SEED.md maps each
// name). It speaks improto over HTTP and the Frontier WebSocket, to the
// real service or to imbot's embedded server (package imserver).
//
// # Lifecycle
//
// [New] validates [Options] (the SDK's IMOption, with its defaults and
// bounds) and does no I/O. [Client.Init] logs in, pulls the conversation
// list and sync position, opens the socket and starts the background work;
// [Client.Close] stops all of it and waits for every goroutine, so it must
// not be called from an event callback; OnConnectionState subscribers get
// ConnectionStateClosed once, last. Close during Init ends it with
// ErrClosed. Subscribe to events before Init: events with no subscriber
// are not kept.
//
//	c, err := im.New(im.Options{AppID: 1, UserID: 1001, Token: im.StaticToken(tok),
//		APIURL: "https://imapi.example.com", FrontierURL: "wss://frontier.example.com/ws/v2"})
//	c.OnMessageReceived(func(e im.MessageEvent) { … })
//	err = c.Init(ctx)
//	defer c.Close()
//
// The client stops by itself, and [Client.Stopped] is closed with the
// cause in [Client.Err], on failures that retrying cannot cure, so that
// its owner can end instead of running deaf:
//
//   - a token of another user or app: a server that names the token's user
//     (imserver does; improto README, choice 23) and names someone other
//     than Options.UserID or AppID fails Init, or a later reconnect, with
//     an [*IdentityError] (errors.Is ErrWrongUser);
//   - no token the server takes for Options.TokenTimeout (default a
//     minute): the provider failing, returning the expired token again,
//     or the server refusing what it returns (ErrNoValidToken, wrapping
//     the last cause). A StaticToken that expires ends this way;
//   - a FrontierURL that answers the WebSocket handshake with an HTTP
//     client error other than 401, 408 and 429, or with INVALID_REQUEST
//     (a wrong path, a plain web server, parameters it refuses):
//     ErrFrontierRefused, with the URL less its query (which holds the
//     token). Network failures, 5xx, 408 and 429 are retried with
//     Options.ReconnectWait.
//
// # Delivery
//
// The sync engine delivers every message once, in order within its
// conversation, across disconnects: pushes are hints, and the user's inbox
// stream on the server is the source of truth. A push that continues the
// stream is applied at once; any other (a gap), a reconnect, and every
// Options.PullInterval make the client pull the stream from its position.
// Changes to known messages (recall, properties, ext) arrive as
// OnMessageUpdated (and OnMessageRecalled, OnPropertyChanged), once per
// version, whether or not the client had cached the changed message
// already (Init, LoadMessages). The cached
// conversations follow what the engine applies: LastMessage (and so
// UpdatedAt), ReadIndex and UnreadCount. Message.Source says how a message
// arrived: MessageSourceInit, UserInbox (a pull), Online (a push),
// LoadMore (LoadMessages, GetMessage, a gap fetch), Offline (this
// client's own send, until the server stored it).
//
// Each MessageEvent carries a Cursor. A caller that must not lose messages
// across restarts saves, per conversation, the last index it handled and
// the cursor of its oldest unhandled message; it restarts with
// Options.Resume and that Cursor, and skips what it already handled.
//
// A message first seen during Init, or changed before this client pulled
// it, may be reported as an update rather than as received; the server's
// stream alone cannot tell the two apart in that window.
//
// # Requests and errors
//
// Operations are methods on [Client] (SendMessage, LoadMessages,
// CreateConversation, GetCoreInfo, MarkRead, AddParticipants,
// SendFriendApply …), each naming its IMCMD in its documentation.
// SendMessage returns the message at its final FlightStatus;
// [Client.OnFlightStatus] reports each step of a send as it happens
// (Created, Inflight, then Succeeded, SelfVisible, Failed or Rejected), for
// a user interface that shows messages being sent. They go over the socket or HTTP
// as Options.WebSocketLevel says, are bounded by Options.Timeout, and
// refresh an expired token once through Options.Token. Failures are
// [*Error] values (the SDK's BaseError) that match the sentinels with
// errors.Is: ErrNotMember, ErrNotFound, ErrExpiredToken, ErrInvalidToken,
// ErrSameToken, ErrTokenProvider, ErrRateLimited, ErrMuted, ErrForbidden,
// ErrClosed, and ErrMalformedResponse for an answer that lacks what the
// operation returns.
//
// # Files
//
// [Client.SendFile] uploads a file from an io.Reader and sends the file
// message in one call; [Client.UploadFile] does the upload alone and
// returns the [FileInfo] to send. The upload asks the server for a token
// bound to the file's size and type (GET_MEDIA_UPLOAD_TOKEN), POSTs the
// bytes to the route it names, and gets a signed URL (GET_MEDIA_URLS);
// [Upload.OnProgress] follows the bytes, a POST that fails on the way is
// started again, and the file's MIME type, kind, image size and the
// length of WAV and MP4 media are read from the bytes when not given. On
// the receiving side [Message.File] reads the FileInfo back from the
// content, [Client.FileURL] gets a fresh URL (the one in the content
// expires) and [Client.OpenFile] downloads it. Failures match
// ErrFileTooLarge, ErrFileType and ErrFileUnavailable.
//
// # Concurrency
//
// A Client is safe for concurrent use. Event callbacks run one at a time,
// in the order of the events, never on the socket's read loop: those of
// messages, conversations and friends on the sync engine's goroutine,
// right after it applied what they report (no hand-off to another
// goroutine on the way); connection state and Init progress on the
// client's dispatcher goroutine. A slow callback delays later events and
// the sync, it never drops them: pushes wait in their queue, and past it
// the engine pulls what they carried.
//
// # Observability
//
// With Options.Metrics the client counts, in Prometheus metrics named
// imbot_client_…, its requests by command and outcome and their
// durations by transport, the server's TOO_MANY_REQUESTS answers, the
// socket's state, losses and reconnects, how far its sync position is
// behind the server's, the messages it fetched rather than was pushed,
// and its token failures. With Options.TracerProvider each request is an
// OpenTelemetry span, "im.request <COMMAND>", a child of the span in its
// ctx. Both are off by default and then cost nothing; a bot turns them on
// with its own. docs/OPERATIONS.md lists the metrics and what to alert on.
//
// # Performance
//
// The hot responses are decoded straight from the wire into the client's
// types (pages of a pull, message pushes, response bodies), and a long
// catch-up is a pipeline: the next page is requested as soon as the
// current one says where it starts, decoded on one goroutine while the
// previous page is delivered on another. docs/PERFORMANCE.md has the
// numbers.
package im
