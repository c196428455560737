package im

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"
)

// MessageType is a message's type, the seed's Message.type. Apps define
// their own types; the constants name the built-in ones a bot meets
// (IM_PROTOCOL.md §8.1). The seed gives two ranges a meaning: 50001 is a
// command message and every type from 50000 up is "special".
type MessageType int32

// Built-in message types.
const (
	// MessageTypeText is a text message; Content is the text.
	MessageTypeText MessageType = 10001
	// MessageTypeSticker is a sticker.
	MessageTypeSticker MessageType = 10002
	// MessageTypeImage is an image; Content is a file JSON ([FileInfo]).
	MessageTypeImage MessageType = 10003
	// MessageTypeVideo is a video; Content is a file JSON ([FileInfo]).
	MessageTypeVideo MessageType = 10004
	// MessageTypeFile is a file; Content is a file JSON ([FileInfo]).
	MessageTypeFile MessageType = 10005
	// MessageTypeAudio is a voice or audio clip; Content is a file JSON
	// ([FileInfo]).
	MessageTypeAudio MessageType = 10006
	// MessageTypeLocation is a location.
	MessageTypeLocation MessageType = 10007
	// MessageTypeSystem is a system message.
	MessageTypeSystem MessageType = 10008
	// MessageTypeLink is a link.
	MessageTypeLink MessageType = 10009
	// MessageTypeCustom is IM Cloud's custom message; Content is the app's.
	MessageTypeCustom MessageType = 10012
	// MessageTypeCommand is a command message, the seed's isCommandMsg
	// (type === 50001).
	MessageTypeCommand MessageType = 50001
)

// minSpecialMessageType is where special messages start: the seed's
// isSpecialMessage is type >= 50000.
const minSpecialMessageType MessageType = 50000

var messageTypeNames = map[MessageType]string{
	MessageTypeText:     "Text",
	MessageTypeSticker:  "Sticker",
	MessageTypeImage:    "Image",
	MessageTypeVideo:    "Video",
	MessageTypeFile:     "File",
	MessageTypeAudio:    "Audio",
	MessageTypeLocation: "Location",
	MessageTypeSystem:   "System",
	MessageTypeLink:     "Link",
	MessageTypeCustom:   "Custom",
	MessageTypeCommand:  "Command",
}

// String returns the type's name, or MessageType(n) for an app's own type.
func (t MessageType) String() string { return enumString(t, "MessageType", messageTypeNames) }

// IsSpecial reports whether t is a special type (t >= 50000), as the seed's
// isSpecialMessage defines it.
func (t MessageType) IsSpecial() bool { return t >= minSpecialMessageType }

// Message is the seed's Message: a message in a conversation.
//
// The fields are what the server said (or, for a message this client
// sends, what it has so far). The seed's read-only properties (isMentioned,
// visible, unpop, ...) are methods computed from Type and Ext exactly as the
// seed documents them; those that depend on who is looking take the user.
//
// A Message is plain data: its methods only read it, so any number of
// goroutines may read one at once, but a Message must not be changed while
// it is shared. The client never changes a Message it has handed out; it
// replaces it (see [Message.Clone]).
type Message struct {
	// ServerID is the server's id of the message (seed: serverId); 0 until
	// the server stored it.
	ServerID MessageID
	// ClientID is the id the sending client gave the message (seed:
	// clientId), kept in Ext under s:client_message_id. Sends are made
	// idempotent by it. Empty for messages no client sent.
	ClientID string
	// ConversationID is the conversation the message belongs to.
	ConversationID ConversationID
	// ConversationShortID is that conversation's short id.
	ConversationShortID ConversationShortID
	// ConversationType is that conversation's type.
	ConversationType ConversationType
	// Index is the message's position in its conversation
	// (indexInConversation): it grows by one per message. The seed's read
	// indexes count in it.
	Index int64
	// Order is the message's sort order in its conversation
	// (orderInConversation), strictly increasing; read orders count in it.
	Order int64
	// Sender is the sender's user id.
	Sender UserID
	// SecSender is the sender's encrypted uid (seed: secSender).
	SecSender string
	// Type is the message's type.
	Type MessageType
	// Content is the message's content: the text of a text message, JSON
	// for most other types.
	Content string
	// Ext is the message's ext map. Keys starting with "s:" are the
	// system's ([InfoKey]).
	Ext map[string]string
	// CreatedAt is when the message was created (seed: createdAt).
	CreatedAt time.Time
	// Version is the message's version: it grows with every change
	// (recall, properties, ext), so the highest version is the latest.
	Version int64
	// ServerStatus is the message's status on the server.
	ServerStatus ServerMessageStatus
	// FlightStatus is where the message is in being sent; messages from the
	// server are FlightStatusSucceeded.
	FlightStatus FlightStatus
	// Properties are the message's properties (seed: property), such as
	// reactions: each key's items, oldest first.
	Properties map[string][]MessageProperty
	// Reference describes the message this one quotes (seed:
	// referenceInfo); nil when it quotes none.
	Reference *ReferenceInfo
	// IsOffline reports a message created locally that the server does not
	// have yet (seed: isOffline): one this client is sending, or failed to
	// send.
	IsOffline bool
	// Source is how the client came to know the message: Offline for one
	// it sent, LoadMore for one an operation fetched (GetMessage,
	// LoadMessages, LiveMessages, ModifyMessageExt), and the sync engine's
	// Online, Init or UserInbox for those it delivers.
	Source MessageSource
}

