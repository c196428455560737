// transport.js: the wire. Requests go over the Frontier socket while it is
// open and over the HTTP API (POST {api}/{route}) otherwise, both as
// protobuf Requests; the socket also brings the server's pushes. A dropped
// socket is redialled with backoff; the owner catches up from its inbox
// cursor when the socket opens again (onOpen).
import SparkMD5 from 'spark-md5';
import { Frame, Request, Response, StatusCode, command } from './proto.js';

const callTimeout = 10000; // ms for one request
const heartbeatEvery = 15000; // the web SDK's "hi" interval
const backoff = [250, 500, 1000, 2000, 4000]; // redial waits, ms; the last repeats
const accessKeySalt = 'f8a69f1719916z';

const codeNames = Object.fromEntries(Object.entries(StatusCode).map(([k, v]) => [v, k]));

// CallError is a request the server answered with a non-zero status_code.
export class CallError extends Error {
  constructor(name, code, desc) {
    super(`${name}: ${codeNames[code] || code}${desc ? ': ' + desc : ''}`);
    this.code = code;
  }

  // tokenRejected reports whether the server refused the token itself, so
  // that the user must log in again.
  get tokenRejected() {
    return this.code === StatusCode.EXPIRED_TOKEN || this.code === StatusCode.INVALID_TOKEN;
  }
}

// NetworkError is a request that got no answer: no connection, a timeout,
// or a socket that closed under it.
export class NetworkError extends Error {}

// UploadError is an upload the server refused: its HTTP status and the
// text of its answer (413 too large, 415 not the declared type, 401 a bad
// token, 503 busy, ...).
export class UploadError extends Error {
  constructor(status, statusText, text) {
    super(`upload refused: HTTP ${status}${statusText ? ' ' + statusText : ''}${text ? ': ' + text : ''}`);
    this.status = status;
  }
}

// accessKey is the Frontier access_key recipe: hex MD5 of fpid + appKey +
// deviceId + a fixed salt (IM_PROTOCOL.md section 4.1).
export function accessKey(fpid, appKey, deviceId) {
  return SparkMD5.hash(`${fpid}${appKey}${deviceId}${accessKeySalt}`);
}

export class Transport {
  // config is the server's /console/config.json; session has token, user
  // and device. handlers: onPush(Response), onState(state), onOpen() after
  // each (re)connect, onDialFailed() when a dial did not get through.
  constructor(config, session, handlers) {
    this.config = config;
    this.session = session;
    this.h = handlers;
    this.seq = 0;
    this.pending = new Map(); // seqid → {resolve, reject, timer}
    this.ws = null;
    this.state = 'connecting';
    this.attempt = 0;
    this.closed = false;
    this.timers = new Set();
  }

  setState(s) {
    if (this.state !== s) {
      this.state = s;
      this.h.onState(s);
    }
  }

