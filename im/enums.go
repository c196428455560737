package im

import "strconv"

// This file holds the seed's enums (and ErrorType, which the seed links from
// a page we do not have). Each has the seed's values, named constants and a
// String method that prints the constant's name, or Type(n) for a value the
// seed does not list. The values are plain numbers and may arrive from the
// wire outside the listed set; nothing here panics on them.

// enumString renders v by its name in names, or as typ(v) when it has none.
func enumString[T ~int32](v T, typ string, names map[T]string) string {
	if s, ok := names[v]; ok {
		return s
	}
	return typ + "(" + strconv.FormatInt(int64(v), 10) + ")"
}

// ConversationType is the seed's ConversationType: the kind of a
// conversation.
type ConversationType int32

// The seed's conversation types.
const (
	// ConversationTypeOneToOne is a single chat (ONE_TO_ONE_CHAT).
	ConversationTypeOneToOne ConversationType = 1
	// ConversationTypeGroup is a group chat (GROUP_CHAT).
	ConversationTypeGroup ConversationType = 2
	// ConversationTypeMassChat is a live chat, the seed's "直播会话" (MASS_CHAT).
	ConversationTypeMassChat ConversationType = 100
)

var conversationTypeNames = map[ConversationType]string{
	ConversationTypeOneToOne: "OneToOne",
	ConversationTypeGroup:    "Group",
	ConversationTypeMassChat: "MassChat",
}

// String returns the type's name.
func (t ConversationType) String() string {
	return enumString(t, "ConversationType", conversationTypeNames)
}

// IsGeneral reports whether t is a "general" (普通) conversation type, as the
// seed's isGeneralConversation defines it: single and group chats, not live
// chats.
func (t ConversationType) IsGeneral() bool {
	return t == ConversationTypeOneToOne || t == ConversationTypeGroup
}

// ConversationStatus is the seed's ConversationStatus.
type ConversationStatus int32

// The seed's conversation statuses.
const (
	// ConversationStatusNormal: the conversation is in use.
	ConversationStatusNormal ConversationStatus = 0
	// ConversationStatusDissolved: the conversation was dissolved.
	ConversationStatusDissolved ConversationStatus = 1
)

var conversationStatusNames = map[ConversationStatus]string{
	ConversationStatusNormal:    "Normal",
	ConversationStatusDissolved: "Dissolved",
}

// String returns the status's name.
func (s ConversationStatus) String() string {
	return enumString(s, "ConversationStatus", conversationStatusNames)
}

// BlockStatus is the seed's BlockStatus: whether a conversation (or a
// member) is muted, "禁言".
type BlockStatus int32

// The seed's block statuses.
const (
	// BlockStatusUnblock: not muted (UNBLOCK).
	BlockStatusUnblock BlockStatus = 0
	// BlockStatusBlock: muted (BLOCK).
	BlockStatusBlock BlockStatus = 1
)

var blockStatusNames = map[BlockStatus]string{
	BlockStatusUnblock: "Unblock",
	BlockStatusBlock:   "Block",
}

// String returns the status's name.
func (s BlockStatus) String() string { return enumString(s, "BlockStatus", blockStatusNames) }

// GroupRole is the seed's GroupRole, a member's role in a conversation
// (Participant.role).
type GroupRole int32

// The seed's group roles. The seed's table names value 3 "MANAGER" a second
// time but describes it as 访客 (visitor); it is VISITOR on the wire
// (IM_PROTOCOL.md §8.4).
const (
	// GroupRoleOrdinary is an ordinary member (ORDINARY).
	GroupRoleOrdinary GroupRole = 0
	// GroupRoleOwner is the owner (OWNER).
	GroupRoleOwner GroupRole = 1
	// GroupRoleManager is a manager (MANAGER).
	GroupRoleManager GroupRole = 2
	// GroupRoleVisitor is a visitor (VISITOR).
	GroupRoleVisitor GroupRole = 3
)