// ext returns the value of an ext key, "" when absent.
func (m *Message) ext(k InfoKey) string { return m.Ext[string(k)] }

// IsNormal reports whether m is an ordinary message rather than a special
// one such as a command (seed: isNormalMsg).
func (m *Message) IsNormal() bool { return !m.IsSpecial() }

// IsCommand reports whether m is a command message, type 50001 (seed:
// isCommandMsg).
func (m *Message) IsCommand() bool { return m.Type == MessageTypeCommand }

// IsSpecial reports whether m is a special message, type >= 50000 (seed:
// isSpecialMessage).
func (m *Message) IsSpecial() bool { return m.Type.IsSpecial() }

// IsFromMe reports whether me sent m (seed: isFromMe).
func (m *Message) IsFromMe(me UserID) bool { return m.Sender == me }

// Visible returns the users listed in ext s:visible. When the list is not
// empty, only they (and the sender) see the message.
func (m *Message) Visible() []UserID { return parseUserList(m.ext(InfoKeyMessageVisible)) }

// Invisible returns the users listed in ext s:invisible, who do not see the
// message.
func (m *Message) Invisible() []UserID { return parseUserList(m.ext(InfoKeyMessageInvisible)) }

// IsVisibleTo reports whether user sees m (seed: visible, "visible to
// myself"). The sender always does; otherwise a message is hidden when the
// server disabled it (ServerStatus Disable, "not shown"), when s:visible
// lists users and user is not among them, or when s:invisible lists user.
func (m *Message) IsVisibleTo(user UserID) bool {
	if m.ServerStatus == ServerMessageStatusDisable {
		return false
	}
	if m.Sender == user {
		return true
	}
	if v := m.Visible(); len(v) > 0 && !slices.Contains(v, user) {
		return false
	}
	return !slices.Contains(m.Invisible(), user)
}

// IsUnpop reports whether m must not move its conversation up the list
// (seed: unpop): ext s:do_not_pop_conversation is "true".
func (m *Message) IsUnpop() bool { return m.ext(InfoKeyDoNotPopConversation) == "true" }

// PopsConversation reports whether m moves its conversation up the list:
// the opposite of [Message.IsUnpop].
func (m *Message) PopsConversation() bool { return !m.IsUnpop() }

// IncreasesUnread reports whether m counts towards the unread count (seed:
// increaseUnread): it is not special and ext s:do_not_increase_unread is
// not "true". Whether it is unread for a given user also depends on who
// sent it and who sees it; see [Conversation.UnreadMessages].
func (m *Message) IncreasesUnread() bool {
	return !m.IsSpecial() && m.ext(InfoKeyDoNotIncreaseUnread) != "true"
}

