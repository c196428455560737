package bot

import (
	"strconv"

	"github.com/imbot-go/imbot/im"
)

// EventKind says what happened.
type EventKind int

// Event kinds.
const (
	// EventMessage is a new message in a conversation the bot is in.
	EventMessage EventKind = iota + 1
	// EventMessageRecalled is a message recalled by its sender or an admin.
	EventMessageRecalled
	// EventPropertyChanged is a change of a message's properties
	// (reactions and the like).
	EventPropertyChanged
	// EventConversationCreated is a conversation the bot was added to or
	// that was created with it.
	EventConversationCreated
	// EventConversationUpdated is a change of a conversation's core or
	// setting info, or of its mute state.
	EventConversationUpdated
	// EventConversationDissolved is a group dissolved by its owner.
	EventConversationDissolved
	// EventParticipantsAdded and EventParticipantsRemoved are membership
	// changes; Event.Participants lists who. When the bot itself leaves or
	// is removed, EventParticipantsRemoved lists the bot alone, with the
	// conversation as the bot last knew it.
	EventParticipantsAdded
	EventParticipantsRemoved
	// EventFriendApplyReceived is a friend apply sent to the bot.
	EventFriendApplyReceived
	// EventFriendAdded is a new friend of the bot.
	EventFriendAdded
)

var eventKindNames = map[EventKind]string{
	EventMessage:               "message",
	EventMessageRecalled:       "message recalled",
	EventPropertyChanged:       "property changed",
	EventConversationCreated:   "conversation created",
	EventConversationUpdated:   "conversation updated",
	EventConversationDissolved: "conversation dissolved",
	EventParticipantsAdded:     "participants added",
	EventParticipantsRemoved:   "participants removed",
	EventFriendApplyReceived:   "friend apply received",
	EventFriendAdded:           "friend added",
}

func (k EventKind) String() string {
	if s, ok := eventKindNames[k]; ok {
		return s
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is what a handler handles. Which fields are set depends on Kind.
type Event struct {
	Kind EventKind
	// Message is the message of message events, as it is now.
	Message *im.Message
	// Previous is the message before a change (recall, properties), when
	// the client knew it.
	Previous *im.Message
	// Conversation is the conversation the event happened in, when the
	// client knows it.
	Conversation *im.Conversation
	// ConversationRef names that conversation; set for every conversation
	// event, even when Conversation is nil.
	ConversationRef im.ConversationRef
	// Participants are the users added or removed.
	Participants []im.UserID
	// FriendApply is the apply of EventFriendApplyReceived.
	FriendApply *im.FriendApply
	// Friend is the friend of EventFriendAdded.
	Friend *im.Friend
	// Cursor is the sync position to resume from so that this event's
	// message is delivered again (see im.MessageEvent.Cursor); 0 for a
	// message a replica of a cluster pulled when it took the
	// conversation's partition over (Options.Cluster).
	Cursor int64

	part   *partition // the partition held for the event (Options.Cluster); nil without a cluster
	pulled bool       // pulled on taking part over: it holds no sync position
}

// Sender returns the user the event is about: the message's sender (for
// a property change or a recall too, whoever made it), the applicant of a
// friend apply, the new friend, or 0.
func (e *Event) Sender() im.UserID {
	switch {
	case e.Message != nil:
		return e.Message.Sender
	case e.FriendApply != nil:
		return e.FriendApply.FromUserID
	case e.Friend != nil:
		return e.Friend.UserID
	}
	return 0
}