var groupRoleNames = map[GroupRole]string{
	GroupRoleOrdinary: "Ordinary",
	GroupRoleOwner:    "Owner",
	GroupRoleManager:  "Manager",
	GroupRoleVisitor:  "Visitor",
}

// String returns the role's name.
func (r GroupRole) String() string { return enumString(r, "GroupRole", groupRoleNames) }

// StickTopState is the seed's StickTopState: whether a conversation is
// pinned to the top of the user's list.
type StickTopState int32

// The seed's stick-on-top states.
const (
	// StickTopStateOff: not pinned.
	StickTopStateOff StickTopState = 0
	// StickTopStateOn: pinned.
	StickTopStateOn StickTopState = 1
)

var stickTopStateNames = map[StickTopState]string{StickTopStateOff: "Off", StickTopStateOn: "On"}

// String returns the state's name.
func (s StickTopState) String() string { return enumString(s, "StickTopState", stickTopStateNames) }

// MuteState is the seed's MuteState: do-not-disturb for a conversation.
type MuteState int32

// The seed's mute states.
const (
	// MuteStateOff: notify as usual.
	MuteStateOff MuteState = 0
	// MuteStateOn: do not disturb (no notifications).
	MuteStateOn MuteState = 1
)

var muteStateNames = map[MuteState]string{MuteStateOff: "Off", MuteStateOn: "On"}

// String returns the state's name.
func (s MuteState) String() string { return enumString(s, "MuteState", muteStateNames) }

// FavoriteState is the seed's FavoriteState: whether the user marked a
// conversation as a favourite.
type FavoriteState int32

// The seed's favourite states.
const (
	// FavoriteStateOff: not a favourite.
	FavoriteStateOff FavoriteState = 0
	// FavoriteStateOn: a favourite.
	FavoriteStateOn FavoriteState = 1
)

var favoriteStateNames = map[FavoriteState]string{FavoriteStateOff: "Off", FavoriteStateOn: "On"}

// String returns the state's name.
func (s FavoriteState) String() string { return enumString(s, "FavoriteState", favoriteStateNames) }

// PushStatus is the seed's PushStatus: how a conversation's messages are
// pushed to the user. It rides in the setting ext under "s:push_status"
// (improto README, choice 19).
type PushStatus int32

// The seed's push statuses.
const (
	// PushStatusUnknown: the server did not say, or sent a value this
	// client does not know.
	PushStatusUnknown PushStatus = 0
	// PushStatusAllow: normal mode, pushes allowed.
	PushStatusAllow PushStatus = 1
	// PushStatusDisable: do-not-disturb mode, no pushes.
	PushStatusDisable PushStatus = 2
	// PushStatusPartAllow: low-disturbance ("weak mute") mode, pushes only
	// for the white lists of [ConversationSettingWeakMuteInfo].
	PushStatusPartAllow PushStatus = 3
)

var pushStatusNames = map[PushStatus]string{
	PushStatusUnknown:   "Unknown",
	PushStatusAllow:     "Allow",
	PushStatusDisable:   "Disable",
	PushStatusPartAllow: "PartAllow",
}

// String returns the status's name.
func (s PushStatus) String() string { return enumString(s, "PushStatus", pushStatusNames) }

// ServerMessageStatus is the seed's ServerMessageStatus, a message's status
// on the server (MessageBody.status).
type ServerMessageStatus int32

// The seed's server message statuses.
const (
	// ServerMessageStatusEnable: enabled (the normal state).
	ServerMessageStatusEnable ServerMessageStatus = 0
	// ServerMessageStatusDisable: disabled (not shown).
	ServerMessageStatusDisable ServerMessageStatus = 1
)

var serverMessageStatusNames = map[ServerMessageStatus]string{
	ServerMessageStatusEnable:  "Enable",
	ServerMessageStatusDisable: "Disable",
}

// String returns the status's name.
func (s ServerMessageStatus) String() string {
	return enumString(s, "ServerMessageStatus", serverMessageStatusNames)
}