// IsRecalled reports whether m was recalled (seed: isRecalled): ext
// s:is_recalled is "true".
func (m *Message) IsRecalled() bool { return m.ext(InfoKeyIsRecalled) == "true" }

// MentionedUsers returns the users m mentions (seed: mentionedUsers), from
// ext s:mentioned_users, comma-separated; 0 stands for everyone.
func (m *Message) MentionedUsers() []UserID { return parseUserList(m.ext(InfoKeyMentionedUsers)) }

// MentionsAll reports whether m mentions everyone: s:mentioned_users
// contains 0.
func (m *Message) MentionsAll() bool { return slices.Contains(m.MentionedUsers(), 0) }

// IsMentioned reports whether m mentions user (seed: isMentioned): user or 0
// (everyone) is in s:mentioned_users.
func (m *Message) IsMentioned(user UserID) bool {
	users := m.MentionedUsers()
	return slices.Contains(users, user) || slices.Contains(users, 0)
}

// IsStrangerMessage reports whether m is a stranger message (seed:
// isStrangerMessage): its ext s:mode, the message mode that tells stranger
// messages apart, is set and not "0" (acquaintances' mode is 0, as for the
// seed's Conversation.mode).
func (m *Message) IsStrangerMessage() bool {
	mode := m.ext(InfoKeyMessageMode)
	return mode != "" && mode != "0"
}

// IsRootReference reports whether m starts a chain of quotes (seed:
// isRootReference): ext s:is_root_ref is "true".
func (m *Message) IsRootReference() bool { return m.ext(InfoKeyIsRootReference) == "true" }

// MovesReadIndex reports whether m moves the read index when read (seed:
// moveReadIndex): ext s:do_not_move_read_index is not "true".
func (m *Message) MovesReadIndex() bool { return m.ext(InfoKeyDoNotMoveReadIndex) != "true" }

// UpdatesLastMessage reports whether m may become its conversation's last
// message (seed: updateLastMessage): ext s:do_not_update_last_msg is not
// "true".
func (m *Message) UpdatesLastMessage() bool {
	return m.ext(InfoKeyDoNotUpdateLastMessage) != "true"
}

// IsGeneralConversation reports whether m belongs to a general conversation,
// a single or group chat but not a live chat (seed: isGeneralConversation).
func (m *Message) IsGeneralConversation() bool { return m.ConversationType.IsGeneral() }

// Priority returns m's priority in a live chat (seed: messagePriority), from
// ext s:message_priority. The seed leaves it undefined when unset; this
// returns MessagePriorityNormal then, and for a value outside 0–2, since
// that is what the server gives a live message sent without one.
func (m *Message) Priority() MessagePriority {
	n, err := strconv.Atoi(m.ext(InfoKeyMessagePriority))
	if err != nil || n < int(MessagePriorityLow) || n > int(MessagePriorityHigh) {
		return MessagePriorityNormal
	}
	return MessagePriority(n)
}

// Clone returns a deep copy of m, which the caller may change.
func (m *Message) Clone() *Message {
	if m == nil {
		return nil
	}
	c := *m
	c.Ext = maps.Clone(m.Ext)
	if m.Properties != nil {
		c.Properties = make(map[string][]MessageProperty, len(m.Properties))
		for k, items := range m.Properties {
			c.Properties[k] = slices.Clone(items)
		}
	}
	if m.Reference != nil {
		r := *m.Reference
		c.Reference = &r
	}
	return &c
}

// MessageProperty is the seed's MessageProperty: one item of a message
// property, such as a "like" reaction or an "urgent" mark.
type MessageProperty struct {
	// MessageID is the message's server id (kept for lookups).
	MessageID MessageID
	// ConversationID is the message's conversation (kept for lookups).
	ConversationID ConversationID
	// Key is the property's key (kept for lookups).
	Key string
	// UserID is the user who set the item.
	UserID UserID
	// SecUID is that user's encrypted uid.
	SecUID string
	// CreateTime is when the item was set.
	CreateTime time.Time
	// IdempotentID is the operation's idempotency id, which the app
	// chooses.
	IdempotentID string
	// Value is the item's value.
	Value string
	// Status is where the item is in being sent; items from the server are
	// PropertyStatusSuccess.
	Status PropertyStatus
}

