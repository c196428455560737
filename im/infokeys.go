package im

// InfoKey is a key of an ext map with a meaning the SDK and the server
// share: the seed's InfoKeys. Keys starting with "s:" belong to the system;
// the server does not let clients set them on stored messages.
type InfoKey string

// The seed's InfoKeys, with imbot's additions at the end.
const (
	// InfoKeyMessageMode is the message mode, which tells stranger messages
	// apart ("s:mode"); see Message.IsStrangerMessage.
	InfoKeyMessageMode InfoKey = "s:mode"
	// InfoKeySendResponseStatus holds the send response's statusCode.
	InfoKeySendResponseStatus InfoKey = "s:send_response_status"
	// InfoKeySendResponseExtraInfo holds the send response's extraInfo.
	InfoKeySendResponseExtraInfo InfoKey = "s:send_response_extra_info"
	// InfoKeySendResponseCheckCode holds the send response's checkCode.
	InfoKeySendResponseCheckCode InfoKey = "s:send_response_check_code"
	// InfoKeySendResponseCheckMessage holds the send response's
	// checkMessage.
	InfoKeySendResponseCheckMessage InfoKey = "s:send_response_check_msg"
	// InfoKeyClientMessageID is the message's client id (Message.ClientID).
	InfoKeyClientMessageID InfoKey = "s:client_message_id"
	// InfoKeyMentionedUsers lists the mentioned users, comma-separated; 0
	// means everyone (Message.MentionedUsers).
	InfoKeyMentionedUsers InfoKey = "s:mentioned_users"
	// InfoKeyDoNotIncreaseUnread, set to "true", keeps the message out of
	// unread counts (e.g. "left the group" system messages).
	InfoKeyDoNotIncreaseUnread InfoKey = "s:do_not_increase_unread"
	// InfoKeyDoNotPopConversation, set to "true", keeps the message from
	// moving its conversation up the list (e.g. "left the group" system
	// messages).
	InfoKeyDoNotPopConversation InfoKey = "s:do_not_pop_conversation"
	// InfoKeyIsRecalled is "true" on a recalled message.
	InfoKeyIsRecalled InfoKey = "s:is_recalled"
	// InfoKeyServerMessageID is the message's server id.
	InfoKeyServerMessageID InfoKey = "s:server_message_id"
	// InfoKeyLocalLogID is the log id of the request, for RTT reports.
	InfoKeyLocalLogID InfoKey = "s:local_logid"
	// InfoKeyMessageVisible lists the users who may see the message,
	// comma-separated.
	InfoKeyMessageVisible InfoKey = "s:visible"
	// InfoKeyMessageInvisible lists the users who may not see the message,
	// comma-separated.
	InfoKeyMessageInvisible InfoKey = "s:invisible"
	// InfoKeyIsRootReference is "true" on the message that starts a chain
	// of quotes.
	InfoKeyIsRootReference InfoKey = "s:is_root_ref"
	// InfoKeyMarkMessageNewExt is the message's mark field.
	InfoKeyMarkMessageNewExt InfoKey = "s:mark_message_new_ext"
	// InfoKeyDoNotUpdateLastMessage, set to "true", keeps the message from
	// becoming its conversation's last message.
	InfoKeyDoNotUpdateLastMessage InfoKey = "s:do_not_update_last_msg"
	// InfoKeyDoNotMoveReadIndex, set to "true", keeps the message from
	// moving the read index.
	InfoKeyDoNotMoveReadIndex InfoKey = "s:do_not_move_read_index"
	// InfoKeyFileExtKeyAudioAsrText is the text recognised in an audio
	// message.
	InfoKeyFileExtKeyAudioAsrText InfoKey = "s:file_ext_key_audio_asr_text"
	// InfoKeyRecognitionResponseCheckCode passes the content check's
	// check_code to the user (by convention: a sensitive word matched).
	InfoKeyRecognitionResponseCheckCode InfoKey = "s:recognition_response_check_code"
	// InfoKeyRecognitionResponseCheckMsg passes the content check's
	// check_message to the user.
	InfoKeyRecognitionResponseCheckMsg InfoKey = "s:recognition_response_check_msg"
	// InfoKeyPushPartDisableConfig is the setting ext key holding the
	// weak-mute white lists, JSON (ConversationSettingWeakMuteInfo).
	InfoKeyPushPartDisableConfig InfoKey = "s:push_part_disable_config"
	// InfoKeyMustNotify forces a notification for the message.
	InfoKeyMustNotify InfoKey = "s:must_notify"
	// InfoKeyMessagePriority is the priority of a live-chat message, "0" to
	// "2" (Message.Priority).
	InfoKeyMessagePriority InfoKey = "s:message_priority"

	// InfoKeyPushStatus is imbot's setting ext key for the seed's
	// PushStatus, "0" to "3" (improto README, choice 19): the seed does not
	// say where PushStatus travels.
	InfoKeyPushStatus InfoKey = "s:push_status"
)
