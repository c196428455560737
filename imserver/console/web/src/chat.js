// chat.js: the state of one logged-in user, kept in step with the server
// the way the Go client (package im) keeps it: a first sync (203), then the
// user's inbox stream from its cursor (200), applied in order. Pushes (500)
// whose previous_cursor is the cursor are applied at once; any other push,
// and every reconnect, pulls from the cursor, so that a dropped socket
// neither loses nor doubles a message. A message is kept at its highest
// version.
import { fileContent, fileTypes, humanSize, kindOfMime, mimeOf, summary } from './files.js';
import { StatusCode, enums, push } from './proto.js';
import { CallError, NetworkError } from './transport.js';

const CT = enums.ConversationType;
const MT = enums.MessageType;
const textType = MT.MESSAGE_TYPE_TEXT;
const pageSize = 50; // messages per history page (301, 2008)
const urlMargin = 60000; // ms before a file URL's expiry that a fresh one is asked for
const measureWait = 3000; // ms a media element gets to read a file's duration
export const reactionKey = 'reaction'; // the message property reactions live under

// textOf returns the text of a message's content ({"text": "..."}), or "".
export function textOf(content) {
  try {
    const v = JSON.parse(content);
    return typeof v.text === 'string' ? v.text : '';
  } catch {
    return '';
  }
}

// mentionsOf returns the users a message mentions (ext s:mentioned_users; 0
// is everyone).
export function mentionsOf(m) {
  const s = m.ext && m.ext['s:mentioned_users'];
  return s ? s.split(',').map(Number).filter((n) => !Number.isNaN(n)) : [];
}

export const isRecalled = (m) => !!m.ext && m.ext['s:is_recalled'] === 'true';

function newID() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// Conversation is what the console knows about one conversation.
class Conversation {
  constructor(id) {
    this.id = id;
    this.shortId = 0;
    this.type = CT.ONE_TO_ONE_CHAT;
    this.name = '';
    this.members = [];
    this.owner = 0;
    this.badge = 0; // unread messages
    this.readIndex = 0; // mine
    this.readIndexes = new Map(); // other members' read indexes
    this.messages = new Map(); // server id → message (MessageBody, highest version)
    this.pending = []; // sends not yet acknowledged: {clientId, text, status, ...}
    this.lastIndex = 0; // the latest message index known
    this.lastOrder = 0;
    this.history = false; // the latest page has been loaded (301 / 2008)
    this.hasOlder = true;
    this.joined = false; // live chats: joined in this session
  }

  ref() {
    return { conversation_id: this.id, conversation_short_id: this.shortId, conversation_type: this.type };
  }

  // sorted returns the messages in index order.
  sorted() {
    return [...this.messages.values()].sort((a, b) => a.index_in_conversation - b.index_in_conversation);
  }

  last() {
    let last = null;
    for (const m of this.messages.values()) {
      if (!last || m.index_in_conversation > last.index_in_conversation) last = m;
    }
    return last;
  }

  oldestIndex() {
    let min = Infinity;
    for (const m of this.messages.values()) min = Math.min(min, m.index_in_conversation);
    return min === Infinity ? 0 : min;
  }
}

