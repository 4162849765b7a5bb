/*
 * Tsunagu web chat widget.
 *
 * Embed with one tag:
 *   <script src="https://bot.example.com/widget.js" defer></script>
 * Options (data attributes on that tag):
 *   data-server  origin of the Tsunagu server (default: where this script came from)
 *   data-locale  "ja" or "en" (default: from navigator.language)
 *   data-title   text in the panel header
 *   data-open    "true" to start with the panel open
 *   data-help    "false" to leave out the help center's articles and links
 *   data-link    "false" to leave out the "Link LINE" control
 *
 * It speaks the web channel API (docs/web-api.md): one POST to start a conversation,
 * POST /web/messages to send, and a WebSocket (long polling as a fallback) to receive.
 * No dependencies and no build step; the UI lives in a Shadow DOM so the host page's
 * styles and ours never touch.
 */
(function () {
  'use strict';

  if (window.__tsunaguWidgetLoaded) return; // the tag was included twice
  window.__tsunaguWidgetLoaded = true;

  // ---------------------------------------------------------------------------
  // Configuration and text
  // ---------------------------------------------------------------------------

  var STRINGS = {
    ja: {
      title: 'お問い合わせ',
      open: 'チャットを開く',
      close: 'チャットを閉じる',
      unread: function (n) { return '未読 ' + n + ' 件'; },
      log: 'メッセージ',
      input: 'メッセージを入力',
      placeholder: 'メッセージを入力…',
      send: '送信',
      choices: '選択肢',
      typing: '入力中…',
      sending: '送信中…',
      failed: '送信できませんでした',
      retry: '再送信',
      agent: 'スタッフ',
      connecting: '接続しています…',
      reconnecting: '接続が切れました。再接続しています…',
      offline: 'オフラインです。接続が戻ると自動で再開します。',
      newConversation: '新しい会話',
      helpTop: 'よく見られている質問',
      helpArticle: 'ヘルプセンターで詳しく見る',
      link: 'LINEと連携',
      linkTitle: 'LINEと連携する',
      linkIntro: 'LINEとつなぐと、LINEでの会話の続きをここでお話しできます。',
      linkCodeLabel: 'LINEで受け取った6桁のコード',
      linkCodeHint: 'LINEで「連携コード」と送ると届きます。',
      linkSubmit: '連携する',
      linkShowCode: 'LINEで入力するコードを表示',
      linkShownCode: function (m) { return 'このコードをLINEで送ってください（' + m + '分間有効）。'; },
      linkUnlink: '連携を解除',
      linkClose: '連携の画面を閉じる',
      linkedTo: function (names) { return names + 'と連携しています。'; },
      notLinked: 'まだ連携していません。',
      linkDone: 'LINEと連携しました。会話の続きをどうぞ。',
      unlinkDone: '連携を解除しました。',
      linkBadShape: '6桁の数字を入力してください。',
      linkWrong: 'コードが正しくないか、期限切れです。',
      linkLimited: '試行回数が多すぎます。しばらくしてからお試しください。',
      linkTaken: '連携できませんでした',
      linkUnavailable: '連携は利用できません。',
      linkNetwork: '接続できませんでした。もう一度お試しください。',
      empty: 'ご質問をどうぞ。ボットがお答えし、必要に応じてスタッフにおつなぎします。'
    },
    en: {
      title: 'Chat with us',
      open: 'Open chat',
      close: 'Close chat',
      unread: function (n) { return n + ' unread'; },
      log: 'Messages',
      input: 'Type a message',
      placeholder: 'Type a message…',
      send: 'Send',
      choices: 'Choices',
      typing: 'Typing…',
      sending: 'Sending…',
      failed: 'Not sent',
      retry: 'Retry',
      agent: 'Agent',
      connecting: 'Connecting…',
      reconnecting: 'Connection lost. Reconnecting…',
      offline: 'You are offline. The chat resumes when the connection is back.',
      newConversation: 'New conversation',
      helpTop: 'Popular questions',
      helpArticle: 'Read more in the help center',
      link: 'Link LINE',
      linkTitle: 'Link your LINE',
      linkIntro: 'Link LINE to continue your LINE conversation here.',
      linkCodeLabel: 'Six-digit code from LINE',
      linkCodeHint: 'Send "link code" to us on LINE to get one.',
      linkSubmit: 'Link',
      linkShowCode: 'Show a code to send on LINE',
      linkShownCode: function (m) { return 'Send this code to us on LINE (valid for ' + m + ' minutes).'; },
      linkUnlink: 'Unlink',
      linkClose: 'Close linking',
      linkedTo: function (names) { return 'Linked with ' + names + '.'; },
      notLinked: 'Not linked yet.',
      linkDone: 'Linked with LINE. Carry on here.',
      unlinkDone: 'Unlinked.',
      linkBadShape: 'Enter the six digits.',
      linkWrong: 'The code is wrong or has expired.',
      linkLimited: 'Too many tries. Please try again later.',
      linkTaken: 'Could not link',
      linkUnavailable: 'Linking is not available.',
      linkNetwork: 'Could not connect. Please try again.',
      empty: 'Ask us anything. The bot answers, and hands you to a person when needed.'
    }
  };

  var MAX_BACKOFF_MS = 10000;
  var WS_FAILURES_BEFORE_POLLING = 3;
  var WS_IDLE_TIMEOUT_MS = 70000; // no frame (not even a ping) for this long: assume a dead socket
  var RETRY_WEBSOCKET_AFTER_MS = 5 * 60 * 1000; // while polling, try WebSocket again now and then
  var POLL_WAIT_S = 25;
  var TYPING_TIMEOUT_MS = 30000;

  var script = document.currentScript || findOwnScript();
  var config = readConfig(script);
  var t = STRINGS[config.locale];

  function findOwnScript() {
    var tags = document.querySelectorAll('script[src]');
    for (var i = tags.length - 1; i >= 0; i--) {
      if (/\/widget\.js(\?|#|$)/.test(tags[i].src)) return tags[i];
    }
    return null;
  }

  function readConfig(tag) {
    var data = (tag && tag.dataset) || {};
    var server = data.server || (tag && tag.src ? new URL(tag.src, location.href).origin : location.origin);
    var lang = (data.locale || navigator.language || 'en').toLowerCase();
    var locale = lang.indexOf('ja') === 0 ? 'ja' : 'en';
    return {
      server: server.replace(/\/+$/, ''),
      locale: locale,
      title: data.title || STRINGS[locale].title,
      startOpen: data.open === 'true',
      help: data.help !== 'false',
      link: data.link !== 'false'
    };
  }

  // ---------------------------------------------------------------------------
  // Small helpers
  // ---------------------------------------------------------------------------

  function newClientId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    if (window.crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join('');
  }

  /** Exponential backoff with jitter, so many widgets don't reconnect in lockstep. */
  function backoffDelay(attempt) {
    var ceiling = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, attempt));
    return ceiling / 2 + Math.random() * ceiling / 2;
  }

  /** Compare stream cursors ("<ms>-<seq>", like Redis stream ids) numerically. */
  function compareCursor(a, b) {
    var pa = String(a).split('-');
    var pb = String(b).split('-');
    for (var i = 0; i < Math.max(pa.length, pb.length); i++) {
      var x = pa[i] || '0';
      var y = pb[i] || '0';
      if (/^\d+$/.test(x) && /^\d+$/.test(y)) {
        // Compare digit strings by length first: exact for numbers beyond 2^53 too.
        if (x.length !== y.length) return x.length < y.length ? -1 : 1;
      }
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  }

  function normaliseText(s) {
    return String(s == null ? '' : s).replace(/\s+/g, ' ').trim();
  }

  /** Create an element: h('div', {class: 'x', 'aria-label': '…'}, [children]). Text goes in as text nodes. */
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] === false || attrs[k] == null) return;
      if (k === 'text') el.textContent = attrs[k];
      else el.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
    });
    (children || []).forEach(function (c) {
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return el;
  }

  function svgIcon(pathData) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    var path = document.createElementNS(ns, 'path');
    path.setAttribute('d', pathData);
    svg.appendChild(path);
    return svg;
  }

  var ICON_CHAT = 'M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z';
  var ICON_CLOSE = 'M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z';
  var ICON_SEND = 'M3 20.5 21 12 3 3.5v6.6l12 1.9-12 1.9z';
  var ICON_LINK = 'M10.6 13.4a1 1 0 0 1 0-1.4l3.5-3.5a3 3 0 0 1 4.2 4.2l-2.1 2.1-1.4-1.4 2.1-2.1a1 1 0 0 0-1.4-1.4l-3.5 3.5a1 1 0 0 1-1.4 0zm2.8-2.8a1 1 0 0 1 0 1.4l-3.5 3.5a3 3 0 0 1-4.2-4.2l2.1-2.1 1.4 1.4-2.1 2.1a1 1 0 0 0 1.4 1.4l3.5-3.5a1 1 0 0 1 1.4 0z';

  // ---------------------------------------------------------------------------
  // HTTP
  // ---------------------------------------------------------------------------

  /** One JSON request to the server. Resolves {status, data}; rejects only on network failure or timeout. */
  function request(method, path, options) {
    options = options || {};
    var headers = {};
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    if (options.token) headers.Authorization = 'Bearer ' + options.token;
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, options.timeoutMs || 15000);
    if (options.signal) options.signal.addEventListener('abort', function () { controller.abort(); });
    return fetch(config.server + path, {
      method: method,
      headers: headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: controller.signal,
      credentials: 'omit', // the bearer token is the only credential
      cache: 'no-store'
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        return { status: res.status, data: data };
      });
    }).finally(function () { clearTimeout(timer); });
  }

  function wait(ms, wakeUp) {
    return new Promise(function (resolve) {
      var timer = setTimeout(resolve, ms);
      if (wakeUp) wakeUp(function () { clearTimeout(timer); resolve(); });
    });
  }

  // ---------------------------------------------------------------------------
  // Identity: the token that names this customer, kept per server origin
  // ---------------------------------------------------------------------------

  function createIdentity(onReplaced) {
    var key = 'tsunagu:identity:' + config.server;
    var token = load();
    var creating = null; // the one in-flight POST /web/conversations, shared by all callers

    function load() {
      try {
        var saved = JSON.parse(localStorage.getItem(key) || 'null');
        if (saved && saved.token && (!saved.expiresAt || saved.expiresAt > Date.now())) return saved.token;
      } catch (e) { /* storage blocked or corrupt: start afresh */ }
      return null;
    }

    function save(body) {
      try {
        localStorage.setItem(key, JSON.stringify({
          token: body.token,
          userId: body.user_id,
          expiresAt: body.expires_in ? Date.now() + body.expires_in * 1000 : null
        }));
      } catch (e) { /* private mode: the token lives for this page only */ }
    }

    /** POST /web/conversations until it works (the network may be down for a while). */
    function create(replacing) {
      if (creating) return creating;
      creating = (async function () {
        for (var attempt = 0; ; attempt++) {
          try {
            var res = await request('POST', '/web/conversations', {
              body: { locale: config.locale, name: null }
            });
            if ((res.status === 200 || res.status === 201) && res.data && res.data.token) {
              token = res.data.token;
              save(res.data);
              if (replacing) onReplaced();
              return token;
            }
          } catch (e) { /* network: retry below */ }
          await wait(backoffDelay(attempt));
        }
      })().finally(function () { creating = null; });
      return creating;
    }

    return {
      has: function () { return !!token; },
      /** The current token, creating a conversation first if there is none. */
      ensure: function () { return token ? Promise.resolve(token) : create(false); },
      /** The server refused `badToken` (401): get a new one, unless someone already did. */
      renew: function (badToken) {
        if (token && token !== badToken) return Promise.resolve(token);
        token = null;
        try { localStorage.removeItem(key); } catch (e) { /* ignore */ }
        return create(true);
      }
    };
  }

  // ---------------------------------------------------------------------------
  // Stream: receive messages over WebSocket, or long polling when that fails
  // ---------------------------------------------------------------------------

  /**
   * handlers.cursor() gives the last cursor seen; handlers.onMessages(list, cursor) gets
   * new messages; handlers.onStatus(state) hears 'connecting' | 'online' | 'reconnecting'.
   *
   * Every connection attempt gets a generation number; callbacks of an older generation
   * are ignored, so a late event from a socket we gave up on can never act twice.
   */
  function createStream(identity, handlers) {
    var mode = 'ws';
    var generation = 0;
    var attempt = 0;
    var wsFailures = 0;
    var pollingSince = 0;
    var running = false;
    var socket = null;
    var pollAbort = null;
    var retryTimer = null;
    var idleTimer = null;

    function cleanup() {
      clearTimeout(retryTimer);
      clearTimeout(idleTimer);
      if (socket) {
        socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
        try { socket.close(); } catch (e) { /* already closed */ }
        socket = null;
      }
      if (pollAbort) { pollAbort.abort(); pollAbort = null; }
    }

    function connect() {
      cleanup();
      var gen = ++generation;
      handlers.onStatus(attempt === 0 ? 'connecting' : 'reconnecting');
      identity.ensure().then(function (token) {
        if (gen !== generation) return;
        if (mode === 'ws') openSocket(token, gen);
        else poll(token, gen);
      });
    }

    function scheduleReconnect(gen) {
      if (gen !== generation) return;
      cleanup();
      handlers.onStatus('reconnecting');
      retryTimer = setTimeout(function () { if (gen === generation) connect(); }, backoffDelay(attempt++));
    }

    function unauthorized(token) {
      // A new token means a new customer: identity calls back and we restart from scratch.
      handlers.onStatus('connecting');
      identity.renew(token);
    }

    function socketUrl(token) {
      var url = new URL(config.server + '/web/ws');
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.searchParams.set('token', token);
      var cursor = handlers.cursor();
      if (cursor) url.searchParams.set('after', cursor);
      return url.toString();
    }

    function openSocket(token, gen) {
      var openedAt = 0;
      var ws;
      try {
        ws = new WebSocket(socketUrl(token));
      } catch (e) {
        socketFailed(gen);
        return;
      }
      socket = ws;
      // A proxy may hold the handshake forever; treat a slow open as a failure.
      idleTimer = setTimeout(function () { socketFailed(gen); }, 10000);

      ws.onopen = function () {
        if (gen !== generation) return;
        openedAt = Date.now();
        attempt = 0;
        handlers.onStatus('online');
        armIdleTimer(gen);
      };
      ws.onmessage = function (event) {
        if (gen !== generation) return;
        armIdleTimer(gen);
        var frame;
        try { frame = JSON.parse(event.data); } catch (e) { return; }
        if (frame && frame.type === 'message' && frame.message) handlers.onMessages([frame.message]);
      };
      ws.onclose = function (event) {
        if (gen !== generation) return;
        socket = null;
        if (event.code === 4401) { unauthorized(token); return; }
        // A socket that lived a while was fine; one that never opened or died at once counts.
        if (openedAt && Date.now() - openedAt > 5000) {
          wsFailures = 0;
          scheduleReconnect(gen);
        } else {
          socketFailed(gen);
        }
      };
    }

    function socketFailed(gen) {
      if (gen !== generation) return;
      wsFailures++;
      if (wsFailures >= WS_FAILURES_BEFORE_POLLING && mode === 'ws') {
        mode = 'poll';
        pollingSince = Date.now();
        attempt = 0;
      }
      scheduleReconnect(gen);
    }

    function armIdleTimer(gen) {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(function () { scheduleReconnect(gen); }, WS_IDLE_TIMEOUT_MS);
    }

    async function poll(token, gen) {
      while (gen === generation) {
        if (Date.now() - pollingSince > RETRY_WEBSOCKET_AFTER_MS) {
          mode = 'ws';
          wsFailures = WS_FAILURES_BEFORE_POLLING - 1; // one more failure and we're back to polling
          connect();
          return;
        }
        var cursor = handlers.cursor();
        var query = '?wait=' + POLL_WAIT_S + (cursor ? '&after=' + encodeURIComponent(cursor) : '');
        var startedAt = Date.now();
        pollAbort = new AbortController();
        var res;
        try {
          res = await request('GET', '/web/messages' + query, {
            token: token, signal: pollAbort.signal, timeoutMs: (POLL_WAIT_S + 10) * 1000
          });
        } catch (e) {
          scheduleReconnect(gen);
          return;
        }
        if (gen !== generation) return;
        if (res.status === 401) { unauthorized(token); return; }
        if (res.status !== 200 || !res.data) { scheduleReconnect(gen); return; }
        attempt = 0;
        handlers.onStatus('online');
        var messages = res.data.messages || [];
        handlers.onMessages(messages, res.data.cursor);
        // Guard against a server that answers at once with nothing: don't spin.
        if (!messages.length && Date.now() - startedAt < 1000) await wait(1000);
      }
    }

    return {
      start: function () { if (!running) { running = true; connect(); } },
      /** Reconnect now (network came back, or the token changed). */
      restart: function () { if (running) { attempt = 0; connect(); } }
    };
  }

  // ---------------------------------------------------------------------------
  // Outbox: send messages in order, retrying with the same client_id
  // ---------------------------------------------------------------------------

  /**
   * Items are {clientId, body, done}. The server dedupes by client_id, so retrying a
   * POST whose answer we never saw is safe. handlers: onAccepted(item), onFailed(item, reason).
   */
  function createOutbox(identity, handlers) {
    var queue = [];
    var busy = false;
    var wakeUp = null;

    async function pump() {
      if (busy) return;
      busy = true;
      try {
        var attempt = 0;
        while (queue.length) {
          var item = queue[0];
          if (item.done) { queue.shift(); continue; } // its echo already came back
          var outcome = await sendOnce(item);
          if (outcome === 'again') continue;
          if (outcome === 'retry') {
            await wait(backoffDelay(attempt++), function (fn) { wakeUp = fn; });
            wakeUp = null;
            continue;
          }
          queue.shift();
          attempt = 0;
        }
      } finally {
        busy = false;
      }
    }

    async function sendOnce(item) {
      var token = await identity.ensure();
      var res;
      try {
        res = await request('POST', '/web/messages', { token: token, body: item.body });
      } catch (e) {
        return 'retry';
      }
      if (res.status >= 200 && res.status < 300) { handlers.onAccepted(item); return 'ok'; }
      if (res.status === 401) { await identity.renew(token); return 'again'; }
      if (res.status === 429 || res.status === 408 || res.status >= 500) return 'retry';
      handlers.onFailed(item, res.data && (res.data.detail || res.data.error));
      return 'failed';
    }

    return {
      add: function (item) { queue.push(item); pump(); },
      /** Skip the current backoff wait (the network is back). */
      kick: function () { if (wakeUp) wakeUp(); }
    };
  }

  // ---------------------------------------------------------------------------
  // Styles
  // ---------------------------------------------------------------------------

  var CSS = [
    ':host { all: initial; }',
    '*, *::before, *::after { box-sizing: border-box; }',
    '[hidden] { display: none !important; }',
    '.root { --accent: #0f766e; --accent-dark: #115e59; --ink: #1f2937; --muted: #6b7280;',
    '  --bg: #ffffff; --bot-bg: #f1f5f9; --line: #e5e7eb;',
    '  font: 15px/1.6 system-ui, -apple-system, "Segoe UI", "Hiragino Sans", "Hiragino Kaku Gothic ProN",',
    '    "Noto Sans JP", "Yu Gothic UI", Meiryo, sans-serif;',
    '  color: var(--ink); -webkit-text-size-adjust: 100%; }',
    'button { font: inherit; color: inherit; }',
    ':focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }',
    '.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }',

    /* launcher */
    '.launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 60px; height: 60px;',
    '  border: 0; border-radius: 50%; background: var(--accent); color: #fff; cursor: pointer;',
    '  box-shadow: 0 6px 20px rgba(0,0,0,.25); display: grid; place-items: center; }',
    '.launcher:hover { background: var(--accent-dark); }',
    '.launcher svg { width: 28px; height: 28px; fill: currentColor; }',
    '.badge { position: absolute; top: -2px; right: -2px; min-width: 22px; height: 22px; padding: 0 6px;',
    '  border-radius: 11px; background: #dc2626; color: #fff; font-size: 12px; line-height: 22px; font-weight: 700; }',

    /* panel */
    '.panel { position: fixed; right: 20px; bottom: 92px; z-index: 2147483001; width: 380px;',
    '  height: 600px; max-height: calc(100vh - 112px); max-height: calc(100dvh - 112px);',
    '  display: flex; flex-direction: column; background: var(--bg); border-radius: 16px; overflow: hidden;',
    '  box-shadow: 0 12px 40px rgba(0,0,0,.28); }',
    '.header { display: flex; align-items: center; gap: 8px; padding: 12px 8px 12px 16px;',
    '  background: var(--accent); color: #fff; flex: none; }',
    '.title { flex: 1; margin: 0; font-size: 16px; font-weight: 700; overflow-wrap: anywhere; }',
    '.icon-button { width: 40px; height: 40px; border: 0; border-radius: 8px; background: transparent;',
    '  color: inherit; cursor: pointer; display: grid; place-items: center; flex: none; }',
    '.icon-button:hover { background: rgba(255,255,255,.15); }',
    '.icon-button svg { width: 22px; height: 22px; fill: currentColor; }',
    '.status { flex: none; padding: 6px 16px; background: #fef3c7; color: #78350f; font-size: 13px; }',

    /* messages */
    '.scroller { flex: 1; overflow-y: auto; overflow-x: hidden; overscroll-behavior: contain;',
    '  padding: 12px; display: flex; flex-direction: column; }',
    '.log, .pending { display: flex; flex-direction: column; gap: 8px; }',
    '.pending:not(:empty) { margin-top: 8px; }',
    '.empty { margin: auto 8px; color: var(--muted); text-align: center; font-size: 14px;',
    '  line-break: strict; word-break: normal; overflow-wrap: anywhere; }',
    '.msg { display: flex; flex-direction: column; align-items: flex-start; max-width: 85%; min-width: 0; }',
    '.msg.customer { align-self: flex-end; align-items: flex-end; }',
    '.sender { font-size: 12px; color: var(--muted); margin: 0 4px 2px; }',
    '.bubble { padding: 8px 12px; border-radius: 16px 16px 16px 4px; background: var(--bot-bg); max-width: 100%;',
    '  white-space: pre-wrap; overflow-wrap: anywhere; word-break: normal; line-break: strict; text-wrap: pretty; }',
    /* Japanese: wrap between phrases (文節), not inside a word, where the browser can. */
    ':lang(ja) .bubble, :lang(ja) .empty, :lang(ja) .status, :lang(ja) .choice { word-break: auto-phrase; }',
    '.msg.agent .bubble { background: #e0f2fe; }',
    '.msg.customer .bubble { background: var(--accent); color: #fff; border-radius: 16px 16px 4px 16px; }',
    '.msg.notice { align-self: center; align-items: center; max-width: 92%; }',
    '.msg.notice .bubble { background: transparent; color: var(--muted); font-size: 13px; text-align: center; padding: 2px 8px; }',
    '.msg.is-pending .bubble { opacity: .65; }',
    '.meta { font-size: 12px; color: var(--muted); margin: 2px 4px 0; display: flex; gap: 8px; align-items: center; }',
    '.meta.error { color: #b91c1c; }',
    '.link-button { border: 0; background: none; padding: 0; color: var(--accent); text-decoration: underline; cursor: pointer; font-size: 12px; }',
    '.help { margin-top: 12px; padding: 8px 12px; border: 1px solid var(--line); border-radius: 12px; }',
    '.help h3 { margin: 0 0 2px; font-size: 13px; color: var(--muted); font-weight: 600; }',
    '.help ul { list-style: none; margin: 0; padding: 0; }',
    '.help a, .article-link { color: var(--accent-dark); overflow-wrap: anywhere; }',
    '.help a { display: block; padding: 6px 0; font-size: 14px; }',
    '.article-link { font-size: 12px; margin: 2px 4px 0; }',
    '.divider { align-self: stretch; text-align: center; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 4px; }',
    '.choices { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }',
    '.choice { border: 1px solid var(--accent); background: #fff; color: var(--accent); border-radius: 999px;',
    '  padding: 6px 14px; cursor: pointer; font-size: 14px; max-width: 100%; text-align: start;',
    '  overflow-wrap: anywhere; line-break: strict; }',
    '.choice:hover:not(:disabled) { background: #f0fdfa; }',
    '.choice:disabled { cursor: default; border-color: var(--line); color: var(--muted); }',
    '.choice.chosen:disabled { background: var(--accent); border-color: var(--accent); color: #fff; }',
    '.msg.has-scale { align-self: stretch; max-width: 100%; }',
    '.msg.has-scale .bubble { max-width: 85%; }',
    '.scale-box { align-self: stretch; margin-top: 6px; }',
    '.choices.scale { display: grid; grid-template-columns: repeat(var(--points), minmax(0, 1fr)); gap: 4px; margin-top: 0; }',
    '.choices.scale .choice { padding: 8px 0; text-align: center; border-radius: 10px; min-height: 40px;',
    '  font-variant-numeric: tabular-nums; }',
    '.scale-ends { display: flex; justify-content: space-between; gap: 12px; margin: 4px 2px 0;',
    '  color: var(--muted); font-size: 12px; line-height: 1.4; }',
    '.scale-ends span:last-child { text-align: end; }',

    /* linking another channel */
    '.header-action { border: 1px solid rgba(255,255,255,.6); border-radius: 999px; background: transparent; color: inherit;',
    '  padding: 4px 10px; font-size: 13px; cursor: pointer; flex: none; display: flex; align-items: center; gap: 4px; }',
    '.header-action:hover, .header-action[aria-expanded="true"] { background: rgba(255,255,255,.18); }',
    '.header-action svg { width: 16px; height: 16px; fill: currentColor; }',
    '.linking { flex: none; padding: 12px 16px; border-bottom: 1px solid var(--line); background: #f8fafc;',
    '  display: flex; flex-direction: column; gap: 8px; max-height: 60%; overflow-y: auto; }',
    '.linking-head { display: flex; align-items: center; gap: 8px; }',
    '.linking h3 { flex: 1; margin: 0; font-size: 15px; }',
    '.linking p { margin: 0; font-size: 13px; }',
    '.linking .hint { color: var(--muted); font-size: 12px; }',
    '.linking .error { color: #b91c1c; }',
    '.linking label { font-size: 13px; font-weight: 600; }',
    '.link-row { display: flex; gap: 8px; }',
    '.link-input { flex: 1; min-width: 0; font: inherit; font-size: 18px; letter-spacing: .2em; padding: 6px 10px;',
    '  border: 1px solid #d1d5db; border-radius: 8px; font-variant-numeric: tabular-nums; }',
    '.link-input[aria-invalid="true"] { border-color: #b91c1c; }',
    '.link-submit { border: 0; border-radius: 8px; background: var(--accent); color: #fff; padding: 6px 14px; cursor: pointer; flex: none; }',
    '.link-submit:disabled { background: #cbd5e1; cursor: default; }',
    '.shown-code { font-size: 28px; font-weight: 700; letter-spacing: .25em; font-variant-numeric: tabular-nums; margin: 0; }',
    '.linking .icon-button { width: 32px; height: 32px; color: var(--muted); }',
    '.linking .icon-button:hover { background: var(--line); }',
    '.note { align-self: center; color: var(--muted); font-size: 12px; text-align: center; }',

    /* typing indicator */
    '.typing { align-self: flex-start; margin-top: 8px; padding: 10px 14px; border-radius: 16px; background: var(--bot-bg);',
    '  display: flex; gap: 4px; }',
    '.typing span[aria-hidden] { width: 7px; height: 7px; border-radius: 50%; background: var(--muted);',
    '  animation: tsg-blink 1.2s infinite both; }',
    '.typing span[aria-hidden]:nth-child(2) { animation-delay: .2s; }',
    '.typing span[aria-hidden]:nth-child(3) { animation-delay: .4s; }',
    '@keyframes tsg-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }',
    '@media (prefers-reduced-motion: reduce) { .typing span[aria-hidden] { animation: none; opacity: .6; } }',

    /* composer */
    '.composer { flex: none; display: flex; align-items: flex-end; gap: 8px; padding: 10px 12px;',
    '  border-top: 1px solid var(--line); background: var(--bg); }',
    '.input { flex: 1; min-width: 0; resize: none; border: 1px solid #d1d5db; border-radius: 12px;',
    '  padding: 8px 12px; font: inherit; color: var(--ink); background: #fff; max-height: 120px; line-height: 1.5; }',
    '.input:focus-visible { outline: 3px solid #f59e0b; outline-offset: 0; border-color: var(--accent); }',
    '.send { width: 42px; height: 42px; border: 0; border-radius: 50%; background: var(--accent); color: #fff;',
    '  cursor: pointer; display: grid; place-items: center; flex: none; }',
    '.send:disabled { background: #cbd5e1; cursor: default; }',
    '.send svg { width: 22px; height: 22px; fill: currentColor; }',

    /* phones: the panel is the whole screen, sized to the visible viewport (above the keyboard) */
    '@media (max-width: 480px) {',
    '  .panel { inset: 0; top: 0; left: 0; right: 0; bottom: auto; width: 100%; max-width: 100vw;',
    '    height: 100vh; height: 100dvh; max-height: none; border-radius: 0; }',
    '  .panel.vv { height: var(--vv-height); transform: translateY(var(--vv-top)); }',
    '  .root.is-open .launcher { display: none; }',
    '  .input { font-size: 16px; }', // below 16px iOS zooms the page on focus
    '}'
  ].join('\n');

  // ---------------------------------------------------------------------------
  // UI
  // ---------------------------------------------------------------------------

  function buildUi() {
    var host = document.createElement('tsunagu-widget');
    var shadow = host.attachShadow({ mode: 'open' });
    var style = document.createElement('style');
    style.textContent = CSS;

    var ui = {};
    ui.badge = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true' });
    ui.launcher = h('button', {
      class: 'launcher', type: 'button', 'aria-label': t.open,
      'aria-expanded': 'false', 'aria-controls': 'tsg-panel'
    }, [svgIcon(ICON_CHAT), ui.badge]);

    ui.closeButton = h('button', { class: 'icon-button', type: 'button', 'aria-label': t.close }, [svgIcon(ICON_CLOSE)]);
    ui.linking = buildLinkingUi();
    ui.status = h('div', { class: 'status', role: 'status', hidden: true });
    ui.empty = h('p', { class: 'empty', text: t.empty });
    ui.log = h('div', { class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': t.log });
    // Our own unconfirmed messages sit below the confirmed log, so stream order stays intact.
    ui.pending = h('div', { class: 'pending' });
    ui.typing = h('div', { class: 'typing', hidden: true, role: 'status' }, [
      h('span', { 'aria-hidden': 'true' }), h('span', { 'aria-hidden': 'true' }), h('span', { 'aria-hidden': 'true' }),
      h('span', { class: 'sr-only', text: t.typing })
    ]);
    // The help center's most read articles, until the customer writes (see loadHelpCenter).
    ui.help = h('nav', { class: 'help', 'aria-labelledby': 'tsg-help-title', hidden: true });
    ui.scroller = h('div', { class: 'scroller' }, [ui.empty, ui.log, ui.help, ui.pending, ui.typing]);
    ui.input = h('textarea', {
      class: 'input', rows: '1', maxlength: '2000', 'aria-label': t.input, placeholder: t.placeholder,
      enterkeyhint: 'send'
    });
    ui.send = h('button', { class: 'send', type: 'button', 'aria-label': t.send, disabled: true }, [svgIcon(ICON_SEND)]);

    ui.panel = h('div', {
      class: 'panel', id: 'tsg-panel', role: 'dialog', 'aria-labelledby': 'tsg-title', hidden: true, lang: config.locale
    }, [
      h('div', { class: 'header' }, [
        h('h2', { class: 'title', id: 'tsg-title', text: config.title }),
        config.link ? ui.linking.toggle : null,
        ui.closeButton
      ].filter(Boolean)),
      ui.status,
      config.link ? ui.linking.section : null,
      ui.scroller,
      h('div', { class: 'composer' }, [ui.input, ui.send])
    ].filter(Boolean));
    ui.root = h('div', { class: 'root', lang: config.locale }, [ui.panel, ui.launcher]);

    shadow.appendChild(style);
    shadow.appendChild(ui.root);
    document.body.appendChild(host);
    ui.shadow = shadow;
    return ui;
  }

  /**
   * The "Link LINE" control: a header button opening a small section where the customer
   * enters the six-digit code LINE gave them, or gets a code to send on LINE, or unlinks.
   */
  function buildLinkingUi() {
    var l = {};
    l.toggle = h('button', {
      class: 'header-action', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'tsg-linking'
    }, [svgIcon(ICON_LINK), h('span', { text: t.link })]);
    l.closeButton = h('button', { class: 'icon-button', type: 'button', 'aria-label': t.linkClose }, [svgIcon(ICON_CLOSE)]);
    l.state = h('p', { class: 'linking-state', role: 'status', text: t.notLinked });
    l.input = h('input', {
      class: 'link-input', id: 'tsg-link-code', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code',
      maxlength: '12', 'aria-describedby': 'tsg-link-hint tsg-link-error', spellcheck: 'false'
    });
    l.submit = h('button', { class: 'link-submit', type: 'submit', text: t.linkSubmit });
    l.error = h('p', { class: 'error', id: 'tsg-link-error', role: 'alert', hidden: true });
    l.form = h('form', { class: 'link-form', novalidate: true }, [
      h('label', { for: 'tsg-link-code', text: t.linkCodeLabel }),
      h('div', { class: 'link-row' }, [l.input, l.submit]),
      h('p', { class: 'hint', id: 'tsg-link-hint', text: t.linkCodeHint }),
      l.error
    ]);
    l.showCode = h('button', { class: 'link-button', type: 'button', text: t.linkShowCode });
    l.code = h('p', { class: 'shown-code' });
    l.codeHint = h('p', { class: 'hint' });
    l.codeBox = h('div', { class: 'code-box', hidden: true }, [l.code, l.codeHint]);
    l.unlink = h('button', { class: 'link-button', type: 'button', text: t.linkUnlink, hidden: true });
    l.section = h('section', { class: 'linking', id: 'tsg-linking', 'aria-labelledby': 'tsg-link-title', hidden: true }, [
      h('div', { class: 'linking-head' }, [h('h3', { id: 'tsg-link-title', text: t.linkTitle }), l.closeButton]),
      h('p', { class: 'hint', text: t.linkIntro }),
      l.state, l.form, l.showCode, l.codeBox, l.unlink
    ]);
    return l;
  }

  /** Six digits from what was typed: full-width digits count, spaces and dashes don't. */
  function linkDigits(text) {
    var folded = String(text || '').normalize ? String(text || '').normalize('NFKC') : String(text || '');
    return folded.replace(/[\s\-‐－ー]/g, '');
  }

  // ---------------------------------------------------------------------------
  // The widget: wires UI, identity, stream and outbox together
  // ---------------------------------------------------------------------------

  function createWidget() {
    var ui = buildUi();
    var isOpen = false;
    var lastCursor = null;
    var seenIds = new Set();
    var pendingItems = []; // sent by us, not yet seen in the stream, oldest first
    var unread = 0;
    var typingTimer = null;
    var statusTimer = null;
    var loadedAt = Date.now() / 1000;
    var helpCenter = null; // {url, title, top: [{id, title, url}]} once known; null: none

    var identity = createIdentity(onNewConversation);
    var stream = createStream(identity, {
      cursor: function () { return lastCursor; },
      onMessages: receive,
      onStatus: showStatus
    });
    var outbox = createOutbox(identity, {
      onAccepted: function (item) {
        if (item.done) return;
        item.el.classList.remove('is-pending');
        item.meta.hidden = true;
      },
      onFailed: markFailed
    });

    // --- receiving ---------------------------------------------------------

    /** Render new stream messages once each, in order; `cursor` is the poll answer's cursor. */
    function receive(messages, cursor) {
      var stick = isNearBottom();
      messages.forEach(function (m) {
        if (!m || typeof m !== 'object') return;
        var id = m.message_id || m.cursor;
        if (id && seenIds.has(id)) return;
        if (m.cursor && lastCursor && compareCursor(m.cursor, lastCursor) <= 0) return;
        if (id) seenIds.add(id);
        if (m.cursor) lastCursor = m.cursor;

        if (m.sender === 'customer') {
          ui.help.hidden = true; // the articles are for before the first message
          confirmPending(m);
          disableChoices(ui.log); // the customer moved on: older buttons no longer apply
        } else {
          hideTyping();
          if (!isOpen && (m.time || 0) >= loadedAt - 5) setUnread(unread + 1);
        }
        ui.log.appendChild(renderMessage(m));
      });
      if (cursor && (!lastCursor || compareCursor(cursor, lastCursor) > 0)) lastCursor = cursor;
      ui.empty.hidden = ui.log.childNodes.length > 0 || ui.pending.childNodes.length > 0;
      if (stick) scrollToBottom();
    }

    function renderMessage(m) {
      var sender = m.sender === 'customer' || m.sender === 'agent' ? m.sender : 'bot';
      var classes = 'msg ' + sender + (m.kind === 'notice' && sender === 'bot' ? ' notice' : '');
      var row = h('div', { class: classes });
      if (sender === 'agent') row.appendChild(h('div', { class: 'sender', text: m.sender_name || t.agent }));
      var bubble = h('div', { class: 'bubble', text: m.text == null ? '' : String(m.text) });
      if (m.time) bubble.title = new Date(m.time * 1000).toLocaleString(config.locale);
      row.appendChild(bubble);
      if (sender === 'bot' && typeof m.faq_id === 'string' && m.faq_id) {
        row.setAttribute('data-faq-id', m.faq_id);
        addArticleLink(row);
      }
      if (sender !== 'customer' && Array.isArray(m.choices) && m.choices.length) {
        var scale = isScale(m.choices);
        if (scale) row.classList.add('has-scale');
        row.appendChild(renderChoices(m.choices, scale));
      }
      return row;
    }

    /** A survey's 1–7 (or 0–10) buttons: shown as one row of numbers, the ends captioned below. */
    function isScale(choices) {
      return choices.length >= 3 && choices.every(function (c) {
        return c && /^rating:\d+$/.test(String(c.payload)) && /^\d+(\s|$)/.test(String(c.label));
      });
    }

    function renderChoices(choices, scale) {
      var group = h('div', { class: scale ? 'choices scale' : 'choices', role: 'group', 'aria-label': t.choices });
      if (scale) group.style.setProperty('--points', String(choices.length));
      choices.forEach(function (choice) {
        if (!choice || choice.payload == null) return;
        var label = String(choice.label == null ? choice.payload : choice.label);
        var number = scale ? label.match(/^\d+/)[0] : null;
        var button = h('button', {
          class: 'choice', type: 'button', text: scale ? number : label,
          'aria-label': scale && number !== label ? label : null
        });
        button.addEventListener('click', function (event) {
          disableChoices(group);
          button.classList.add('chosen');
          submit({ choice: String(choice.payload), label: label }, label);
          // A disabled button drops the focus to the page: from the keyboard (detail 0),
          // carry on in the input instead. A tap leaves it alone (no phone keyboard pops up).
          if (event.detail === 0) ui.input.focus();
        });
        group.appendChild(button);
      });
      if (!scale) return group;
      // The ends' words go below the row (the buttons' names carry them for screen readers).
      var ends = h('div', { class: 'scale-ends', 'aria-hidden': 'true' }, [
        h('span', { text: String(choices[0].label).replace(/^\d+\s*/, '') }),
        h('span', { text: String(choices[choices.length - 1].label).replace(/^\d+\s*/, '') })
      ]);
      return h('div', { class: 'scale-box' }, [group, ends]);
    }

    // --- the help center ------------------------------------------------------

    function articleUrl(path) {
      return config.server + path + '?lang=' + config.locale;
    }

    /** Under an FAQ answer: a link to the help center's page of that entry. */
    function addArticleLink(row) {
      var id = row.getAttribute('data-faq-id');
      if (!helpCenter || !id || row.querySelector('.article-link')) return;
      var link = h('a', {
        class: 'article-link', href: articleUrl(helpCenter.url + '/' + encodeURIComponent(id)),
        target: '_blank', rel: 'noopener', text: t.helpArticle
      });
      row.insertBefore(link, row.querySelector('.choices, .scale-box'));
    }

    /** Ask the server whether it has a help center; if so, show its top articles. */
    function loadHelpCenter() {
      if (!config.help) return;
      request('GET', '/web/help-center?lang=' + config.locale).then(function (res) {
        var data = res.data;
        if (res.status !== 200 || !data || typeof data.url !== 'string' || data.url.charAt(0) !== '/') return;
        helpCenter = data;
        var top = Array.isArray(data.top) ? data.top : [];
        if (top.length) {
          var items = top.slice(0, 5).map(function (item) {
            return h('li', {}, [h('a', {
              href: articleUrl(String(item.url)), target: '_blank', rel: 'noopener', text: String(item.title)
            })]);
          });
          ui.help.replaceChildren(h('h3', { id: 'tsg-help-title', text: t.helpTop }), h('ul', {}, items));
          ui.help.hidden = !!ui.log.querySelector('.msg.customer') || ui.pending.childNodes.length > 0;
        }
        ui.log.querySelectorAll('[data-faq-id]').forEach(addArticleLink);
      }).catch(function () { /* no help center reachable: the chat works without it */ });
    }

    function disableChoices(scope) {
      scope.querySelectorAll('.choice').forEach(function (b) { b.disabled = true; });
    }

    // --- sending -----------------------------------------------------------

    /** Show the message at once as pending and queue it; the stream's echo replaces it. */
    function submit(body, displayText) {
      var item = { clientId: newClientId(), body: body, text: displayText, done: false };
      body.client_id = item.clientId;
      item.meta = h('div', { class: 'meta', text: t.sending });
      item.el = h('div', { class: 'msg customer is-pending' }, [
        h('div', { class: 'bubble', text: displayText }), item.meta
      ]);
      pendingItems.push(item);
      ui.help.hidden = true;
      ui.pending.appendChild(item.el);
      ui.empty.hidden = true;
      showTyping();
      scrollToBottom();
      outbox.add(item);
      stream.start();
    }

    /** Match a customer message from the stream to our pending bubble and drop the bubble. */
    function confirmPending(m) {
      var index = -1;
      if (m.client_id) {
        index = pendingItems.findIndex(function (p) { return p.clientId === m.client_id; });
      }
      if (index < 0 && !m.client_id) {
        // The server didn't tell us: the oldest pending message with the same text is it.
        var text = normaliseText(m.text);
        index = pendingItems.findIndex(function (p) {
          return normaliseText(p.text) === text || (p.body.choice != null && p.body.choice === m.text);
        });
      }
      if (index < 0) return;
      var item = pendingItems.splice(index, 1)[0];
      item.done = true; // the outbox stops retrying it
      item.el.remove();
    }

    function markFailed(item, reason) {
      if (item.done) return;
      hideTyping();
      item.meta.textContent = '';
      item.meta.classList.add('error');
      item.meta.appendChild(document.createTextNode(t.failed + (reason && typeof reason === 'string' ? ': ' + reason : '')));
      var retry = h('button', { class: 'link-button', type: 'button', text: t.retry });
      retry.addEventListener('click', function () {
        item.meta.classList.remove('error');
        item.meta.textContent = t.sending;
        showTyping();
        outbox.add(item); // same client_id: harmless if it did get through
      });
      item.meta.appendChild(retry);
    }

    function sendTyped() {
      var text = ui.input.value;
      if (!text.trim()) return;
      ui.input.value = '';
      autoGrow();
      submit({ text: text }, text);
      ui.input.focus();
    }

    // --- conversation changes ----------------------------------------------

    /** The server refused our token and we got a new one: a new customer, a new stream. */
    function onNewConversation() {
      lastCursor = null;
      seenIds.clear();
      disableChoices(ui.log);
      if (ui.log.childNodes.length) ui.log.appendChild(h('div', { class: 'divider', text: t.newConversation }));
      stream.restart();
    }

    // --- small UI states ---------------------------------------------------

    function showTyping() {
      ui.typing.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(hideTyping, TYPING_TIMEOUT_MS);
    }

    function hideTyping() {
      clearTimeout(typingTimer);
      ui.typing.hidden = true;
    }

    function showStatus(state) {
      clearTimeout(statusTimer);
      if (state === 'online' && navigator.onLine !== false) { ui.status.hidden = true; return; }
      var text = navigator.onLine === false ? t.offline : state === 'connecting' ? t.connecting : t.reconnecting;
      // Wait a moment before showing it, so a quick reconnect doesn't flash a banner.
      statusTimer = setTimeout(function () {
        ui.status.textContent = text;
        ui.status.hidden = false;
      }, navigator.onLine === false ? 0 : 1500);
    }

    function setUnread(n) {
      unread = n;
      ui.badge.textContent = n > 99 ? '99+' : String(n);
      ui.badge.hidden = n === 0;
      ui.launcher.setAttribute('aria-label', n ? t.open + ' (' + t.unread(n) + ')' : t.open);
    }

    function isNearBottom() {
      var s = ui.scroller;
      return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
    }

    function scrollToBottom() {
      ui.scroller.scrollTop = ui.scroller.scrollHeight;
    }

    function autoGrow() {
      ui.input.style.height = 'auto';
      ui.input.style.height = Math.min(ui.input.scrollHeight + 2, 120) + 'px';
      ui.send.disabled = !ui.input.value.trim();
    }

    // --- open and close ----------------------------------------------------

    function open(focus) {
      if (isOpen) {
        if (focus !== false) ui.input.focus();
        return;
      }
      isOpen = true;
      ui.panel.hidden = false;
      ui.root.classList.add('is-open');
      ui.launcher.setAttribute('aria-expanded', 'true');
      setUnread(0);
      fitVisualViewport();
      stream.start(); // the first open starts the conversation
      scrollToBottom();
      if (focus !== false) ui.input.focus();
    }

    function close() {
      if (!isOpen) return;
      var hadFocus = ui.shadow.activeElement !== null;
      isOpen = false;
      ui.panel.hidden = true;
      ui.root.classList.remove('is-open');
      ui.launcher.setAttribute('aria-expanded', 'false');
      if (hadFocus) ui.launcher.focus();
    }

    /** On phones, size the panel to the visible viewport so the keyboard never hides the input. */
    function fitVisualViewport() {
      var vv = window.visualViewport;
      var phone = window.matchMedia('(max-width: 480px)').matches;
      if (!vv || !phone || !isOpen) { ui.panel.classList.remove('vv'); return; }
      ui.panel.style.setProperty('--vv-height', vv.height + 'px');
      ui.panel.style.setProperty('--vv-top', vv.offsetTop + 'px');
      ui.panel.classList.add('vv');
    }

    // --- linking another channel ------------------------------------------

    var link = ui.linking;
    var linkPoll = null; // while a code we showed is live: watch for it being typed on LINE
    var linkedChannels = [];

    /** A request to the link API with our token (a refused token is renewed once). */
    async function linkRequest(method, path, body) {
      var token = await identity.ensure();
      var res = await request(method, path, { token: token, body: body });
      if (res.status === 401) {
        token = await identity.renew(token);
        res = await request(method, path, { token: token, body: body });
      }
      return res;
    }

    /** The other channels' names, as the server's channel registry gives them. */
    function channelNames(data) {
      var labels = (data && data.labels) || {};
      return linkedChannels.filter(function (c) { return c !== 'web'; })
        .map(function (c) { return (labels[c] && labels[c][config.locale]) || c; })
        .join(config.locale === 'ja' ? '、' : ', ');
    }

    /** Show which channels we are linked with (from a GET/POST/DELETE /web/link answer). */
    function showLinked(data) {
      linkedChannels = data && Array.isArray(data.channels) ? data.channels.map(String) : [];
      var linked = !!(data && data.linked);
      link.state.textContent = linked ? t.linkedTo(channelNames(data)) : t.notLinked;
      link.unlink.hidden = !linked;
      link.toggle.classList.toggle('is-linked', linked);
    }

    function showLinkError(text) {
      link.error.textContent = text;
      link.error.hidden = !text;
      link.input.setAttribute('aria-invalid', text ? 'true' : 'false');
    }

    function problemText(res) {
      if (res.status === 400) return t.linkWrong;
      if (res.status === 429) return t.linkLimited;
      if (res.status === 404) return t.linkUnavailable;
      if (res.status === 409) return t.linkTaken + (res.data && res.data.detail ? ': ' + res.data.detail : '');
      return t.linkNetwork;
    }

    function stopLinkPoll() {
      clearTimeout(linkPoll);
      linkPoll = null;
    }

    async function refreshLinked() {
      try {
        var res = await linkRequest('GET', '/web/link');
        if (res.status === 200) showLinked(res.data);
        else if (res.status === 404) link.state.textContent = t.linkUnavailable;
        return res.status === 200 && res.data && res.data.linked;
      } catch (e) {
        return false;
      }
    }

    function openLinking() {
      link.section.hidden = false;
      link.toggle.setAttribute('aria-expanded', 'true');
      showLinkError('');
      link.input.focus();
      refreshLinked();
    }

    function closeLinking(focusInput) {
      stopLinkPoll();
      link.section.hidden = true;
      link.codeBox.hidden = true;
      link.toggle.setAttribute('aria-expanded', 'false');
      if (focusInput) ui.input.focus();
      else link.toggle.focus();
    }

    /** Linked: say so in the chat and go back to it. */
    function linkedNow(data) {
      showLinked(data);
      link.input.value = '';
      ui.log.appendChild(h('div', { class: 'note', text: t.linkDone }));
      ui.empty.hidden = true;
      scrollToBottom();
      closeLinking(true);
    }

    async function submitLinkCode(event) {
      event.preventDefault();
      var digits = linkDigits(link.input.value);
      if (!/^\d{6}$/.test(digits)) { showLinkError(t.linkBadShape); link.input.focus(); return; }
      showLinkError('');
      link.submit.disabled = true;
      try {
        var res = await linkRequest('POST', '/web/link', { code: digits });
        if (res.status === 200) linkedNow(res.data);
        else { showLinkError(problemText(res)); link.input.focus(); }
      } catch (e) {
        showLinkError(t.linkNetwork);
      } finally {
        link.submit.disabled = false;
      }
    }

    async function showCodeForLine() {
      showLinkError('');
      try {
        await refreshLinked(); // what is linked already, so a new link is told apart
        var res = await linkRequest('POST', '/web/link-code');
        if (res.status !== 200 || !res.data || !/^\d{6}$/.test(String(res.data.code))) {
          showLinkError(problemText(res));
          return;
        }
        var seconds = Number(res.data.expires_in) || 600;
        link.code.textContent = String(res.data.code);
        link.codeHint.textContent = t.linkShownCode(Math.round(seconds / 60));
        link.codeBox.hidden = false;
        watchShownCode(Date.now() + seconds * 1000);
      } catch (e) {
        showLinkError(t.linkNetwork);
      }
    }

    /** Until the shown code expires, look every few seconds whether it was typed on LINE. */
    function watchShownCode(until) {
      stopLinkPoll();
      var before = linkedChannels.length;
      (function check() {
        linkPoll = setTimeout(async function () {
          if (link.section.hidden || Date.now() > until) { link.codeBox.hidden = Date.now() > until; return; }
          try {
            var res = await linkRequest('GET', '/web/link');
            if (res.status === 200 && res.data && res.data.linked && res.data.channels.length > before) {
              link.codeBox.hidden = true;
              linkedNow(res.data);
              return;
            }
          } catch (e) { /* try again at the next tick */ }
          if (linkPoll !== null) check();
        }, 3000);
      })();
    }

    async function unlinkNow() {
      try {
        var res = await linkRequest('DELETE', '/web/link');
        if (res.status !== 200) { showLinkError(problemText(res)); return; }
        showLinked(res.data);
        link.state.textContent = t.unlinkDone + ' ' + t.notLinked;
        link.input.focus();
      } catch (e) {
        showLinkError(t.linkNetwork);
      }
    }

    if (config.link) {
      link.toggle.addEventListener('click', function () {
        if (link.section.hidden) openLinking(); else closeLinking(false);
      });
      link.closeButton.addEventListener('click', function () { closeLinking(false); });
      link.form.addEventListener('submit', submitLinkCode);
      link.input.addEventListener('input', function () { if (!link.error.hidden) showLinkError(''); });
      link.showCode.addEventListener('click', showCodeForLine);
      link.unlink.addEventListener('click', unlinkNow);
    }

    // --- events ------------------------------------------------------------

    var lastCompositionEnd = 0;

    function onKeyDown(event) {
      if (event.key !== 'Enter' || event.shiftKey) return;
      // The Enter that confirms an IME conversion (Japanese input) must not send.
      // Safari fires compositionend before that keydown, hence the time check too.
      if (event.isComposing || event.keyCode === 229 || Date.now() - lastCompositionEnd < 50) return;
      event.preventDefault();
      sendTyped();
    }

    ui.launcher.addEventListener('click', function () { if (isOpen) close(); else open(); });
    ui.closeButton.addEventListener('click', close);
    ui.send.addEventListener('click', sendTyped);
    ui.input.addEventListener('keydown', onKeyDown);
    ui.input.addEventListener('compositionend', function () { lastCompositionEnd = Date.now(); });
    ui.input.addEventListener('input', autoGrow);
    ui.root.addEventListener('keydown', function (event) {
      if (event.key !== 'Escape' || !isOpen) return;
      event.stopPropagation();
      // Escape inside the linking section closes that section first, then the panel.
      if (config.link && !ui.linking.section.hidden && ui.linking.section.contains(ui.shadow.activeElement)) {
        closeLinking(false);
      } else {
        close();
      }
    });
    window.addEventListener('online', function () {
      stream.restart();
      outbox.kick();
    });
    window.addEventListener('offline', function () { showStatus('offline'); });
    if (window.visualViewport) {
      window.visualViewport.addEventListener('resize', fitVisualViewport);
      window.visualViewport.addEventListener('scroll', fitVisualViewport);
    }

    loadHelpCenter();
    // A returning customer: reconnect now so history and agent replies arrive even while
    // closed. A first-time visitor gets a conversation only when they open the chat.
    if (identity.has()) stream.start();
    // Auto-open doesn't take focus from the host page (or pop up a phone's keyboard).
    if (config.startOpen) open(false);

    return {
      open: function () { open(); },
      close: close,
      /** Send a text as if the customer had typed it (e.g. a "try this question" link). */
      send: function (text) {
        if (!text || !String(text).trim()) return;
        open();
        submit({ text: String(text) }, String(text));
      }
    };
  }

  function init() {
    window.Tsunagu = createWidget();
  }

  if (document.body) init();
  else document.addEventListener('DOMContentLoaded', init);
})();
