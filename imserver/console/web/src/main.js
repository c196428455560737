// main.js: the console's page. A login view (any user id when the server
// allows dev login, else a token), then a chat client: conversations on the
// left, the open conversation on the right. All state comes from chat.js,
// which speaks the IM protocol through transport.js.
import { Chat, isRecalled, mentionsOf, reactionKey, textOf } from './chat.js';
import { clockDuration, fileOf, humanSize, isSpecial, summary, typeLabel } from './files.js';
import { enums } from './proto.js';
import { CallError, Transport } from './transport.js';

const CT = enums.ConversationType;
const reactions = ['👍', '❤️', '😂', '🎉'];
const session = sessionStorage; // per tab: each tab may be another user

// h creates an element: h('div.a.b', {onclick, title, ...}, children...).
function h(tag, props, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && k !== 'list') el[k] = v;
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const app = document.getElementById('app');
let config = null;
let chat = null;
let transport = null;

// --- session -----------------------------------------------------------

// tokenUser returns the user id an imbot token was minted for (its claims
// are base64url "appID:userID:expiry"), or 0.
function tokenUser(token) {
  try {
    const claims = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return Number(atob(claims).split(':')[1]) || 0;
  } catch {
    return 0;
  }
}

function deviceID() {
  let d = session.getItem('imbot.device');
  if (!d) {
    d = 'console-' + Math.random().toString(36).slice(2, 10);
    session.setItem('imbot.device', d);
  }
  return d;
}

function recentUsers() {
  try {
    return JSON.parse(localStorage.getItem('imbot.recent') || '[]');
  } catch {
    return [];
  }
}

function remember(user) {
  const list = [user, ...recentUsers().filter((u) => u !== user)].slice(0, 8);
  localStorage.setItem('imbot.recent', JSON.stringify(list));
}

async function devToken(user) {
  const r = await fetch('token', { method: 'POST', body: new URLSearchParams({ user: String(user) }) });
  const text = await r.text();
  if (!r.ok) throw new Error(text.trim() || `HTTP ${r.status}`);
  return JSON.parse(text).token;
}

// --- login ---------------------------------------------------------------

function showLogin(message) {
  if (transport) transport.close();
  transport = chat = null;
  session.removeItem('imbot.token');
  const userInput = h('input', { type: 'number', min: '1', placeholder: 'user id, e.g. 1001', name: 'user', required: true, autofocus: true });
  const tokenInput = h('textarea', { placeholder: 'token from: imserver token -user ID', name: 'token', rows: 3, required: true });
  const error = h('p.error', { role: 'alert' }, message || '');
  const login = async (user, token) => {
    error.textContent = '';
    try {
      const tok = token || (await devToken(user));
      start({ token: tok, user: tokenUser(tok) });
    } catch (err) {
      error.textContent = err.message;
    }
  };
  const recent = recentUsers();
  const form = h('form.login-form', {
    onsubmit: (e) => {
      e.preventDefault();
      if (config.dev_login) login(Number(userInput.value));
      else login(0, tokenInput.value.trim());
    },
  },
  config.dev_login
    ? [h('label', {}, 'Log in as any user of this server', userInput)]
    : [h('label', {}, 'Token', tokenInput)],
  h('button.primary', { type: 'submit' }, 'Log in'));
  app.replaceChildren(h('div.login', {},
    h('div.card', {},
      h('h1', {}, h('span.logo', {}, 'im'), 'bot console'),
      h('p.muted', {}, 'Chat with your bot as any user, over the IM protocol.'),
      error,
      form,
      config.dev_login && recent.length
        ? h('div.recent', {}, h('span.muted', {}, 'Recent:'),
          recent.map((u) => h('button.chip', { type: 'button', onclick: () => login(u) }, `User ${u}`)))
        : null,
      config.dev_login ? null : h('p.muted.small', {}, 'This server has dev login off: paste a token, or open the link the server printed.'))));
}

// --- the chat view -------------------------------------------------------

const view = {}; // the chat view's elements and state
const msgCache = new Map(); // message key → element, for the open conversation
const mediaCache = new Map(); // server id → a file message's file element, kept across versions
const pendingCache = new Map(); // client id → {key, node, p}: the open conversation's pending sends

function nameOf(uid) {
  return uid === chat.me ? 'You' : `User ${uid}`;
}

