// files.js: file messages (image, video, audio, file) as the web SDK and
// imbot's Go client (im.FileInfo) write them, and what the page reads of
// other kinds of message. No DOM, no wire: chat.js and main.js use these.
//
// A file message's content is
//
//   {"__files": {"<slot>": {"remoteURL": "<absolute URL>", "ext": {...}}}}
//
// with the slot "media" for images, videos and audio and "file" for other
// files, and string ext values under the keys below; a key whose value is
// zero or empty is left out.
import { enums } from './proto.js';

const MT = enums.MessageType;

// fileTypes maps each file kind to its message type and ext type value.
export const fileTypes = {
  image: { type: MT.MESSAGE_TYPE_IMAGE, value: 'file_ext_value_type_image', slot: 'media' },
  video: { type: MT.MESSAGE_TYPE_VIDEO, value: 'file_ext_value_type_video', slot: 'media' },
  audio: { type: MT.MESSAGE_TYPE_AUDIO, value: 'file_ext_value_type_audio', slot: 'media' },
  file: { type: MT.MESSAGE_TYPE_FILE, value: 'file_ext_value_type_file', slot: 'file' },
};

const kindOfType = Object.fromEntries(Object.entries(fileTypes).map(([k, v]) => [v.type, k]));
const kindOfValue = Object.fromEntries(Object.entries(fileTypes).map(([k, v]) => [v.value, k]));

// The ext keys of a file.
export const extKeys = {
  type: 's:file_ext_key_type',
  key: 's:file_ext_key_file_key',
  name: 's:file_ext_key_file_name',
  size: 's:file_ext_key_file_size',
  mime: 's:file_ext_key_mime_type',
  width: 's:file_ext_key_original_width',
  height: 's:file_ext_key_original_height',
  audioDuration: 's:file_ext_key_audio_duration',
  videoDuration: 's:file_ext_key_video_duration',
};

// kindOfMime is the kind of file a media type is sent as.
export function kindOfMime(mime) {
  const top = (mime || '').split('/')[0];
  return top === 'image' || top === 'video' || top === 'audio' ? top : 'file';
}

// mimeAliases maps the names browsers give some formats to the one the
// server's sniffing (Go's http.DetectContentType, which imbot's Go client
// also declares) gives the same bytes: the server refuses an upload whose
// declared type differs from the sniffed one (415), and Chromium calls a
// .wav file audio/wav where the server sees audio/wave (and .ogg
// audio/ogg for application/ogg). The kind of file (kindOfMime) is the
// browser's type's.
const mimeAliases = {
  'audio/wav': 'audio/wave',
  'audio/x-wav': 'audio/wave',
  'audio/vnd.wave': 'audio/wave',
  'audio/x-pn-wav': 'audio/wave',
  'audio/ogg': 'application/ogg',
  'video/ogg': 'application/ogg',
};

// mimeOf is the media type a File is declared with: its type as the
// server names it, or application/octet-stream when the browser gives none.
export function mimeOf(file) {
  const t = (file.type || '').toLowerCase();
  return mimeAliases[t] || t || 'application/octet-stream';
}

// isFileType reports whether a message type is one of the file types.
export const isFileType = (type) => kindOfType[type] !== undefined;

// fileOf returns the file a message carries: {kind, remoteURL, key, name,
// size, mime, width, height, duration}, or null when m is no file message
// or its content is not a file JSON. The kind is the message type's; the
// ext's type, then the media type, decide for a message of another type.
export function fileOf(m) {
  let v;
  try {
    v = JSON.parse(m.content);
  } catch {
    return null;
  }
  const files = v && typeof v === 'object' && v.__files;
  if (!files || typeof files !== 'object') return null;
  const entry = files.media || files.file || Object.values(files)[0];
  if (!entry || typeof entry !== 'object') return null;
  const ext = entry.ext && typeof entry.ext === 'object' ? entry.ext : {};
  const str = (k) => (typeof ext[k] === 'string' ? ext[k] : '');
  const num = (k) => {
    const n = Number(str(k));
    return Number.isFinite(n) && n > 0 ? n : 0;
  };
  const mime = str(extKeys.mime);
  const kind = kindOfType[m.message_type] || kindOfValue[str(extKeys.type)] || kindOfMime(mime);
  return {
    kind,
    remoteURL: typeof entry.remoteURL === 'string' ? entry.remoteURL : '',
    key: str(extKeys.key),
    name: str(extKeys.name),
    size: num(extKeys.size),
    mime,
    width: Math.round(num(extKeys.width)),
    height: Math.round(num(extKeys.height)),
    duration: num(kind === 'audio' ? extKeys.audioDuration : extKeys.videoDuration),
  };
}

// fileContent renders the content of a message carrying f (the fields of
// fileOf's answer); it returns {type, content}.
export function fileContent(f) {
  const t = fileTypes[f.kind];
  const ext = {};
  const set = (k, v) => {
    const s = v === undefined || v === null ? '' : String(v);
    if (s !== '' && s !== '0') ext[k] = s;
  };
  set(extKeys.type, t.value);
  set(extKeys.key, f.key);
  set(extKeys.name, f.name);
  set(extKeys.size, f.size);
  set(extKeys.mime, f.mime);
  set(extKeys.width, f.width);
  set(extKeys.height, f.height);
  if (f.duration > 0) {
    set(f.kind === 'audio' ? extKeys.audioDuration : extKeys.videoDuration, Math.round(f.duration * 1000) / 1000);
  }
  return { type: t.type, content: JSON.stringify({ __files: { [t.slot]: { remoteURL: f.remoteURL, ext } } }) };
}

// humanSize writes a size in bytes the way file managers do: "512 B",
// "1.2 MB" (units of 1024, so the server's 20 MiB cap reads "20 MB").
export function humanSize(n) {
  if (!(n >= 0)) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  const s = v < 10 ? v.toFixed(1).replace(/\.0$/, '') : String(Math.round(v));
  return `${s} ${units[i]}`;
}

// duration writes seconds as m:ss.
export function clockDuration(s) {
  if (!(s > 0)) return '';
  const t = Math.round(s);
  return `${Math.floor(t / 60)}:${String(t % 60).padStart(2, '0')}`;
}

const typeNames = Object.fromEntries(Object.entries(MT).map(([k, v]) => [v, k]));

// isSpecial reports the seed's special messages (command, ext update, …:
// types from 50000), which no client shows.
export const isSpecial = (type) => type >= 50000;

// typeLabel names a message type for a preview: "custom", "location", or
// "message" for a type the schema does not name.
export function typeLabel(type) {
  if (type === MT.CUSTOM) return 'custom';
  const name = typeNames[type];
  if (!name) return 'message';
  return name.replace(/^(MESSAGE_TYPE_|LEGACY_MESSAGE_TYPE_|MsgType)/, '').replace(/_/g, ' ').toLowerCase();
}

// summary is the one-line preview of a message that is not text:
// "[image] a.png", "[video]", "[audio]", "[file] report.pdf", "[custom]".
export function summary(m) {
  const f = fileOf(m);
  if (f) return f.kind === 'image' || f.kind === 'file' ? `[${f.kind}]${f.name ? ' ' + f.name : ''}` : `[${f.kind}]`;
  return `[${typeLabel(m.message_type)}]`;
}