// Chat holds one user's conversations and friends. It emits 'change'
// (detail: what changed: 'list', a conversation id, 'friends'), 'notice'
// (detail: text) and 'logout' (detail: why) events.
export class Chat extends EventTarget {
  constructor(transport, me) {
    super();
    this.t = transport;
    this.me = me;
    this.convs = new Map();
    this.cursor = 0;
    this.active = null; // the open conversation's id
    this.queue = Promise.resolve(); // sync steps, one at a time
    this.pullAgain = false;
    this.friends = { list: [], received: [], sent: [] };
    this.urls = new Map(); // file key → {url, expire (ms)}: GET_MEDIA_URLS answers
    this.urlCalls = new Map(); // file key → the GET_MEDIA_URLS in flight
    this.mediaConfig = null; // the GET_MEDIA_UPLOAD_CONFIG answer, once asked
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // run queues a sync step after the ones before it.
  run(step) {
    const p = this.queue.then(step);
    this.queue = p.catch((err) => this.fail(err));
    return p;
  }

  // fail reports an error: a refused token logs out; anything else is a
  // notice (network errors are retried by the reconnect's pull).
  fail(err) {
    if (err instanceof CallError && err.tokenRejected) {
      this.emit('logout', err.code === StatusCode.EXPIRED_TOKEN ? 'Your session expired. Log in again.' : 'Your token was refused. Log in again.');
      return;
    }
    if (!(err instanceof NetworkError)) this.emit('notice', err.message);
    console.warn('console:', err);
  }

  conv(id) {
    let c = this.convs.get(id);
    if (!c) {
      c = new Conversation(id);
      this.convs.set(id, c);
    }
    return c;
  }

  // putInfo takes a ConversationInfoV2. The server's unread count is taken
  // at init only (withBadge); after that the console counts the messages
  // it applies, which the count of a later fetch would already include.
  putInfo(info, withBadge) {
    const c = this.conv(info.conversation_id);
    c.shortId = Number(info.conversation_short_id);
    c.type = info.conversation_type;
    const core = info.conversation_core_info;
    if (core) {
      c.name = core.name || '';
      c.owner = Number(core.owner);
    }
    const page = info.first_page_participants;
    if (page) c.members = page.participants.map((p) => Number(p.user_id));
    const setting = info.conversation_setting_info;
    if (setting) c.readIndex = Math.max(c.readIndex, Number(setting.read_index));
    if (withBadge) c.badge = info.badge_count;
    return c;
  }

  // init runs the first sync: conversations and their latest messages.
  async init() {
    let cursor = 0;
    for (let page = 0; page < 20; page++) {
      const b = await this.t.call('GET_MESSAGES_BY_USER_INIT_V2', { cursor });
      if (page === 0) this.cursor = Number(b.per_user_cursor);
      for (const info of b.conversations) this.putInfo(info, true);
      for (const m of b.messages) this.store(m);
      if (!b.has_more) break;
      cursor = Number(b.next_cursor);
    }
    this.emit('change', 'list');
    this.refreshFriends();
  }

  // store keeps m if it is newer than what is known; it reports whether m
  // is a message not seen before.
  store(m) {
    const c = this.conv(m.conversation_id);
    const id = Number(m.server_message_id);
    const prev = c.messages.get(id);
    if (prev && prev.version >= m.version) return false;
    c.messages.set(id, m);
    const cid = m.ext && m.ext['s:client_message_id'];
    if (cid) c.pending = c.pending.filter((p) => p.clientId !== cid);
    const index = Number(m.index_in_conversation);
    if (index > c.lastIndex) {
      c.lastIndex = index;
      c.lastOrder = Number(m.order_in_conversation);
    }
    return !prev;
  }

  // pull applies the inbox stream from the cursor until the server has
  // nothing more. Called on the queue.
  async pull() {
    for (;;) {
      const b = await this.t.call('GET_MESSAGES_BY_USER', { cursor: this.cursor, limit: 200 });
      for (const m of b.messages) await this.apply(m);
      const next = Number(b.next_cursor);
      if (next > this.cursor) this.cursor = next;
      if (!b.has_more || next <= 0) return;
    }
  }

  // catchUp pulls now (after a reconnect, or when asked).
  catchUp() {
    return this.run(async () => {
      await this.pull();
      const c = this.convs.get(this.active);
      if (c && c.type === CT.MASS_CHAT && c.joined) await this.liveCatchUp(c);
    });
  }

  // apply takes one inbox entry: a new message or a change to one. The
  // conversation's info and a gap before the message are fetched on the
  // way; if the server refuses those (the conversation is no longer
  // readable), the message is applied all the same, so that the stream
  // moves on. A network error stops the pull, which resumes from the
  // cursor later.
  async apply(m) {
    const c = this.convs.get(m.conversation_id);
    const conv = this.conv(m.conversation_id);
    const index = Number(m.index_in_conversation);
    try {
      if (!c || !c.shortId) await this.refreshConversation(m.conversation_id, m.conversation_type);
      if (conv.history && index > conv.lastIndex + 1) await this.fillGap(conv, conv.lastIndex, index);
    } catch (err) {
      if (!(err instanceof CallError) || err.tokenRejected) throw err;
      console.warn('console:', err);
    }
    if (!conv.shortId) conv.shortId = Number(m.conversation_short_id);
    conv.type = m.conversation_type;
    const isNew = this.store(m);
    if (isNew && index > conv.readIndex && Number(m.sender) !== this.me && !m.ext['s:do_not_increase_unread']) {
      if (this.active === conv.id && document.visibilityState === 'visible') this.markRead(conv);
      else conv.badge++;
    }
    this.emit('change', conv.id);
  }

  // fillGap loads the messages between two indexes that the stream skipped.
  async fillGap(conv, last, next) {
    const b = await this.t.call('GET_MESSAGES_BY_CONVERSATION', {
      ...conv.ref(), direction: enums.MessageDirection.NEWER, anchor_index: last, limit: Math.min(next - last - 1, 100),
    });
    for (const m of b.messages) if (Number(m.index_in_conversation) < next) this.store(m);
  }

  async refreshConversation(id, type) {
    const b = await this.t.call('GET_CONVERSATION_INFO_V2', { conversation_id: id, conversation_type: type });
    if (b.conversation_info) this.putInfo(b.conversation_info);
    this.emit('change', 'list');
  }

  // onPush handles a server push.
  onPush(resp) {
    const body = resp.body || {};
    switch (resp.cmd) {
      case push.NEW_MSG_NOTIFY: {
        const n = body.has_new_message_notify;
        this.run(async () => {
          const prev = Number(n.previous_cursor);
          const next = Number(n.next_cursor);
          if (next <= this.cursor) return; // applied by a pull already
          if (!n.message || prev !== this.cursor) return this.pull(); // a gap: pull it
          await this.apply(n.message);
          this.cursor = next;
        });
        break;
      }
      case push.NEW_BROADCAST_MSG_NOTIFY: {
        const m = body.has_new_message_notify && body.has_new_message_notify.message;
        if (m) this.run(() => this.applyLive(m));
        break;
      }
      case push.MARK_READ_NOTIFY: {
        const n = body.mark_conversation_read_notify;
        const c = this.convs.get(n.conversation_id);
        if (!c) break;
        const user = Number(n.user_id);
        const idx = Number(n.read_index);
        if (user === this.me) {
          c.readIndex = Math.max(c.readIndex, idx);
          if (c.readIndex >= c.lastIndex) c.badge = 0;
        } else {
          c.readIndexes.set(user, Math.max(c.readIndexes.get(user) || 0, idx));
        }
        this.emit('change', c.id);
        break;
      }
      case push.CONVERSATION_INFO_UPDATED_NOTIFY: {
        const n = body.conversation_info_updated_notify;
        if (n && n.conversation) this.run(() => this.refreshConversation(n.conversation.conversation_id, n.conversation.conversation_type));
        break;
      }
      case push.NEW_FRIEND_MSG_NOTIFY:
        this.onFriendPush(body.new_friend_message_notify);
        break;
    }
  }

  async applyLive(m) {
    if (!this.convs.get(m.conversation_id)) await this.refreshConversation(m.conversation_id, m.conversation_type);
    const c = this.conv(m.conversation_id);
    if (this.store(m) && this.active !== c.id && Number(m.sender) !== this.me) c.badge++;
    this.emit('change', c.id);
  }

  // liveCatchUp loads the live chat's messages after the latest one known
  // (2008 forward): what a dropped socket missed, its own sends included.
  async liveCatchUp(c) {
    for (;;) {
      const b = await this.t.call('BROADCAST_RECV_MESSAGE', { ...c.ref(), cursor: c.lastIndex, limit: pageSize });
      for (const m of b.messages) this.store(m);
      this.emit('change', c.id);
      if (!b.has_more || !b.messages.length) return;
    }
  }

  // open makes id the active conversation: loads its latest page, the
  // members' read indexes, and marks it read.
  async open(id) {
    this.active = id;
    const c = this.convs.get(id);
    if (!c) return;
    this.emit('change', id);
    if (c.type === CT.MASS_CHAT && !c.joined) {
      await this.t.call('JOIN_LIVE_GROUP', c.ref());
      c.joined = true;
    }
    if (!c.history) {
      await this.loadPage(c, 0);
      c.history = true;
    }
    if (c.type !== CT.MASS_CHAT) {
      const b = await this.t.call('GET_CONVERSATION_PARTICIPANTS_READ_INDEX_V3', c.ref());
      for (const p of b.indexes) {
        const u = Number(p.user_id);
        if (u !== this.me) c.readIndexes.set(u, Math.max(c.readIndexes.get(u) || 0, Number(p.index)));
      }
    }
    this.markRead(c);
    this.emit('change', id);
  }

  // loadPage loads the page before index `before` (0: the latest page).
  async loadPage(c, before) {
    let msgs;
    let more;
    if (c.type === CT.MASS_CHAT) {
      const b = await this.t.call('BROADCAST_RECV_MESSAGE', { ...c.ref(), cursor: before, limit: pageSize, reverse: true });
      msgs = b.messages;
      more = b.has_more;
    } else {
      const b = await this.t.call('GET_MESSAGES_BY_CONVERSATION', {
        ...c.ref(), direction: before ? enums.MessageDirection.OLDER : enums.MessageDirection.FROM_LATEST,
        anchor_index: before, limit: pageSize,
      });
      msgs = b.messages;
      more = b.has_more;
    }
    for (const m of msgs) this.store(m);
    c.hasOlder = more && msgs.length > 0 && c.oldestIndex() > 1;
    return msgs.length;
  }

  // loadOlder loads the page before the oldest loaded message.
  async loadOlder(id) {
    const c = this.convs.get(id);
    if (!c || !c.hasOlder || c.loadingOlder) return 0;
    const oldest = c.oldestIndex();
    if (oldest <= 1) {
      c.hasOlder = false;
      return 0;
    }
    c.loadingOlder = true;
    try {
      const n = await this.loadPage(c, oldest);
      this.emit('change', id);
      return n;
    } finally {
      c.loadingOlder = false;
    }
  }

  markRead(c) {
    c.badge = 0;
    if (c.type === CT.MASS_CHAT || c.lastIndex <= c.readIndex) return;
    c.readIndex = c.lastIndex;
    this.t.call('MARK_CONVERSATION_READ', { ...c.ref(), read_message_index: c.lastIndex }).catch((err) => this.fail(err));
  }

  // send sends text to a conversation. The message shows at once as
  // sending; a failure leaves it failed, for retry.
  send(id, text, { mentions = [], quote = null } = {}) {
    const c = this.convs.get(id);
    const p = { clientId: newID(), text, mentions, quote, status: 'sending', created: Date.now() };
    c.pending.push(p);
    this.emit('change', id);
    return this.deliver(c, p);
  }

  // uploadConfig returns the server's GET_MEDIA_UPLOAD_CONFIG answer
  // ({max_size, allowed_mime_types}), asked once; null when the server
  // does not answer it (the server then judges each file alone).
  async uploadConfig() {
    if (!this.mediaConfig) {
      this.mediaConfig = this.t.call('GET_MEDIA_UPLOAD_CONFIG', {}).catch((err) => {
        if (err instanceof NetworkError) this.mediaConfig = null; // ask again next time
        console.warn('console: no upload config:', err);
        return null;
      });
    }
    return this.mediaConfig;
  }

  // refusal says why the server's upload config refuses file, or ''.
  async refusal(file) {
    const cfg = await this.uploadConfig();
    if (!cfg) return '';
    const max = Number(cfg.max_size);
    const mime = mimeOf(file);
    if (max > 0 && file.size > max) {
      return `"${file.name}" is ${humanSize(file.size)}; this server takes files of at most ${humanSize(max)}.`;
    }
    const allowed = cfg.allowed_mime_types || [];
    if (allowed.length && !allowed.includes(mime)) {
      return `"${file.name}" is ${mime}; this server takes only ${allowed.join(', ')}.`;
    }
    return '';
  }

  // sendFiles sends each file as a file message: checked against the
  // upload config first, then uploaded (with progress events) and sent.
  // It returns the refusals, one sentence each, of the files it did not
  // start; the others show as pending messages.
  async sendFiles(id, files) {
    const c = this.convs.get(id);
    const refused = [];
    const started = [];
    for (const file of files) {
      const why = await this.refusal(file);
      if (why) {
        refused.push(why);
        continue;
      }
      const mime = mimeOf(file);
      const p = {
        clientId: newID(), file, name: file.name, size: file.size, mime, kind: kindOfMime(file.type || mime),
        status: 'uploading', sent: 0, created: Date.now(),
      };
      c.pending.push(p);
      started.push(p);
    }
    if (started.length) this.emit('change', id);
    for (const p of started) this.deliver(c, p);
    return refused;
  }

  // discard drops a failed send.
  discard(id, clientId) {
    const c = this.convs.get(id);
    if (!c) return;
    c.pending = c.pending.filter((p) => p.clientId !== clientId || p.status !== 'failed');
    this.emit('change', id);
  }

  // upload uploads a pending file send's file and makes its content:
  // GET_MEDIA_UPLOAD_TOKEN, the POST of the bytes, GET_MEDIA_URLS for the
  // remoteURL. A retry after it finished does not upload again.
  async upload(c, p) {
    const f = { kind: p.kind, name: p.name, size: p.size, mime: p.mime, ...(await measure(p.file, p.kind)) };
    const req = { file_name: p.name, file_size: p.size, mime_type: p.mime, file_type: fileTypes[p.kind].type };
    if (c.type !== CT.MASS_CHAT) Object.assign(req, c.ref());
    const tok = await this.t.call('GET_MEDIA_UPLOAD_TOKEN', req);
    p.sent = 0;
    const up = await this.t.upload(tok.upload_url, p.file, (sent, total) => {
      p.sent = sent;
      this.emit('progress', { conv: c.id, clientId: p.clientId, sent, total });
    });
    f.key = up.file_key;
    const b = await this.t.call('GET_MEDIA_URLS', { file_keys: [f.key] });
    const u = (b.urls || []).find((x) => x.file_key === f.key);
    if (!u) throw new Error(`the server gave no URL for the file it took (${f.key})`);
    this.urls.set(f.key, { url: this.t.apiURL(u.url), expire: Number(u.expire_time) });
    f.remoteURL = this.t.apiURL(u.url);
    Object.assign(p, fileContent(f));
  }

  // fileURL returns the URL to show the file f of message m by: for a file
  // with a key, a URL from GET_MEDIA_URLS (naming the message, so that the
  // server lets a member read a file someone else sent), kept until near
  // its expiry; else, or when the server gives none, its remoteURL.
  // fresh asks again even when a URL is kept.
  async fileURL(convId, m, f, fresh) {
    if (!f.key) return f.remoteURL;
    const kept = this.urls.get(f.key);
    if (kept && !fresh && kept.expire - Date.now() > urlMargin) return kept.url;
    let call = this.urlCalls.get(f.key);
    if (!call) {
      const c = this.convs.get(convId);
      const req = { file_keys: [f.key] };
      if (c && m.server_message_id) Object.assign(req, c.ref(), { server_message_id: Number(m.server_message_id) });
      call = this.t.call('GET_MEDIA_URLS', req).then((b) => {
        const u = (b.urls || []).find((x) => x.file_key === f.key);
        if (!u) return '';
        const got = { url: this.t.apiURL(u.url), expire: Number(u.expire_time) };
        this.urls.set(f.key, got);
        return got.url;
      }).finally(() => this.urlCalls.delete(f.key));
      this.urlCalls.set(f.key, call);
    }
    try {
      return (await call) || f.remoteURL;
    } catch (err) {
      if (err instanceof CallError && err.tokenRejected) this.fail(err);
      console.warn('console: no URL for file', f.key, err);
      return f.remoteURL;
    }
  }

  // urlFresh reports whether a kept URL for key is good for a while yet.
  urlFresh(key) {
    const kept = this.urls.get(key);
    return !!kept && kept.expire - Date.now() > urlMargin;
  }

  retry(id, clientId) {
    const c = this.convs.get(id);
    const p = c && c.pending.find((x) => x.clientId === clientId);
    if (p) {
      p.status = p.file && !p.content ? 'uploading' : 'sending';
      this.emit('change', id);
      return this.deliver(c, p);
    }
  }

  // deliver sends a pending message (a file send uploads first) under its
  // client message id, the same on every retry.
  async deliver(c, p) {
    try {
      if (p.file && !p.content) {
        await this.upload(c, p);
        p.status = 'sending';
        this.emit('change', c.id);
      }
    } catch (err) {
      p.status = 'failed';
      p.error = err.message;
      if (err instanceof CallError && err.tokenRejected) this.fail(err);
      this.emit('change', c.id);
      return;
    }
    const ext = { 's:client_message_id': p.clientId };
    const body = {
      ...c.ref(), content: p.content || JSON.stringify({ text: p.text }), message_type: p.type || textType,
      client_message_id: p.clientId, mentioned_users: p.mentions || [], ext,
    };
    if (p.quote) {
      body.ref_msg_info = { referenced_message_id: Number(p.quote.server_message_id), hint: textOf(p.quote.content) || summary(p.quote) };
    }
    try {
      if (c.type === CT.MASS_CHAT) {
        delete body.ext;
        delete body.ref_msg_info;
        await this.t.call('BROADCAST_SEND_MESSAGE', body);
        p.status = 'sent'; // until the server's copy, from its 505 push, replaces it
        if (c.pending.includes(p)) await this.liveCatchUp(c); // the push was missed
      } else {
        await this.t.call('SEND_MESSAGE', body);
        p.status = 'sent'; // until the server's copy, from the inbox stream, replaces it
        if (c.pending.includes(p)) this.catchUp();
      }
    } catch (err) {
      p.status = 'failed';
      p.error = err.message;
      if (err instanceof CallError && err.tokenRejected) this.fail(err);
    }
    this.emit('change', c.id);
  }

  async recall(id, m) {
    const c = this.convs.get(id);
    await this.t.call('RECALL_MESSAGE', { ...c.ref(), server_message_id: Number(m.server_message_id) });
  }

  // react adds or, when already there, removes the user's reaction.
  async react(id, m, emoji) {
    const c = this.convs.get(id);
    const items = (m.property_list[reactionKey] || { Items: [] }).Items;
    const mine = items.some((it) => Number(it.uid) === this.me && it.value === emoji);
    const op = mine ? enums.OperationType.REMOVE_PROPERTY_ITEM : enums.OperationType.ADD_PROPERTY_ITEM;
    await this.t.call('SET_MESSAGE_PROPERTY', {
      property_list: {
        ...c.ref(), server_message_id: Number(m.server_message_id),
        modify_property_content: [{ operation: op, key: reactionKey, value: emoji, idempotent_id: `${this.me}:${reactionKey}:${emoji}` }],
      },
    });
  }

  // create creates a conversation and returns its id.
  async create(type, participants, name) {
    const body = { conversation_type: type, participants, idempotent_id: newID() };
    if (name) body.name = name;
    const b = await this.t.call('CREATE_CONVERSATION_V2', body);
    const c = this.putInfo(b.conversation);
    this.emit('change', 'list');
    return c.id;
  }

  async refreshFriends() {
    try {
      const [list, received, sent] = await Promise.all([
        this.t.call('GET_FRIEND_LIST', { limit: 200 }),
        this.t.call('GET_FRIEND_RECEIVE_APPLY_LIST', { limit: 200 }),
        this.t.call('GET_FRIEND_APPLY_LIST', { limit: 200 }),
      ]);
      this.friends = { list: list.user_list, received: received.user_list, sent: sent.user_list };
      this.emit('change', 'friends');
    } catch (err) {
      this.fail(err);
    }
  }

  onFriendPush(n) {
    const FT = enums.FriendMessageType;
    const from = Number(n.from_id);
    const a = n.apply;
    switch (n.message_type) {
      case FT.SendApply:
        this.emit('notice', `User ${from} sent you a friend apply.`);
        break;
      case FT.ReplyApply:
        if (a) this.emit('notice', `User ${Number(a.to_user_id)} ${a.status === 1 ? 'accepted' : 'refused'} your friend apply.`);
        break;
      case FT.AddFriend:
        this.emit('notice', `You and user ${n.friend ? Number(n.friend.user_id) : from} are friends now.`);
        break;
    }
    this.refreshFriends();
  }

  async applyFriend(user) {
    const b = await this.t.call('SEND_FRIEND_APPLY', { user_id: user });
    await this.refreshFriends();
    return b;
  }

  async replyApply(user, accept) {
    await this.t.call('REPLY_FRIEND_APPLY', { user_id: [user], attitude: accept ? 0 : 1 });
    await this.refreshFriends();
  }
}

// measure reads, in the browser, what a file message says of its file: an
// image's width and height (createImageBitmap), a video's size and
// duration or an audio's duration (a media element's loadedmetadata,
// given measureWait). What cannot be read is left out.
async function measure(file, kind) {
  if (kind === 'image') {
    try {
      const bm = await createImageBitmap(file);
      const out = { width: bm.width, height: bm.height };
      bm.close();
      return out;
    } catch {
      return {}; // not an image the browser decodes; the server judges it
    }
  }
  if (kind !== 'video' && kind !== 'audio') return {};
  const el = document.createElement(kind);
  const url = URL.createObjectURL(file);
  try {
    return await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({}), measureWait);
      el.onloadedmetadata = () => {
        clearTimeout(timer);
        const out = {};
        if (Number.isFinite(el.duration) && el.duration > 0) out.duration = el.duration;
        if (kind === 'video' && el.videoWidth) Object.assign(out, { width: el.videoWidth, height: el.videoHeight });
        resolve(out);
      };
      el.onerror = () => {
        clearTimeout(timer);
        resolve({});
      };
      el.preload = 'metadata';
      el.src = url;
    });
  } finally {
    el.removeAttribute('src');
    URL.revokeObjectURL(url);
  }
}