function convName(c) {
  if (c.name) return c.name;
  if (c.type === CT.ONE_TO_ONE_CHAT) {
    const other = c.members.find((u) => u !== chat.me) || Number(c.id.split(':').filter((x) => x && Number(x) !== chat.me).pop());
    return `User ${other}`;
  }
  return `${c.type === CT.MASS_CHAT ? 'Live' : 'Group'} ${c.shortId}`;
}

function convKind(c) {
  return { [CT.ONE_TO_ONE_CHAT]: 'single', [CT.GROUP_CHAT]: 'group', [CT.MASS_CHAT]: 'live' }[c.type] || 'other';
}

// initials labels an avatar: a user's id (its last four digits), or the
// first letters of a name's first two words.
function initials(s) {
  const m = s.match(/^User (\d+)$/);
  if (m) return m[1].slice(-4);
  return s.split(/\s+/).slice(0, 2).map((w) => w[0]).join('').toUpperCase();
}

function hue(s) {
  let x = 0;
  for (const ch of s) x = (x * 31 + ch.charCodeAt(0)) % 360;
  return x;
}

function avatar(label) {
  return h('div.avatar', { style: `--h:${hue(label)}` }, initials(label));
}

function clock(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const now = new Date();
  const t = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return d.toDateString() === now.toDateString() ? t : d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + t;
}

// plain is a message as one line of text: its text, or a summary such as
// "[image] a.png".
function plain(m) {
  return textOf(m.content) || summary(m);
}

function preview(m) {
  if (!m) return '';
  const who = Number(m.sender) === chat.me ? 'You: ' : '';
  return who + (isRecalled(m) ? 'Message recalled' : plain(m));
}

async function start(s) {
  if (!s.user) {
    showLogin('That token names no user.');
    return;
  }
  session.setItem('imbot.token', s.token);
  const sess = { token: s.token, user: s.user, device: deviceID() };
  transport = new Transport(config, sess, {
    onPush: (resp) => chat && chat.onPush(resp),
    onState: (st) => setStatus(st),
    onOpen: () => chat && chat.catchUp(),
    onDialFailed: () => chat && chat.catchUp(), // over HTTP: finds an expired token
  });
  chat = new Chat(transport, s.user);
  chat.addEventListener('change', (e) => onChange(e.detail));
  chat.addEventListener('notice', (e) => toast(e.detail));
  chat.addEventListener('progress', (e) => onProgress(e.detail));
  chat.addEventListener('logout', (e) => showLogin(e.detail));
  buildShell();
  try {
    await chat.init();
  } catch (err) {
    if (err instanceof CallError && err.tokenRejected) {
      chat.fail(err);
      return;
    }
    toast(`Could not load: ${err.message}`);
  }
  remember(s.user);
  transport.connect();
  const last = session.getItem('imbot.open');
  if (last && chat.convs.has(last)) openConv(last);
}

function setStatus(st) {
  if (!view.status) return;
  const text = { online: 'Online', reconnecting: 'Reconnecting…', connecting: 'Connecting…', closed: 'Offline' }[st] || st;
  view.status.className = `status ${st}`;
  view.status.textContent = text;
}

function buildShell() {
  msgCache.clear();
  mediaCache.clear();
  pendingCache.clear();
  if (view.resize) view.resize.disconnect();
  view.status = h('span.status.connecting', {}, 'Connecting…');
  view.list = h('ul.convs', { role: 'list' });
  view.pane = h('main.pane');
  dropTarget(view.pane);
  const me = `User ${chat.me}`;
  app.replaceChildren(h('div.shell', {},
    h('aside.sidebar', {},
      h('header.me', {},
        avatar(me),
        h('div.who', {}, h('strong', {}, me), view.status),
        h('button.ghost', { title: 'Log in as another user', onclick: () => showLogin() }, 'Switch')),
      h('div.actions', {},
        h('button.primary', { onclick: newChatDialog }, '+ New chat'),
        h('button', { onclick: friendsDialog }, 'Friends', view.friendBadge = h('span.badge.hidden'))),
      view.list),
    view.pane));
  view.open = null;
  renderEmptyPane();
  renderList();
}

