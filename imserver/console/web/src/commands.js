// commands.js: the commands the console sends and the pushes it reads. It
// imports nothing, so that build.mjs can read it to keep only the parts of
// the schema these need.

// routes maps each IMCMD the console sends to its HTTP route (improto's
// commands_table.go; TestRoutesMatchImproto checks this table against it).
export const routes = {
  SEND_MESSAGE: 'v1/message/send',
  GET_MESSAGES_BY_USER: 'v1/message/get_by_user',
  GET_MESSAGES_BY_USER_INIT_V2: 'v2/message/get_by_user_init',
  GET_MESSAGES_BY_CONVERSATION: 'v1/message/get_by_conversation',
  MARK_CONVERSATION_READ: 'v1/conversation/mark_read',
  GET_CONVERSATION_INFO_V2: 'v2/conversation/get_info',
  CREATE_CONVERSATION_V2: 'v2/conversation/create',
  RECALL_MESSAGE: 'v1/message/recall',
  SET_MESSAGE_PROPERTY: 'v1/message/set_property',
  GET_CONVERSATION_PARTICIPANTS_READ_INDEX_V3: 'v3/conversation/get_read_index',
  BROADCAST_SEND_MESSAGE: 'v1/broadcast/send_message',
  BROADCAST_RECV_MESSAGE: 'v1/broadcast/recv_message',
  JOIN_LIVE_GROUP: 'v1/live_group/join',
  SEND_FRIEND_APPLY: 'v1/friend/send_apply',
  GET_FRIEND_APPLY_LIST: 'v1/friend/get_apply_list',
  GET_FRIEND_RECEIVE_APPLY_LIST: 'v1/friend/get_receive_apply_list',
  REPLY_FRIEND_APPLY: 'v1/friend/reply_apply',
  GET_FRIEND_LIST: 'v1/friend/get_list',
  GET_MEDIA_UPLOAD_TOKEN: 'v1/media/get_upload_token',
  GET_MEDIA_URLS: 'v1/media/get_urls',
  GET_MEDIA_UPLOAD_CONFIG: 'v1/media/upload_config',
};

// pushBodies maps each push the console reads to the ResponseBody field
// that carries its body (improto/README.md: 505 reuses 500's field).
export const pushBodies = {
  NEW_MSG_NOTIFY: 500,
  MARK_READ_NOTIFY: 501,
  CONVERSATION_INFO_UPDATED_NOTIFY: 502,
  NEW_BROADCAST_MSG_NOTIFY: 500,
  NEW_FRIEND_MSG_NOTIFY: 507,
};

// enumsUsed are the enums the console reads by name.
export const enumsUsed = ['IMCMD', 'StatusCode', 'ConversationType', 'MessageType', 'MessageDirection', 'OPERATION_TYPE', 'FriendMessageType'];