// FlightStatus is the seed's FlightStatus: where a message is in being sent.
// Messages that come from the server are FlightStatusSucceeded.
type FlightStatus int32

// The seed's flight statuses.
const (
	// FlightStatusCreated: the message was created.
	FlightStatusCreated FlightStatus = 0
	// FlightStatusPreparing: being prepared (e.g. uploading an image).
	FlightStatusPreparing FlightStatus = 1
	// FlightStatusInflight: the request was sent; no response yet.
	FlightStatusInflight FlightStatus = 2
	// FlightStatusSucceeded: sent (the response arrived).
	FlightStatusSucceeded FlightStatus = 3
	// FlightStatusReceived: the server received the message (it came back
	// through a push before the send's response).
	FlightStatusReceived FlightStatus = 4
	// FlightStatusFailed: sending failed (network or internal error).
	FlightStatusFailed FlightStatus = -1
	// FlightStatusRejected: the server refused the message (callback
	// check).
	FlightStatusRejected FlightStatus = -2
	// FlightStatusSelfVisible: the server accepted the message but only its
	// sender sees it.
	FlightStatusSelfVisible FlightStatus = -3
)

var flightStatusNames = map[FlightStatus]string{
	FlightStatusCreated:     "Created",
	FlightStatusPreparing:   "Preparing",
	FlightStatusInflight:    "Inflight",
	FlightStatusSucceeded:   "Succeeded",
	FlightStatusReceived:    "Received",
	FlightStatusFailed:      "Failed",
	FlightStatusRejected:    "Rejected",
	FlightStatusSelfVisible: "SelfVisible",
}

// String returns the status's name.
func (s FlightStatus) String() string { return enumString(s, "FlightStatus", flightStatusNames) }

// PropertyStatus is the seed's PropertyStatus: where a message property
// change is in being sent.
type PropertyStatus int32

// The seed's property statuses.
const (
	// PropertyStatusSending: being sent.
	PropertyStatusSending PropertyStatus = 0
	// PropertyStatusSuccess: sent; every property read from the server is
	// in this state.
	PropertyStatusSuccess PropertyStatus = 1
	// PropertyStatusFailed: sending failed.
	PropertyStatusFailed PropertyStatus = 2
)

var propertyStatusNames = map[PropertyStatus]string{
	PropertyStatusSending: "Sending",
	PropertyStatusSuccess: "Success",
	PropertyStatusFailed:  "Failed",
}

// String returns the status's name.
func (s PropertyStatus) String() string { return enumString(s, "PropertyStatus", propertyStatusNames) }

// MessageStatus is the seed's MessageStatus: the state of a quoted message
// (ReferenceInfo.ReferencedMessageStatus).
type MessageStatus int32

// The seed's message statuses.
const (
	// MessageStatusAvailable: the message exists (AVAILABLE).
	MessageStatusAvailable MessageStatus = 0
	// MessageStatusNotExist: the message does not exist (NOT_EXIST).
	MessageStatusNotExist MessageStatus = 1
	// MessageStatusInvisible: the message is not visible to the user
	// (INVISIBLE).
	MessageStatusInvisible MessageStatus = 2
	// MessageStatusRecalled: the message was recalled (RECALLED).
	MessageStatusRecalled MessageStatus = 3
	// MessageStatusDeleted: the message was visible, then deleted
	// (DELETED).
	MessageStatusDeleted MessageStatus = 4
)

var messageStatusNames = map[MessageStatus]string{
	MessageStatusAvailable: "Available",
	MessageStatusNotExist:  "NotExist",
	MessageStatusInvisible: "Invisible",
	MessageStatusRecalled:  "Recalled",
	MessageStatusDeleted:   "Deleted",
}

// String returns the status's name.
func (s MessageStatus) String() string { return enumString(s, "MessageStatus", messageStatusNames) }

// MessageSource is the seed's MessageSource: how the client came to know a
// message. The client sets it; a message decoded from the wire has none (0)
// until then.
type MessageSource int32