// dropTarget lets files be dropped on the open conversation: they are
// sent as the attach button sends them.
function dropTarget(el) {
  const carriesFiles = (e) => view.open && e.dataTransfer && [...e.dataTransfer.types].includes('Files');
  const over = (e) => {
    if (!carriesFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    el.classList.add('dropping');
  };
  el.addEventListener('dragenter', over);
  el.addEventListener('dragover', over);
  el.addEventListener('dragleave', (e) => {
    if (!e.relatedTarget || !el.contains(e.relatedTarget)) el.classList.remove('dropping');
  });
  el.addEventListener('drop', (e) => {
    el.classList.remove('dropping');
    if (!carriesFiles(e)) return;
    e.preventDefault();
    attach([...e.dataTransfer.files]);
  });
}

function renderEmptyPane() {
  view.pane.replaceChildren(h('div.empty', {}, h('p', {}, 'Pick a conversation, or start a new chat.')));
}

function onChange(what) {
  if (!chat) return;
  if (what === 'friends') {
    renderFriendBadge();
    if (view.friends) view.friends();
    return;
  }
  renderList();
  if (what !== 'list' && what === view.open) renderMessages();
}

function sortedConvs() {
  return [...chat.convs.values()]
    .filter((c) => c.shortId)
    .sort((a, b) => (b.lastOrder - a.lastOrder) || (b.shortId - a.shortId));
}

function renderList() {
  const items = sortedConvs().map((c) => {
    const name = convName(c);
    const last = c.last();
    return h('li.conv', {
      className: 'conv' + (c.id === view.open ? ' active' : ''),
      dataset: { id: c.id, kind: convKind(c) },
      onclick: () => openConv(c.id),
    },
    avatar(name),
    h('div.conv-main', {},
      h('div.conv-top', {}, h('span.conv-name', {}, name), convKind(c) !== 'single' ? h('span.tag', {}, convKind(c)) : null,
        h('span.conv-time', {}, last ? clock(Number(last.create_time)) : '')),
      h('div.conv-bottom', {}, h('span.conv-last', {}, preview(last)),
        c.badge > 0 ? h('span.badge.unread', {}, c.badge > 99 ? '99+' : String(c.badge)) : null)));
  });
  view.list.replaceChildren(...(items.length ? items : [h('li.none.muted', {}, 'No conversations yet.')]));
}

// --- the open conversation ----------------------------------------------

function openConv(id) {
  const c = chat.convs.get(id);
  if (!c) return;
  view.open = id;
  session.setItem('imbot.open', id);
  view.quote = null;
  msgCache.clear();
  mediaCache.clear();
  pendingCache.clear();
  const kind = convKind(c);
  const members = c.type === CT.MASS_CHAT ? 'live chat' : `${c.members.length} members`;
  view.msgs = h('div.messages', { onscroll: onScroll });
  view.stream = h('div.stream');
  view.older = h('div.older.muted');
  view.stream.append(view.older);
  view.msgs.append(view.stream);
  // Messages change height after they are placed (off-screen ones have
  // estimated heights until shown): keep the end in view while the user
  // is there.
  if (view.resize) view.resize.disconnect();
  view.resize = new ResizeObserver(() => {
    if (stickToBottom) view.msgs.scrollTop = view.msgs.scrollHeight;
  });
  view.resize.observe(view.stream);
  view.quoteBar = h('div.quote-bar.hidden');
  view.input = h('textarea', {
    rows: 1, placeholder: `Message ${convName(c)}`, 'aria-label': 'Message',
    onkeydown: (e) => {
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        submit();
      }
    },
  });
  view.mentionMenu = h('div.menu.hidden');
  const mentionBtn = h('button.ghost.icon', { type: 'button', title: 'Mention someone', onclick: () => toggleMentionMenu(c) }, '@');
  view.fileInput = h('input.visually-hidden', {
    type: 'file', multiple: true, name: 'attach', tabIndex: -1, 'aria-hidden': 'true',
    onchange: () => {
      attach([...view.fileInput.files]);
      view.fileInput.value = '';
    },
  });
  const attachBtn = h('button.ghost.icon.attach', { type: 'button', title: 'Attach files', 'aria-label': 'Attach files', onclick: () => view.fileInput.click() }, '📎');
  view.attachError = h('p.error.attach-error', { role: 'alert' });
  view.pane.replaceChildren(
    h('header.conv-head', {}, avatar(convName(c)),
      h('div', {}, h('h2', {}, convName(c)), h('span.muted.small', {}, `${kind} · ${members} · id ${c.id}`))),
    view.msgs,
    h('div.composer', {}, view.quoteBar, view.attachError,
      h('form.compose', { onsubmit: (e) => { e.preventDefault(); submit(); } },
        h('div.mention-wrap', {}, mentionBtn, view.mentionMenu),
        attachBtn, view.fileInput,
        view.input,
        h('button.primary', { type: 'submit' }, 'Send'))));
  renderList();
  renderMessages(true);
  chat.open(id).then(() => {
    if (view.open === id) renderMessages(true);
  }, (err) => chat.fail(err));
  view.input.focus();
}