  // connect dials the socket; it redials by itself until close.
  connect() {
    if (this.closed) return;
    const c = this.config;
    const s = this.session;
    const u = new URL(c.frontier_path, location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = {
      token: s.token, aid: c.app_id, fpid: c.fpid, device_id: s.device,
      access_key: accessKey(c.fpid, c.app_key, s.device), device_platform: 'web',
    };
    for (const [k, v] of Object.entries(q)) u.searchParams.set(k, String(v));
    const ws = new WebSocket(u, ['pbbp2']);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let opened = false;
    let beat = 0;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      beat = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send('hi'), heartbeatEvery);
      this.setState('online');
      this.h.onOpen();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') return; // the "hi" heartbeat answer
      let resp;
      try {
        resp = Response.decode(Frame.decode(new Uint8Array(ev.data)).payload);
      } catch (err) {
        console.warn('console: undecodable frame', err);
        return;
      }
      const seq = Number(resp.sequence_id);
      const p = seq && this.pending.get(seq);
      if (p) {
        this.pending.delete(seq);
        clearTimeout(p.timer);
        p.resolve(resp);
      } else if (!seq) {
        this.h.onPush(resp);
      }
    };
    ws.onclose = () => {
      clearInterval(beat);
      if (this.ws === ws) this.ws = null;
      for (const [seq, p] of this.pending) {
        if (p.ws === ws) {
          this.pending.delete(seq);
          clearTimeout(p.timer);
          p.reject(new NetworkError('socket closed'));
        }
      }
      if (this.closed) return;
      this.setState('reconnecting');
      if (!opened) this.h.onDialFailed();
      const wait = backoff[Math.min(this.attempt++, backoff.length - 1)];
      this.later(() => this.connect(), wait);
    };
  }

  later(fn, ms) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  // drop closes the socket as a network failure would; the transport
  // redials. For trying out reconnects by hand.
  drop() {
    if (this.ws) this.ws.close();
  }

  // close ends the transport for good.
  close() {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    if (this.ws) this.ws.close();
    this.setState('closed');
  }

  // call sends the named command with its body and returns the response
  // body (the ResponseBody field of that command, or {}). It throws a
  // CallError when the server refuses, a NetworkError when nothing came
  // back.
  async call(name, body, headers) {
    const c = command(name);
    const seq = ++this.seq;
    const req = {
      cmd: c.cmd, sequence_id: seq, token: this.session.token, sdk_version: 'imbot-console',
      inbox_type: 0, device_id: this.session.device, device_platform: 'web',
      body: { [c.reqField]: body }, headers: headers || {},
    };
    const bytes = Request.encode(req).finish();
    const resp = this.ws && this.ws.readyState === WebSocket.OPEN
      ? await this.overSocket(seq, bytes)
      : await this.overHTTP(c.route, bytes);
    if (resp.status_code !== 0) throw new CallError(name, resp.status_code, resp.error_desc);
    return (resp.body && resp.body[c.respField]) || {};
  }

  overSocket(seq, payload) {
    const ws = this.ws;
    const c = this.config;
    const frame = Frame.encode({
      seqid: seq, logid: Date.now(), service: c.frontier_service, method: c.frontier_method,
      payload_type: 'pb', payload,
    }).finish();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new NetworkError(`no answer within ${callTimeout / 1000}s`));
      }, callTimeout);
      this.pending.set(seq, { resolve, reject, timer, ws });
      ws.send(frame);
    });
  }

  // apiURL is the absolute URL of a route of the API (the server's routes
  // and the file URLs it hands out are relative to the API's root).
  apiURL(route) {
    return new URL(route, new URL(this.config.api_path, location.href)).href;
  }

  // upload POSTs a file as the raw body to a route (an upload_url of
  // GET_MEDIA_UPLOAD_TOKEN) and returns the server's JSON answer. XHR, not
  // fetch, for upload progress: onProgress(sent, total) as bytes leave. It
  // throws an UploadError when the server refuses, a NetworkError when no
  // answer came.
  upload(route, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', this.apiURL(route));
      xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
      xhr.upload.onprogress = (e) => onProgress && onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
      xhr.onload = () => {
        const text = (xhr.responseText || '').trim();
        if (xhr.status !== 200) {
          reject(new UploadError(xhr.status, xhr.statusText, text));
          return;
        }
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new UploadError(xhr.status, 'with an answer that is not JSON', text.slice(0, 200)));
        }
      };
      xhr.onerror = () => reject(new NetworkError('the upload did not get through'));
      xhr.onabort = () => reject(new NetworkError('the upload was cancelled'));
      xhr.send(file);
    });
  }

  async overHTTP(route, bytes) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), callTimeout);
    let r;
    try {
      r = await fetch(this.apiURL(route), {
        method: 'POST', body: bytes, signal: ctl.signal,
        headers: { 'Content-Type': 'application/x-protobuf' },
      });
      return Response.decode(new Uint8Array(await r.arrayBuffer()));
    } catch (err) {
      throw new NetworkError(r ? `HTTP ${r.status}: ${err.message}` : err.message);
    } finally {
      clearTimeout(timer);
    }
  }
}