// The seed's message sources.
const (
	// MessageSourceOnline: pushed over the socket.
	MessageSourceOnline MessageSource = 1
	// MessageSourceLoadMore: pulled page by page from one conversation.
	MessageSourceLoadMore MessageSource = 2
	// MessageSourceInit: pulled at initialisation.
	MessageSourceInit MessageSource = 3
	// MessageSourceUserInbox: pulled from the user's inbox to make up for
	// missed pushes (混链补偿).
	MessageSourceUserInbox MessageSource = 4
	// MessageSourceOffline: created locally (sent by this client).
	MessageSourceOffline MessageSource = 5
)

var messageSourceNames = map[MessageSource]string{
	MessageSourceOnline:    "Online",
	MessageSourceLoadMore:  "LoadMore",
	MessageSourceInit:      "Init",
	MessageSourceUserInbox: "UserInbox",
	MessageSourceOffline:   "Offline",
}

// String returns the source's name.
func (s MessageSource) String() string { return enumString(s, "MessageSource", messageSourceNames) }

// MessagePriority is the seed's MessagePriority, the priority of a message
// in a live chat. It rides in the message ext under "s:message_priority".
type MessagePriority int32

// The seed's message priorities.
const (
	// MessagePriorityLow is the low priority (LOW).
	MessagePriorityLow MessagePriority = 0
	// MessagePriorityNormal is the normal priority (NORMAL), the default.
	MessagePriorityNormal MessagePriority = 1
	// MessagePriorityHigh is the high priority (HIGH).
	MessagePriorityHigh MessagePriority = 2
)

var messagePriorityNames = map[MessagePriority]string{
	MessagePriorityLow:    "Low",
	MessagePriorityNormal: "Normal",
	MessagePriorityHigh:   "High",
}

// String returns the priority's name.
func (p MessagePriority) String() string {
	return enumString(p, "MessagePriority", messagePriorityNames)
}

// MessageDirection is the seed's MessageDirection: which way to page
// through a conversation's messages from an anchor.
type MessageDirection int32

// The seed's message directions. The seed's descriptions read the other way
// round (OLDER "from old to new", NEWER "from new to old"); the names, the
// wire (IM_PROTOCOL.md §8.5) and imserver agree on what is written here.
const (
	// MessageDirectionOlder pages towards older messages (OLDER).
	MessageDirectionOlder MessageDirection = 1
	// MessageDirectionNewer pages towards newer messages (NEWER).
	MessageDirectionNewer MessageDirection = 2
)

var messageDirectionNames = map[MessageDirection]string{
	MessageDirectionOlder: "Older",
	MessageDirectionNewer: "Newer",
}

// String returns the direction's name.
func (d MessageDirection) String() string {
	return enumString(d, "MessageDirection", messageDirectionNames)
}

// OperationType is the seed's OPERATION_TYPE: how a message property change
// applies to a property's value.
type OperationType int32

// The seed's property operations.
const (
	// OperationTypeAddPropertyItem adds an item to a list-valued property
	// (ADD_PROPERTY_ITEM).
	OperationTypeAddPropertyItem OperationType = 0
	// OperationTypeRemovePropertyItem removes an item from a list-valued
	// property (REMOVE_PROPERTY_ITEM).
	OperationTypeRemovePropertyItem OperationType = 1
	// OperationTypeSetProperty sets a key-value property (SET_PROPERTY).
	OperationTypeSetProperty OperationType = 2
	// OperationTypeDelProperty deletes a key-value property (DEL_PROPERTY).
	OperationTypeDelProperty OperationType = 3
)

var operationTypeNames = map[OperationType]string{
	OperationTypeAddPropertyItem:    "AddPropertyItem",
	OperationTypeRemovePropertyItem: "RemovePropertyItem",
	OperationTypeSetProperty:        "SetProperty",
	OperationTypeDelProperty:        "DelProperty",
}

// String returns the operation's name.
func (o OperationType) String() string { return enumString(o, "OperationType", operationTypeNames) }