function toggleMentionMenu(c) {
  const m = view.mentionMenu;
  if (!m.classList.contains('hidden')) {
    m.classList.add('hidden');
    return;
  }
  const pick = (label) => () => {
    insertText(`@${label} `);
    m.classList.add('hidden');
  };
  m.replaceChildren(
    h('button', { type: 'button', onclick: pick('everyone') }, '@everyone'),
    ...c.members.filter((u) => u !== chat.me).map((u) => h('button', { type: 'button', onclick: pick(String(u)) }, `@${u}`)));
  m.classList.remove('hidden');
}

function insertText(t) {
  const i = view.input;
  const at = i.selectionStart ?? i.value.length;
  i.value = i.value.slice(0, at) + t + i.value.slice(i.selectionEnd ?? at);
  i.focus();
  i.selectionStart = i.selectionEnd = at + t.length;
}

// mentionsIn returns the users a text mentions: @everyone (0) and @<id>
// for members of c.
function mentionsIn(text, c) {
  const out = new Set();
  for (const [, who] of text.matchAll(/@(everyone|all|\d+)\b/g)) {
    if (who === 'everyone' || who === 'all') out.add(0);
    else if (c.members.includes(Number(who))) out.add(Number(who));
  }
  return [...out];
}

function submit() {
  const text = view.input.value.trim();
  if (!text || !view.open) return;
  const c = chat.convs.get(view.open);
  chat.send(view.open, text, { mentions: mentionsIn(text, c), quote: view.quote });
  view.input.value = '';
  setQuote(null);
  stickToBottom = true;
}

function setQuote(m) {
  view.quote = m;
  if (!m) {
    view.quoteBar.classList.add('hidden');
    view.quoteBar.replaceChildren();
    return;
  }
  view.quoteBar.replaceChildren(
    h('div', {}, h('span.muted.small', {}, `Replying to ${nameOf(Number(m.sender))}`), h('div.quote-text', {}, plain(m))),
    h('button.ghost.icon', { type: 'button', title: 'Cancel reply', onclick: () => setQuote(null) }, '×'));
  view.quoteBar.classList.remove('hidden');
  view.input.focus();
}

let stickToBottom = true;

function onScroll() {
  const el = view.msgs;
  stickToBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  if (el.scrollTop < 80) loadOlder();
}

async function loadOlder() {
  const id = view.open;
  const c = chat.convs.get(id);
  if (!c || !c.history || !c.hasOlder || c.loadingOlder) return;
  view.older.textContent = 'Loading older messages…';
  const el = view.msgs;
  const fromBottom = el.scrollHeight - el.scrollTop;
  try {
    await chat.loadOlder(id); // renders through the change event
  } catch (err) {
    chat.fail(err);
  }
  if (view.open !== id) return;
  el.scrollTop = el.scrollHeight - fromBottom;
  if (el.scrollTop < 80) loadOlder(); // still at the top: no scroll event will come
}

// readState describes who has read my message m.
function readState(c, m) {
  const idx = Number(m.index_in_conversation);
  const others = c.members.filter((u) => u !== chat.me);
  const readers = others.filter((u) => (c.readIndexes.get(u) || 0) >= idx).length;
  if (!readers) return 'Sent';
  return c.type === CT.ONE_TO_ONE_CHAT ? 'Read' : `Read by ${readers}`;
}

