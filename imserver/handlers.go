package imserver

import "github.com/imbot-go/imbot/improto"

// commandHandlers is the table of the commands the server serves; every
// other command of the reference is answered INVALID_CMD.
func (s *Server) commandHandlers() map[improto.IMCMD]handler {
	return map[improto.IMCMD]handler{
		// Messages: messages.go, pull.go, message_ops.go.
		improto.IMCMD_SEND_MESSAGE:                  s.sendMessage,
		improto.IMCMD_GET_MESSAGES_BY_USER:          s.getMessagesByUser,
		improto.IMCMD_GET_MESSAGES_BY_USER_INIT_V2:  s.getMessagesByUserInit,
		improto.IMCMD_GET_MESSAGES_BY_CONVERSATION:  s.getMessagesByConversation,
		improto.IMCMD_GET_MESSAGE_INFO_BY_SERVER_ID: s.getMessageByID,
		improto.IMCMD_DELETE_MESSAGE:                s.deleteMessage,
		improto.IMCMD_RECALL_MESSAGE:                s.recallMessage,
		improto.IMCMD_SET_MESSAGE_PROPERTY:          s.setMessageProperty,
		improto.IMCMD_MODIFY_MESSAGE_EXT:            s.modifyMessageExt,

		// Conversations: conversation.go, conversation_info.go.
		improto.IMCMD_CREATE_CONVERSATION_V2:                      s.createConversation,
		improto.IMCMD_GET_CONVERSATION_INFO_V2:                    s.getConversationInfo,
		improto.IMCMD_GET_CONVERSATION_INFO_LIST_V2:               s.getConversationInfoList,
		improto.IMCMD_GET_USER_CONVERSATION_LIST:                  s.getUserConversationList,
		improto.IMCMD_MARK_CONVERSATION_DELETE:                    s.deleteConversation,
		improto.IMCMD_MARK_CONVERSATION_READ:                      s.markConversationRead,
		improto.IMCMD_MARK_CONVERSATION_READ_V3:                   s.markConversationRead,
		improto.IMCMD_GET_CONVERSATION_PARTICIPANTS_READ_INDEX_V3: s.getReadIndexes,
		improto.IMCMD_GET_CONVERSATION_CORE_INFO:                  s.getCoreInfo,
		improto.IMCMD_SET_CONVERSATION_CORE_INFO:                  s.setCoreInfo,
		improto.IMCMD_UPSERT_CONVERSATION_CORE_EXT_INFO:           s.upsertCoreExt,
		improto.IMCMD_GET_CONVERSATION_SETTING_INFO:               s.getSettingInfo,
		improto.IMCMD_SET_CONVERSATION_SETTING_INFO:               s.setSettingInfo,
		improto.IMCMD_UPSERT_CONVERSATION_SETTING_EXT_INFO:        s.upsertSettingExt,

		// Members and moderation: members.go.
		improto.IMCMD_DISSOLVE_CONVERSATION:            s.dissolveConversation,
		improto.IMCMD_LEAVE_CONVERSATION:               s.leaveConversation,
		improto.IMCMD_ADD_CONVERSATION_PARTICIPANTS:    s.addParticipants,
		improto.IMCMD_REMOVE_CONVERSATION_PARTICIPANTS: s.removeParticipants,
		improto.IMCMD_CONVERSATION_PARTICIPANTS_LIST:   s.listParticipants,
		improto.IMCMD_MGET_CONVERSATION_PARTICIPANTS:   s.mgetParticipants,
		improto.IMCMD_UPDATE_CONVERSATION_PARTICIPANT:  s.updateParticipant,
		improto.IMCMD_BLOCK_MEMBERS:                    s.blockMembers,
		improto.IMCMD_BLOCK_CONVERSATION:               s.blockConversation,

		// Live chats: live.go.
		improto.IMCMD_BROADCAST_SEND_MESSAGE: s.sendLiveMessage,
		improto.IMCMD_BROADCAST_RECV_MESSAGE: s.receiveLiveMessages,
		improto.IMCMD_BROADCAST_USER_COUNTER: s.liveUserCounter,
		improto.IMCMD_JOIN_LIVE_GROUP:        s.joinLiveGroup,
		improto.IMCMD_LEAVE_LIVE_GROUP:       s.leaveLiveGroup,
		improto.IMCMD_GET_LIVE_GROUP_MEMBERS: s.liveGroupMembers,

		// Friends: friends.go.
		improto.IMCMD_SEND_FRIEND_APPLY:             s.sendFriendApply,
		improto.IMCMD_GET_FRIEND_APPLY_LIST:         s.sentFriendApplies,
		improto.IMCMD_GET_FRIEND_RECEIVE_APPLY_LIST: s.receivedFriendApplies,
		improto.IMCMD_REPLY_FRIEND_APPLY:            s.replyFriendApply,
		improto.IMCMD_GET_FRIEND_LIST:               s.friendList,
		improto.IMCMD_GET_MEDIA_UPLOAD_TOKEN:        s.getUploadToken,
		improto.IMCMD_GET_MEDIA_URLS:                s.getMediaURLs,
		improto.IMCMD_GET_MEDIA_UPLOAD_CONFIG:       s.getMediaUploadConfig,
		improto.IMCMD_DELETE_FRIEND:                 s.deleteFriend,
	}
}