// SortType is the seed's SortType: the order of a conversation list.
type SortType int32

// The seed's sort types.
const (
	// SortTypeJoinTime sorts by when the user joined (JOIN_TIME).
	SortTypeJoinTime SortType = 1
	// SortTypeCreatedTime sorts by when the conversation was created
	// (CREATED_TIME).
	SortTypeCreatedTime SortType = 2
	// SortTypeGroupName sorts by conversation name (GROUP_NAME).
	SortTypeGroupName SortType = 3
	// SortTypeActiveTime sorts by latest activity (ACTIVE_TIME).
	SortTypeActiveTime SortType = 4
)

var sortTypeNames = map[SortType]string{
	SortTypeJoinTime:    "JoinTime",
	SortTypeCreatedTime: "CreatedTime",
	SortTypeGroupName:   "GroupName",
	SortTypeActiveTime:  "ActiveTime",
}

// String returns the sort type's name.
func (s SortType) String() string { return enumString(s, "SortType", sortTypeNames) }

// AuthType is the seed's AuthType: how the server reads the token.
type AuthType int32

// The seed's auth types.
const (
	// AuthTypeSession is session (passport) auth: cookies and token
	// (SESSION_AUTH).
	AuthTypeSession AuthType = 1
	// AuthTypeToken is IM Cloud token auth, a signed token (TOKEN_AUTH).
	AuthTypeToken AuthType = 2
	// AuthTypeCert is trusted-certificate auth (CERT_AUTH).
	AuthTypeCert AuthType = 3
)

var authTypeNames = map[AuthType]string{
	AuthTypeSession: "Session",
	AuthTypeToken:   "Token",
	AuthTypeCert:    "Cert",
}

// String returns the auth type's name.
func (a AuthType) String() string { return enumString(a, "AuthType", authTypeNames) }

// WebSocketLevel is the seed's WebSocketLevel: what the client sends over
// the Frontier WebSocket.
type WebSocketLevel int32

// The seed's WebSocket levels.
const (
	// WebSocketLevelDefault: most requests over the socket, a few over
	// HTTP: requests go over the socket while it is up, and over HTTP
	// while it is down (Init's pull, a reconnect) or when the socket's loss
	// cut them off.
	WebSocketLevelDefault WebSocketLevel = 0
	// WebSocketLevelPushOnly: the socket only receives pushes; every
	// request goes over HTTP.
	WebSocketLevelPushOnly WebSocketLevel = 1
	// WebSocketLevelAll: every request goes over the socket. Init opens
	// it before its pull (a socket that cannot be opened fails Init);
	// while it is down, requests wait for the next one, up to
	// Options.Timeout; a request the socket's loss cut off fails.
	WebSocketLevelAll WebSocketLevel = 2
	// WebSocketLevelDisable: no socket at all.
	WebSocketLevelDisable WebSocketLevel = 3
)

var webSocketLevelNames = map[WebSocketLevel]string{
	WebSocketLevelDefault:  "Default",
	WebSocketLevelPushOnly: "PushOnly",
	WebSocketLevelAll:      "All",
	WebSocketLevelDisable:  "Disable",
}

// String returns the level's name.
func (l WebSocketLevel) String() string { return enumString(l, "WebSocketLevel", webSocketLevelNames) }

// TriggerType is the seed's TriggerType, the web SDK's per-event throttling
// strategy (IMOption.triggerStrategy). Options has no such setting: a Go
// client delivers every event once, in order, and a bot rate-limits in
// middleware. The type is kept so that the seed's values have a name.
type TriggerType int32

// The seed's trigger types.
const (
	// TriggerTypeImmediate fires at once.
	TriggerTypeImmediate TriggerType = 0
	// TriggerTypeThrottle throttles per callback.
	TriggerTypeThrottle TriggerType = 1
	// TriggerTypeDebounce debounces per callback.
	TriggerTypeDebounce TriggerType = 2
	// TriggerTypeThrottleWithArgs throttles per callback and arguments.
	TriggerTypeThrottleWithArgs TriggerType = 3
	// TriggerTypeDebounceWithArgs debounces per callback and arguments.
	TriggerTypeDebounceWithArgs TriggerType = 4
)