function renderText(text, mentions) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(/@(everyone|all|\d+)\b/g)) {
    const who = match[1] === 'everyone' || match[1] === 'all' ? 0 : Number(match[1]);
    if (!mentions.includes(who)) continue;
    parts.push(text.slice(last, match.index), h('span.mention', { className: 'mention' + (who === chat.me || who === 0 ? ' me' : '') }, match[0]));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

function reactionChips(c, m) {
  const items = (m.property_list && m.property_list[reactionKey] && m.property_list[reactionKey].Items) || [];
  const counts = new Map();
  for (const it of items) {
    const e = counts.get(it.value) || { n: 0, mine: false };
    e.n++;
    e.mine = e.mine || Number(it.uid) === chat.me;
    counts.set(it.value, e);
  }
  if (!counts.size) return null;
  return h('div.reactions', {}, [...counts].map(([emoji, e]) => h('button.chip', {
    className: 'chip' + (e.mine ? ' mine' : ''), title: e.mine ? 'Remove your reaction' : 'React',
    onclick: () => chat.react(c.id, m, emoji).catch((err) => chat.fail(err)),
  }, `${emoji} ${e.n}`)));
}

function messageEl(c, m) {
  const sender = Number(m.sender);
  const mine = sender === chat.me;
  const recalled = isRecalled(m);
  const ref = m.reference_info;
  const quoted = ref && Number(ref.referenced_message_id)
    ? (() => {
      const q = c.messages.get(Number(ref.referenced_message_id));
      const text = q ? (isRecalled(q) ? 'Message recalled' : plain(q)) : ref.hint;
      const who = q ? nameOf(Number(q.sender)) : ref.sender ? nameOf(Number(ref.sender)) : '';
      return h('div.quote', {}, h('span.small', {}, who), h('div', {}, text || 'Message unavailable'));
    })()
    : null;
  const tools = recalled ? null : h('div.tools', {},
    h('button.ghost', { title: 'Reply', onclick: () => setQuote(m) }, 'Reply'),
    ...reactions.map((e) => h('button.ghost.react', { title: `React ${e}`, onclick: () => chat.react(c.id, m, e).catch((err) => chat.fail(err)) }, e)),
    mine ? h('button.ghost.danger', { title: 'Recall', onclick: () => chat.recall(c.id, m).catch((err) => chat.fail(err)) }, 'Recall') : null);
  return h('div.msg', {
    className: 'msg' + (mine ? ' mine' : '') + (recalled ? ' recalled' : ''),
    dataset: { id: String(Number(m.server_message_id)), index: String(Number(m.index_in_conversation)), sender: String(sender) },
  },
  mine ? null : avatar(`User ${sender}`),
  h('div.body', {},
    h('div.meta', {}, h('span.sender', {}, nameOf(sender)), h('span.time', {}, clock(Number(m.create_time)))),
    quoted,
    bubble(c, m, recalled),
    reactionChips(c, m),
    mine && !recalled ? h('div.state.small', {}, readState(c, m)) : null),
  tools);
}

function pendingEl(c, p) {
  const failed = p.status === 'failed'
    ? h('div.state.small.failed', { title: p.error || '' }, 'Failed · ',
      h('button.link', { onclick: () => chat.retry(c.id, p.clientId) }, 'Retry'),
      p.file ? [' · ', h('button.link.discard', { onclick: () => chat.discard(c.id, p.clientId) }, 'Remove')] : null)
    : null;
  let body;
  if (p.file) {
    if (p.kind === 'image' && !p.preview) p.preview = URL.createObjectURL(p.file);
    body = h('div.bubble.file-bubble', {},
      p.preview ? h('img.thumb-preview', { src: p.preview, alt: p.name }) : null,
      h('div.file-line', {}, h('span.file-icon', {}, fileIcon(p.kind)), h('span.file-name', {}, p.name), h('span.muted.small', {}, humanSize(p.size))),
      p.status === 'uploading' ? h('div.upload', {}, h('progress', { max: String(p.size || 1), value: String(p.sent || 0) }), h('span.upload-text.small.muted')) : null,
      p.status === 'failed' && p.error ? h('div.upload-error.small', { role: 'alert' }, p.error) : null);
  } else {
    body = h('div.bubble', {}, h('span.text', {}, p.text));
  }
  const node = h('div.msg.mine.pending', { className: `msg mine pending ${p.status}`, dataset: { client: p.clientId, kind: p.file ? p.kind : 'text' } },
    h('div.body', {},
      h('div.meta', {}, h('span.sender', {}, 'You')),
      p.quote ? h('div.quote', {}, h('span.small', {}, nameOf(Number(p.quote.sender))), h('div', {}, plain(p.quote))) : null,
      body,
      failed || h('div.state.small', {}, p.status === 'uploading' ? 'Uploading…' : 'Sending…')));
  if (p.file) setProgress(node, p.sent || 0, p.size);
  return node;
}

// setProgress shows an upload's bytes sent of total on its pending
// message.
function setProgress(node, sent, total) {
  const bar = node.querySelector('progress');
  if (!bar) return;
  bar.max = Math.max(total, 1);
  bar.value = Math.min(sent, bar.max);
  const pct = total ? Math.floor((100 * sent) / total) : 100;
  node.querySelector('.upload-text').textContent = `${humanSize(sent)} / ${humanSize(total)} · ${pct}%`;
  node.dataset.progress = String(pct);
}

function onProgress({ conv, clientId, sent, total }) {
  if (conv !== view.open) return;
  const e = pendingCache.get(clientId);
  if (e) setProgress(e.node, sent, total);
}

// attach sends files to the open conversation; what the server's upload
// config refuses is said in the composer, and nothing of it is uploaded.
async function attach(files) {
  const id = view.open;
  if (!id || !files.length) return;
  view.attachError.textContent = '';
  stickToBottom = true;
  const refused = await chat.sendFiles(id, files);
  if (view.open === id) view.attachError.textContent = refused.join(' ');
}

const fileIcon = (kind) => ({ image: '🖼', video: '🎬', audio: '🎵' })[kind] || '📄';

// bubble is the content of a message: its text, its file, or (custom
// messages and types the page does not know) its content folded.
function bubble(c, m, recalled) {
  if (recalled) return h('div.bubble', {}, h('em.text', {}, 'Message recalled'));
  const text = textOf(m.content);
  if (m.message_type === enums.MessageType.MESSAGE_TYPE_TEXT || text) {
    return h('div.bubble', {}, h('span.text', {}, renderText(text, mentionsOf(m))));
  }
  const f = fileOf(m);
  if (f) {
    const id = Number(m.server_message_id);
    let node = mediaCache.get(id);
    if (!node || node.dataset.src !== f.key + f.remoteURL) {
      node = fileEl(c, m, f);
      mediaCache.set(id, node);
    }
    return h('div.bubble.file-bubble', {}, node);
  }
  let shown = m.content;
  try {
    shown = JSON.stringify(JSON.parse(m.content), null, 2);
  } catch {
    // not JSON: shown as it is
  }
  const label = typeLabel(m.message_type);
  return h('div.bubble.custom', { dataset: { type: String(m.message_type) } },
    h('details', {}, h('summary', {}, `${label[0].toUpperCase()}${label.slice(1)} message`, h('span.muted.small', {}, ` · type ${m.message_type}`)),
      h('pre.custom-json', {}, shown)));
}

// fileEl shows a file: an image as a thumbnail that opens full size, audio
// and video in players, any other file as a download link. The URL comes
// from chat.fileURL; a player or image that fails to load asks once for a
// fresh one.
function fileEl(c, m, f) {
  const name = f.name || `${f.kind} ${Number(m.server_message_id)}`;
  let el;
  let target;
  let retried = false;
  const load = (fresh) => chat.fileURL(c.id, m, f, fresh).then((url) => {
    if (!url) {
      el.classList.add('unavailable');
      el.title = 'The server gives no URL for this file.';
      return;
    }
    if (target.tagName === 'A') target.href = url;
    else target.src = url;
    if (target !== el && el.tagName === 'A') el.href = url;
  });
  const again = () => {
    if (retried || !f.key) return;
    retried = true;
    load(true);
  };
  switch (f.kind) {
    case 'image': {
      const props = { alt: name, onerror: again, decoding: 'async' };
      if (f.width && f.height) Object.assign(props, { width: f.width, height: f.height, style: `--ar:${f.width / f.height}` });
      target = h('img', props);
      if (f.width && f.height) target.classList.add('sized');
      el = h('a.file.image', { target: '_blank', rel: 'noopener', title: `${name} · click for full size`, onclick: (e) => {
        if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey) return;
        e.preventDefault();
        if (target.src) lightbox(target.src, name);
      } }, target);
      break;
    }
    case 'video':
    case 'audio': {
      const props = { controls: true, preload: 'metadata', onerror: again };
      if (f.kind === 'video' && f.width && f.height) Object.assign(props, { width: f.width, height: f.height, style: `--ar:${f.width / f.height}` });
      target = h(f.kind, props);
      el = h(`div.file.${f.kind}`, {}, target,
        h('div.file-line.small', {}, h('span.file-icon', {}, fileIcon(f.kind)), h('span.file-name', {}, name),
          h('span.muted', {}, [clockDuration(f.duration), humanSize(f.size)].filter(Boolean).join(' · '))));
      break;
    }
    default: {
      // A kept URL near its expiry is renewed before the click follows it.
      let renewing = false;
      target = el = h('a.file.download', { download: name, title: `Download ${name}`, onclick: (e) => {
        if (renewing || !f.key || chat.urlFresh(f.key)) return;
        e.preventDefault();
        load(true).then(() => {
          renewing = true;
          el.click();
          renewing = false;
        });
      } },
      h('span.file-icon', {}, fileIcon(f.kind)),
      h('span.file-main', {}, h('span.file-name', {}, name), h('span.muted.small.file-size', {}, [humanSize(f.size), f.mime].filter(Boolean).join(' · '))));
    }
  }
  el.dataset.kind = f.kind;
  el.dataset.src = f.key + f.remoteURL;
  if (f.key) el.dataset.key = f.key;
  load(false);
  return el;
}