// ReferenceInfo is the seed's IReferenceInfo: what a message carries about
// the message it quotes.
type ReferenceInfo struct {
	// ReferencedMessageID is the quoted message's server id.
	ReferencedMessageID MessageID
	// Hint is app-defined helper data, JSON.
	Hint string
	// RefMessageType is the quoted message's type.
	RefMessageType MessageType
	// ReferencedMessageStatus is the quoted message's state.
	ReferencedMessageStatus MessageStatus
	// RootMessageID is the server id of the message that starts the chain
	// of quotes; 0 when unknown.
	RootMessageID MessageID
	// RootMessageConvIndex is the quoted message's index in the
	// conversation (the seed's wording); 0 when unknown.
	RootMessageConvIndex int64
	// Sender is the quoted message's sender, when the server says (a wire
	// field the seed does not list).
	Sender UserID
}

// ModifyMessagePropertyResult is the seed's ModifyMessagePropertyResult,
// ICheckCodeResult<Message, ModifyMessagePropertyResponseBody>, named for
// the mapping. [Client.ModifyProperties] does not return it: the answer
// carries the message's new version, not the message, so it returns that
// version and fails with an *Error; the message with its new properties
// reaches the client as OnPropertyChanged, and GetMessage fetches it.
type ModifyMessagePropertyResult = Result[*Message]

// FileInfo describes the file of a file message (image, video, audio,
// file): the parts of the seed's FileInfo that a bot needs. A file the
// server keeps is uploaded with [Client.UploadFile] or [Client.SendFile],
// which fill in Key and URL; a file elsewhere needs only its URL.
// [Message.File] reads it back from a received message.
//
// [FileInfo.Content] renders the message content, the JSON the web SDK
// reads:
//
//	{"__files": {"<slot>": {"remoteURL": "<URL>", "ext": {"<key>": "<value>", ...}}}}
//
// The slot is "media" for images, videos and audio and "file" for other
// files. Every ext value is a string; keys are the web SDK's file ext keys,
// with imbot's own for the server's key, size and MIME type, and a key is
// left out when its field is zero:
//
//	s:file_ext_key_type              file_ext_value_type_image | _video | _audio | _file
//	s:file_ext_key_file_key          Key, the server's key of an uploaded file (imbot)
//	s:file_ext_key_file_name         Name
//	s:file_ext_key_file_size         Size, bytes (imbot)
//	s:file_ext_key_mime_type         MimeType (imbot)
//	s:file_ext_key_original_width    Width, pixels
//	s:file_ext_key_original_height   Height, pixels
//	s:file_ext_key_preview_width     ImagePreviewWidth
//	s:file_ext_key_preview_height    ImagePreviewHeight
//	s:file_ext_key_thumb_width       ImageThumbWidth
//	s:file_ext_key_thumb_height      ImageThumbHeight
//	s:file_ext_key_img_suffix        ImageSuffix
//	s:file_ext_key_audio_duration    Duration of audio, seconds (decimal)
//	s:file_ext_key_video_duration    Duration of video, seconds (decimal)
//
// Ext adds keys of the caller's; the fields above win over them.
type FileInfo struct {
	// Type is the kind of file; it decides the message type
	// ([FileType.MessageType]). Required.
	Type FileType
	// URL is where the file can be downloaded (the seed's filePath, as
	// remoteURL). Required. For a file the server keeps it is a signed
	// URL that expires; [Client.FileURL] gets a fresh one.
	URL string
	// Key is the server's key of a file uploaded to it (64 hex digits),
	// by which members of the conversations it was sent to get fresh
	// URLs; empty for a file elsewhere.
	Key string
	// Name is the file's name (seed: fileName).
	Name string
	// Size is the file's size in bytes (seed: fileSize).
	Size int64
	// MimeType is the file's MIME type, e.g. "image/png".
	MimeType string
	// Width and Height are an image's or video's size in pixels.
	Width, Height int
	// ImagePreviewWidth and ImagePreviewHeight are an image preview's size
	// (seed: imagePreviewWidth, imagePreviewHeight).
	ImagePreviewWidth, ImagePreviewHeight int
	// ImageThumbWidth and ImageThumbHeight are an image thumbnail's size
	// (seed: imageThumbWidth, imageThumbHeight).
	ImageThumbWidth, ImageThumbHeight int
	// ImageSuffix is the image's file suffix, e.g. "png" (seed:
	// imageSuffix).
	ImageSuffix string
	// Duration is an audio's (seed: audioDuration) or a video's length.
	Duration time.Duration
	// Ext adds keys to the file's ext (seed: ext).
	Ext map[string]string
}