var triggerTypeNames = map[TriggerType]string{
	TriggerTypeImmediate:        "Immediate",
	TriggerTypeThrottle:         "Throttle",
	TriggerTypeDebounce:         "Debounce",
	TriggerTypeThrottleWithArgs: "ThrottleWithArgs",
	TriggerTypeDebounceWithArgs: "DebounceWithArgs",
}

// String returns the trigger type's name.
func (t TriggerType) String() string { return enumString(t, "TriggerType", triggerTypeNames) }

// InitResult is the seed's InitResult: the progress of the client's
// initialisation.
type InitResult int32

// The seed's init results.
const (
	// InitResultStart: initialising.
	InitResultStart InitResult = 1
	// InitResultError: initialisation failed.
	InitResultError InitResult = 2
	// InitResultSucceeded: initialisation done.
	InitResultSucceeded InitResult = 3
)

var initResultNames = map[InitResult]string{
	InitResultStart:     "Start",
	InitResultError:     "Error",
	InitResultSucceeded: "Succeeded",
}

// String returns the result's name.
func (r InitResult) String() string { return enumString(r, "InitResult", initResultNames) }

// ErrorType is the kind of an [Error] (the seed's BaseError.type). The seed
// links ErrorType from a page we do not have, so these values are imbot's
// own; the server's own code, when it answered, is in Error.StatusCode.
type ErrorType int32

// Kinds of errors.
const (
	// ErrorTypeUnknown: anything not classified below.
	ErrorTypeUnknown ErrorType = 0
	// ErrorTypeNetwork: the request did not get an answer (connection
	// refused or lost, bad response).
	ErrorTypeNetwork ErrorType = 1
	// ErrorTypeTimeout: the request timed out.
	ErrorTypeTimeout ErrorType = 2
	// ErrorTypeServer: the server answered with a non-OK status.
	ErrorTypeServer ErrorType = 3
	// ErrorTypeInvalidArgument: the caller passed something invalid; the
	// request was not sent.
	ErrorTypeInvalidArgument ErrorType = 4
	// ErrorTypeClosed: the client is closed.
	ErrorTypeClosed ErrorType = 5
)

var errorTypeNames = map[ErrorType]string{
	ErrorTypeUnknown:         "Unknown",
	ErrorTypeNetwork:         "Network",
	ErrorTypeTimeout:         "Timeout",
	ErrorTypeServer:          "Server",
	ErrorTypeInvalidArgument: "InvalidArgument",
	ErrorTypeClosed:          "Closed",
}

// String returns the error type's name.
func (t ErrorType) String() string { return enumString(t, "ErrorType", errorTypeNames) }

// FileType is the kind of file a file message carries, the seed's
// FileInfo.type (FileType, whose values the seed does not list; these are
// the web SDK's).
type FileType string

// File types.
const (
	// FileTypeImage is an image (a MessageTypeImage message).
	FileTypeImage FileType = "image"
	// FileTypeVideo is a video (MessageTypeVideo).
	FileTypeVideo FileType = "video"
	// FileTypeAudio is a voice or audio clip (MessageTypeAudio).
	FileTypeAudio FileType = "audio"
	// FileTypeFile is any other file (MessageTypeFile); the web SDK calls
	// it CommonFile, "object".
	FileTypeFile FileType = "object"
)

// MessageType returns the message type that carries files of type t, or 0
// for an unknown file type.
func (t FileType) MessageType() MessageType {
	switch t {
	case FileTypeImage:
		return MessageTypeImage
	case FileTypeVideo:
		return MessageTypeVideo
	case FileTypeAudio:
		return MessageTypeAudio
	case FileTypeFile:
		return MessageTypeFile
	}
	return 0
}