// lightbox shows an image full size over the page; a click or Escape
// closes it.
function lightbox(src, name) {
  const close = () => {
    box.remove();
    document.removeEventListener('keydown', onKey);
  };
  const onKey = (e) => e.key === 'Escape' && close();
  const box = h('div.lightbox', { role: 'dialog', 'aria-label': name, onclick: (e) => e.target.tagName !== 'A' && close() },
    h('img', { src, alt: name }),
    h('div.lightbox-bar', {}, h('span', {}, name), h('a', { href: src, target: '_blank', rel: 'noopener' }, 'Open in a new tab')));
  document.addEventListener('keydown', onKey);
  document.body.append(box);
}

// renderMessages brings the message list in step with the conversation,
// reusing the element of every message that did not change.
function renderMessages(toBottom) {
  const c = chat.convs.get(view.open);
  if (!c || !view.msgs) return;
  const el = view.stream;
  const atBottom = toBottom || stickToBottom;
  const wanted = [view.older];
  const seen = new Set();
  for (const m of c.sorted()) {
    if (isSpecial(m.message_type)) continue;
    const mine = Number(m.sender) === chat.me;
    const key = `${Number(m.server_message_id)}:${m.version}:${mine ? readState(c, m) : ''}:${m.reference_info ? 1 : 0}`;
    let node = msgCache.get(key);
    if (!node) {
      node = messageEl(c, m);
      msgCache.set(key, node);
    }
    seen.add(key);
    wanted.push(node);
  }
  const pendingNow = new Set();
  for (const p of c.pending) {
    const key = `${p.status}:${p.error || ''}`;
    let e = pendingCache.get(p.clientId);
    if (!e || e.key !== key) {
      e = { key, node: pendingEl(c, p), p };
      pendingCache.set(p.clientId, e);
    }
    pendingNow.add(p.clientId);
    wanted.push(e.node);
  }
  for (const [id, e] of pendingCache) {
    if (pendingNow.has(id)) continue;
    if (e.p.preview) URL.revokeObjectURL(e.p.preview);
    pendingCache.delete(id);
  }
  for (const k of msgCache.keys()) if (!seen.has(k)) msgCache.delete(k);
  for (const id of mediaCache.keys()) if (!c.messages.has(id)) mediaCache.delete(id);
  view.older.textContent = !c.history ? 'Loading…' : c.hasOlder ? '' : 'Beginning of the conversation';
  // Move only what is out of place.
  let i = 0;
  for (; i < wanted.length; i++) {
    if (el.children[i] !== wanted[i]) el.insertBefore(wanted[i], el.children[i] || null);
  }
  while (el.children.length > wanted.length) el.lastChild.remove();
  if (atBottom) {
    stickToBottom = true;
    view.msgs.scrollTop = view.msgs.scrollHeight;
  }
}