// fileJSON is the shape of a file message's content; see FileInfo.
type fileJSON struct {
	Files map[string]fileEntryJSON `json:"__files"`
}

type fileEntryJSON struct {
	RemoteURL string            `json:"remoteURL"`
	Ext       map[string]string `json:"ext,omitempty"`
}

// The file ext keys FileInfo's fields are written under.
const (
	fileExtType          = "s:file_ext_key_type"
	fileExtKey           = "s:file_ext_key_file_key"
	fileExtName          = "s:file_ext_key_file_name"
	fileExtSize          = "s:file_ext_key_file_size"
	fileExtMimeType      = "s:file_ext_key_mime_type"
	fileExtWidth         = "s:file_ext_key_original_width"
	fileExtHeight        = "s:file_ext_key_original_height"
	fileExtPreviewWidth  = "s:file_ext_key_preview_width"
	fileExtPreviewHeight = "s:file_ext_key_preview_height"
	fileExtThumbWidth    = "s:file_ext_key_thumb_width"
	fileExtThumbHeight   = "s:file_ext_key_thumb_height"
	fileExtImageSuffix   = "s:file_ext_key_img_suffix"
	fileExtAudioDuration = "s:file_ext_key_audio_duration"
	fileExtVideoDuration = "s:file_ext_key_video_duration"
)

// fileKinds maps each FileType to its content slot and its ext type value.
var fileKinds = map[FileType]struct{ slot, value string }{
	FileTypeImage: {"media", "file_ext_value_type_image"},
	FileTypeVideo: {"media", "file_ext_value_type_video"},
	FileTypeAudio: {"media", "file_ext_value_type_audio"},
	FileTypeFile:  {"file", "file_ext_value_type_file"},
}

// intFields are FileInfo's pixel sizes with their ext keys.
func (f *FileInfo) intFields() []struct {
	key string
	v   *int
} {
	return []struct {
		key string
		v   *int
	}{
		{fileExtWidth, &f.Width}, {fileExtHeight, &f.Height},
		{fileExtPreviewWidth, &f.ImagePreviewWidth}, {fileExtPreviewHeight, &f.ImagePreviewHeight},
		{fileExtThumbWidth, &f.ImageThumbWidth}, {fileExtThumbHeight, &f.ImageThumbHeight},
	}
}