// --- dialogs -------------------------------------------------------------

function dialog(title, body, onClose) {
  const close = () => {
    overlay.remove();
    if (onClose) onClose();
  };
  const overlay = h('div.overlay', { onclick: (e) => e.target === overlay && close() },
    h('div.dialog', { role: 'dialog', 'aria-label': title },
      h('header', {}, h('h3', {}, title), h('button.ghost.icon', { title: 'Close', onclick: close }, '×')),
      body));
  document.body.append(overlay);
  return close;
}

function ids(s) {
  return [...new Set(s.split(/[\s,]+/).filter(Boolean).map(Number))].filter((n) => n > 0 && n !== chat.me);
}

function newChatDialog() {
  const type = h('select', { name: 'type' },
    h('option', { value: CT.ONE_TO_ONE_CHAT }, 'Single chat'),
    h('option', { value: CT.GROUP_CHAT }, 'Group chat'),
    h('option', { value: CT.MASS_CHAT }, 'Live chat'));
  const who = h('input', { name: 'participants', placeholder: 'user ids, e.g. 100, 1002' });
  const name = h('input', { name: 'name', placeholder: 'name (groups and live chats)' });
  const error = h('p.error');
  const form = h('form.stack', {
    onsubmit: async (e) => {
      e.preventDefault();
      const t = Number(type.value);
      const people = ids(who.value);
      if (t === CT.ONE_TO_ONE_CHAT && people.length !== 1) {
        error.textContent = 'A single chat needs exactly one other user.';
        return;
      }
      try {
        const id = await chat.create(t, people, t === CT.ONE_TO_ONE_CHAT ? '' : name.value.trim());
        close();
        openConv(id);
      } catch (err) {
        error.textContent = err.message;
      }
    },
  }, h('label', {}, 'Type', type), h('label', {}, 'With', who), h('label', {}, 'Name', name), error,
  h('button.primary', { type: 'submit' }, 'Create'));
  const close = dialog('New chat', form);
  who.focus();
}

function renderFriendBadge() {
  const n = chat.friends.received.filter((a) => a.status === 0).length;
  view.friendBadge.textContent = n ? String(n) : '';
  view.friendBadge.classList.toggle('hidden', !n);
}

function friendsDialog() {
  const who = h('input', { type: 'number', min: '1', name: 'user', placeholder: 'user id' });
  const error = h('p.error');
  const lists = h('div.friend-lists');
  const statusText = ['waiting', 'accepted', 'refused'];
  const render = () => {
    const f = chat.friends;
    const section = (title, rows) => h('section', {}, h('h4', {}, title),
      rows.length ? h('ul.rows', {}, rows) : h('p.muted.small', {}, 'None.'));
    lists.replaceChildren(
      section('Applies to you', f.received.map((a) => {
        const from = Number(a.from_user_id || a.user_id);
        return h('li', { dataset: { user: String(from) } }, `User ${from}`, a.status === 0
          ? h('span.row-actions', {},
            h('button.primary', { onclick: () => chat.replyApply(from, true).catch((err) => (error.textContent = err.message)) }, 'Accept'),
            h('button', { onclick: () => chat.replyApply(from, false).catch((err) => (error.textContent = err.message)) }, 'Refuse'))
          : h('span.muted', {}, statusText[a.status] || ''));
      })),
      section('Your applies', f.sent.map((a) => {
        const to = Number(a.to_user_id || a.user_id);
        return h('li', { dataset: { user: String(to) } }, `User ${to}`, h('span.apply-status', { className: `apply-status s${a.status}` }, statusText[a.status] || String(a.status)));
      })),
      section('Friends', f.list.map((u) => h('li', { dataset: { user: String(Number(u.user_id)) } }, `User ${Number(u.user_id)}`))));
  };
  view.friends = render;
  render();
  chat.refreshFriends();
  const form = h('form.inline', {
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      try {
        await chat.applyFriend(Number(who.value));
        who.value = '';
      } catch (err) {
        error.textContent = err.message;
      }
    },
  }, who, h('button.primary', { type: 'submit' }, 'Send friend apply'));
  dialog('Friends', h('div.stack', {}, form, error, lists), () => (view.friends = null));
}

// --- notices -------------------------------------------------------------

function toast(text) {
  const t = h('div.toast', { role: 'status' }, text);
  document.body.append(t);
  setTimeout(() => t.remove(), 4000);
}

document.addEventListener('visibilitychange', () => {
  const c = chat && view.open && chat.convs.get(view.open);
  if (c && document.visibilityState === 'visible') chat.markRead(c);
});

// --- start -----------------------------------------------------------------

async function boot() {
  try {
    const r = await fetch('config.json');
    config = await r.json();
  } catch (err) {
    app.replaceChildren(h('p.error', {}, `Cannot load the console's configuration: ${err.message}`));
    return;
  }
  // A link may carry #token=...&user=... (the quick start prints one); the
  // token moves to this tab's session and leaves the address bar.
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get('token')) {
    session.setItem('imbot.token', hash.get('token'));
    session.removeItem('imbot.open');
    history.replaceState(null, '', location.pathname + location.search);
  }
  const token = session.getItem('imbot.token');
  if (token) start({ token, user: tokenUser(token) });
  else showLogin();
}

boot();