// Content renders the content of a message carrying f, in the JSON shape
// FileInfo documents. It fails, with an *Error of type
// ErrorTypeInvalidArgument, when Type is not a known FileType, URL is
// empty, or a size or duration is negative.
func (f FileInfo) Content() (string, error) {
	invalid := func(msg string) (string, error) {
		return "", &Error{Type: ErrorTypeInvalidArgument, Msg: "FileInfo: " + msg}
	}
	kind, ok := fileKinds[f.Type]
	if !ok {
		return invalid("unknown Type " + strconv.Quote(string(f.Type)))
	}
	if f.URL == "" {
		return invalid("URL is required")
	}
	if f.Size < 0 || f.Width < 0 || f.Height < 0 || f.ImagePreviewWidth < 0 || f.ImagePreviewHeight < 0 ||
		f.ImageThumbWidth < 0 || f.ImageThumbHeight < 0 || f.Duration < 0 {
		return invalid("sizes and Duration must not be negative")
	}
	ext := maps.Clone(f.Ext)
	if ext == nil {
		ext = make(map[string]string)
	}
	set := func(k, v string) {
		if v != "" && v != "0" {
			ext[k] = v
		}
	}
	set(fileExtType, kind.value)
	set(fileExtKey, f.Key)
	set(fileExtName, f.Name)
	set(fileExtSize, strconv.FormatInt(f.Size, 10))
	set(fileExtMimeType, f.MimeType)
	for _, n := range f.intFields() {
		set(n.key, strconv.Itoa(*n.v))
	}
	set(fileExtImageSuffix, f.ImageSuffix)
	seconds := strconv.FormatFloat(f.Duration.Seconds(), 'f', -1, 64)
	switch f.Type {
	case FileTypeAudio:
		set(fileExtAudioDuration, seconds)
	case FileTypeVideo:
		set(fileExtVideoDuration, seconds)
	}
	b, err := json.Marshal(fileJSON{Files: map[string]fileEntryJSON{kind.slot: {RemoteURL: f.URL, Ext: ext}}})
	if err != nil { // a struct of strings always marshals
		return "", &Error{Type: ErrorTypeInvalidArgument, Msg: "FileInfo: " + err.Error(), Inner: err}
	}
	return string(b), nil
}

// File returns the file a file message (image, video, audio, file)
// carries, read from its content as FileInfo documents, and whether it
// carries one: false for other types and for content that is not a file
// JSON with a URL. A field whose ext value does not parse reads as zero;
// ext keys FileInfo does not know stay in Ext.
func (m *Message) File() (FileInfo, bool) {
	if m == nil || !isFileType(m.Type) {
		return FileInfo{}, false
	}
	var c fileJSON
	if json.Unmarshal([]byte(m.Content), &c) != nil {
		return FileInfo{}, false
	}
	e, ok := c.Files["media"]
	if !ok {
		e, ok = c.Files["file"]
	}
	if !ok || e.RemoteURL == "" {
		return FileInfo{}, false
	}
	ext := maps.Clone(e.Ext)
	take := func(k string) string {
		v := ext[k]
		delete(ext, k)
		return v
	}
	f := FileInfo{URL: e.RemoteURL}
	f.Type = fileTypeOf(take(fileExtType), m.Type)
	f.Key = take(fileExtKey)
	f.Name = take(fileExtName)
	f.Size, _ = strconv.ParseInt(take(fileExtSize), 10, 64)
	f.MimeType = take(fileExtMimeType)
	for _, n := range f.intFields() {
		*n.v, _ = strconv.Atoi(take(n.key))
	}
	f.ImageSuffix = take(fileExtImageSuffix)
	for _, k := range []string{fileExtAudioDuration, fileExtVideoDuration} {
		if s, err := strconv.ParseFloat(take(k), 64); err == nil && s > 0 && s < maxFileSeconds {
			f.Duration = time.Duration(s * float64(time.Second))
		}
	}
	f.Size, f.Duration = max(f.Size, 0), max(f.Duration, 0)
	for _, n := range f.intFields() {
		*n.v = max(*n.v, 0)
	}
	if len(ext) > 0 {
		f.Ext = ext
	}
	return f, true
}

// maxFileSeconds bounds a duration read from content, so that a huge
// value cannot overflow time.Duration: a hundred years.
const maxFileSeconds = 100 * 365 * 24 * 3600

// isFileType reports whether messages of type t carry a file.
func isFileType(t MessageType) bool {
	switch t {
	case MessageTypeImage, MessageTypeVideo, MessageTypeAudio, MessageTypeFile:
		return true
	}
	return false
}

// fileTypeOf is the FileType an ext type value names, or else the one
// the message type carries.
func fileTypeOf(value string, t MessageType) FileType {
	for ft, k := range fileKinds {
		if k.value == value {
			return ft
		}
	}
	for ft := range fileKinds {
		if ft.MessageType() == t {
			return ft
		}
	}
	return FileTypeFile
}

// Text returns the text of a text message: the "text" field of its JSON
// content ({"text":"hi"}), as TextContent writes it; "" when the content
// carries no text.
func (m *Message) Text() string {
	if m == nil {
		return ""
	}
	return contentText(m.Content)
}
