// Tsunagu agent console. Every piece of customer or agent text is set with textContent,
// never parsed as HTML.
(() => {
  "use strict";

  const TEXTS = {
    en: {
      title: "Agent console", waiting: "Waiting", withAgents: "With agents",
      pick: "Pick a customer on the left.", claim: "Claim", release: "Release", close: "Close",
      takeover: "Take over", tookOver: "You took {name} over from {agent}.",
      send: "Send", back: "‹ Back", replyLabel: "Reply", loading: "Loading…",
      replyTo: "Send on", replyToLast: "{channel} (where they last wrote)",
      placeholder: "Reply… (Enter sends, Shift+Enter for a new line)",
      tokenTitle: "Sign in", tokenLabel: "Token", signIn: "Sign in",
      tokenHelp: "Paste your agent token, or open the console link from the server log.",
      badToken: "That token was not accepted.",
      nameTitle: "Your name", nameLabel: "Display name", save: "Continue",
      nameHelp: "Customers see this name when you join their conversation.",
      signOut: "Sign out", changeName: "Change name", offline: "Offline, retrying…",
      customer: "Customer", bot: "Bot", system: "System", you: "you",
      emptyQueue: "Nobody is waiting.", noneHeld: "No conversations in progress.",
      waitingFor: "waiting {time}", heldBy: "with {agent}", since: "for {time}",
      stateQueued: "waiting, #{n} in line", stateWith: "with {agent}", stateBot: "with the bot",
      stateSurvey: "survey sent", stateClosed: "closed",
      claimed: "You are now talking with {name}.",
      lost: "Too late: already taken by {agent}.", refused: "Not done: {reason}",
      released: "{name} is back in the queue.",
      closed: "Closed. {name} was asked the survey question.", closedQuiet: "Closed.",
      handledBy: "{agent} is handling this conversation.",
      earlier: "Earlier conversations ({n})", earlierLine: "{start} – {end}, {agent}",
      gone: "This conversation no longer exists.", sendFailed: "Not sent yet: {reason}",
      justNow: "< 1 min", minutes: "{n} min", hours: "{n} h", days: "{n} d",
      newWaiting: "New customer waiting: {name}",
      suggestTitle: "Answers from the FAQ", useAnswer: "Use this answer", score: "match {n}%",
    },
    ja: {
      title: "エージェントコンソール", waiting: "待機中", withAgents: "対応中",
      pick: "左の一覧からお客様を選んでください。", claim: "対応する", release: "キューに戻す",
      takeover: "引き継ぐ", tookOver: "{agent}から{name}さんの対応を引き継ぎました。",
      close: "終了", send: "送信", back: "‹ 戻る", replyLabel: "返信", loading: "読み込み中…",
      replyTo: "送信先", replyToLast: "{channel}（最後に書いたチャネル）",
      placeholder: "返信…（Enter で送信、Shift+Enter で改行）",
      tokenTitle: "サインイン", tokenLabel: "トークン", signIn: "サインイン",
      tokenHelp: "エージェント用トークンを貼り付けるか、サーバーログのリンクを開いてください。",
      badToken: "このトークンは使えません。",
      nameTitle: "お名前", nameLabel: "表示名", save: "続ける",
      nameHelp: "対応を始めるとき、この名前がお客様に表示されます。",
      signOut: "サインアウト", changeName: "名前を変更", offline: "接続が切れました。再接続中…",
      customer: "お客様", bot: "ボット", system: "システム", you: "あなた",
      emptyQueue: "待っているお客様はいません。", noneHeld: "対応中の会話はありません。",
      waitingFor: "待ち時間 {time}", heldBy: "{agent}が対応中", since: "{time}経過",
      stateQueued: "待機中（{n}番目）", stateWith: "{agent}が対応中", stateBot: "ボット対応中",
      stateSurvey: "アンケート送信済み", stateClosed: "終了",
      claimed: "{name}さんの対応を始めました。",
      lost: "間に合いませんでした：{agent}がすでに対応しています。", refused: "できませんでした：{reason}",
      released: "{name}さんをキューに戻しました。",
      closed: "終了しました。{name}さんにアンケートを送りました。", closedQuiet: "終了しました。",
      handledBy: "{agent}がこの会話を対応中です。",
      earlier: "過去の会話（{n}件）", earlierLine: "{start} – {end}、{agent}",
      gone: "この会話はもうありません。", sendFailed: "未送信：{reason}",
      justNow: "1分未満", minutes: "{n}分", hours: "{n}時間", days: "{n}日",
      newWaiting: "新しいお客様が待っています：{name}",
      suggestTitle: "FAQの回答候補", useAnswer: "この回答を使う", score: "一致度 {n}%",
    },
  };
  // How each channel is named: the server's channel registry says, with the agent's /me.
  let CHANNELS = {};
  const lang = (navigator.language || "en").toLowerCase().startsWith("ja") ? "ja" : "en";
  const t = (key, vars = {}) =>
    (TEXTS[lang][key] ?? TEXTS.en[key] ?? key).replace(/\{(\w+)\}/g, (_, n) => String(vars[n] ?? ""));

  const TOKEN_KEY = "tsunagu.agent.token";
  const NAME_KEY = "tsunagu.agent.name";
  const POLL_MS = 2000;
  const HIDDEN_POLL_MS = 10000;
  const $ = (id) => document.getElementById(id);

  const state = {
    token: localStorage.getItem(TOKEN_KEY) || "",
    name: localStorage.getItem(NAME_KEY) || "",
    id: null, // who the server says we are: actions and "mine" go by this, never by name
    via: null,
    selected: null,
    queue: null,
    queueTag: null,
    conv: null,
    convTag: null,
    draft: null, // {text, clientId}: kept until the server has the message
    known: null, // customer keys seen waiting, to announce newcomers
    suggest: null, // {stamp, data, ignored}: FAQ suggestions for the customer's newest message
    inserted: null, // {faq_id, text, score}: the suggestion put in the reply box
    timer: null,
  };

  class Unauthorized extends Error {}

  // -- the API -----------------------------------------------------------------------------

  async function api(method, path, { body, etag, actionId } = {}) {
    const headers = { Authorization: `Bearer ${state.token}` };
    if (actionId) headers["Idempotency-Key"] = actionId;
    if (state.via === "admin_token" && state.name) headers["X-Agent-Name"] = encodeURIComponent(state.name);
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (etag) headers["If-None-Match"] = etag;
    const response = await fetch(`/agent/api${path}`, {
      method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) throw new Unauthorized();
    const data = response.status === 304 ? null : await response.json().catch(() => null);
    return { status: response.status, data, etag: response.headers.get("ETag") };
  }
  const convPath = (key) => `/conversations/${encodeURIComponent(key)}`;

  // -- small helpers -----------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function ago(seconds) {
    const s = Math.max(0, Date.now() / 1000 - seconds);
    if (s < 60) return t("justNow");
    if (s < 3600) return t("minutes", { n: Math.floor(s / 60) });
    if (s < 86400) return t("hours", { n: Math.floor(s / 3600) });
    return t("days", { n: Math.floor(s / 86400) });
  }
  function clock(seconds) {
    const d = new Date(seconds * 1000);
    const sameDay = d.toDateString() === new Date().toDateString();
    const opts = sameDay ? { hour: "2-digit", minute: "2-digit" }
      : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
    return d.toLocaleString(lang, opts);
  }
  const label = (item) =>
    item.display_name || `${t("customer")} ${item.customer_key.split(":").slice(1).join(":").slice(0, 10)}`;
  const agentLabel = (name, id) => (id && id === state.id ? `${name} (${t("you")})` : name || "?");
  let noticeTimer = null;
  function notice(text, isError = false) {
    const box = $("notice");
    box.textContent = text;
    box.classList.toggle("error", isError);
    box.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { box.hidden = true; }, isError ? 8000 : 4000);
  }
  function newClientId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // -- screens -----------------------------------------------------------------------------

  function show(screen) {
    for (const id of ["login", "naming", "desk"]) $(id).hidden = id !== screen;
    $("signout").hidden = screen === "login";
    $("rename").hidden = !(screen === "desk" && state.via === "admin_token");
    $("me").textContent = screen === "desk" ? state.name : "";
  }
  function showLogin(error) {
    stopPolling();
    $("login-error").hidden = !error;
    $("login-error").textContent = error ? t("badToken") : "";
    show("login");
    $("token-input").focus();
  }

  async function signIn() {
    if (!state.token) return showLogin(false);
    let me;
    try {
      me = await api("GET", "/me");
    } catch (err) {
      if (err instanceof Unauthorized) return showLogin(true);
      $("offline").hidden = false;
      setTimeout(signIn, HIDDEN_POLL_MS);
      return undefined;
    }
    $("offline").hidden = true;
    if (me.data && me.data.channels) {
      CHANNELS = Object.fromEntries(
        Object.entries(me.data.channels).map(([name, label]) => [name, label[lang] || label.en]));
    }
    if (me.status === 400) {
      // The typed name is refused (an agent token's name, say): type another.
      state.name = "";
      show("naming");
      notice(t("refused", { reason: (me.data && me.data.detail) || me.status }), true);
      $("name-input").focus();
      return undefined;
    }
    const firstLook = state.via === null;
    state.via = me.data.via;
    state.id = me.data.id;
    if (me.data.via === "agent_token") state.name = me.data.name;
    // An admin token user's id comes with their typed name: ask again with it.
    if (firstLook && state.via === "admin_token" && state.name) return signIn();
    if (!state.name) {
      show("naming");
      $("name-input").focus();
      return undefined;
    }
    show("desk");
    if (state.selected && $("detail").hidden) {
      const key = state.selected;
      state.selected = null;
      select(key);
    }
    return poll();
  }

  // -- polling -----------------------------------------------------------------------------

  let pollRun = 0;
  function stopPolling() {
    pollRun += 1; // a poll still in flight will not schedule another
    clearTimeout(state.timer);
    state.timer = null;
  }
  async function poll() {
    // Only the latest call schedules the next one, so polls never pile up in parallel.
    stopPolling();
    const run = pollRun;
    try {
      await refreshQueue();
      if (state.selected) await refreshConversation();
      $("offline").hidden = true;
    } catch (err) {
      if (err instanceof Unauthorized) return showLogin(true);
      $("offline").hidden = false;
    }
    if (run === pollRun) state.timer = setTimeout(poll, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
    return undefined;
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !$("desk").hidden) poll();
  });

  async function refreshQueue() {
    const { status, data, etag } = await api("GET", "/queue", { etag: state.queueTag });
    if (status === 200 && data) {
      state.queue = data;
      state.queueTag = etag;
      announceNewcomers(data.waiting);
    }
    renderQueue(); // re-rendered anyway: the waiting times move on
  }

  function announceNewcomers(waiting) {
    const keys = new Set(waiting.map((w) => w.customer_key));
    if (state.known) {
      const fresh = waiting.find((w) => !state.known.has(w.customer_key));
      if (fresh && fresh.customer_key !== state.selected) notice(t("newWaiting", { name: label(fresh) }));
    }
    state.known = keys;
    document.title = waiting.length ? `(${waiting.length}) ${t("title")}` : t("title");
  }

  async function refreshConversation() {
    const key = state.selected;
    const { status, data, etag } = await api("GET", convPath(key), { etag: state.convTag });
    if (key !== state.selected) return;
    if (status === 404) {
      state.conv = null;
      state.convTag = null;
      notice(t("gone"), true);
      select(null);
      return;
    }
    if (status === 200 && data) {
      state.conv = data;
      state.convTag = etag;
      renderConversation();
    }
  }

  // -- the queue ---------------------------------------------------------------------------

  function renderQueue() {
    const q = state.queue || { waiting: [], with_agents: [] };
    $("waiting-count").textContent = q.waiting.length;
    $("held-count").textContent = q.with_agents.length;
    const waiting = q.waiting.map((w) => {
      const item = listItem(w);
      item.querySelector(".top").prepend(el("span", "pos", `#${w.position}`));
      if (w.waiting_since) item.append(el("div", "since", t("waitingFor", { time: ago(w.waiting_since) })));
      return item;
    });
    const held = q.with_agents.map((c) => {
      const item = listItem(c);
      const since = c.claimed_at ? ` · ${t("since", { time: ago(c.claimed_at) })}` : "";
      item.append(el("div", "since", t("heldBy", { agent: agentLabel(c.agent, c.agent_id) }) + since));
      return item;
    });
    fill($("waiting"), waiting, t("emptyQueue"));
    fill($("held"), held, t("noneHeld"));
  }
  function listItem(entry) {
    const button = el("button", "item");
    button.type = "button";
    if (entry.customer_key === state.selected) button.classList.add("selected");
    const top = el("div", "top");
    top.append(el("span", "name", label(entry)), el("span", `chan ${entry.channel}`, CHANNELS[entry.channel] || entry.channel));
    button.append(top);
    if (entry.last_message) button.append(el("div", "said", entry.last_message));
    button.addEventListener("click", () => select(entry.customer_key));
    return button;
  }
  function fill(list, buttons, emptyText) {
    list.replaceChildren(
      ...(buttons.length ? buttons.map((b) => { const li = el("li"); li.append(b); return li; })
        : [el("li", "none", emptyText)]),
    );
  }

  // -- one conversation --------------------------------------------------------------------

  function select(key) {
    if (key !== state.selected) {
      state.selected = key;
      state.conv = null;
      state.convTag = null;
      $("transcript").replaceChildren();
      $("reply").value = "";
      state.draft = null;
      state.suggest = null;
      state.inserted = null;
      // Until the conversation arrives: its name from the queue, "Loading…", no buttons yet.
      const q = state.queue || { waiting: [], with_agents: [] };
      const entry = [...q.waiting, ...q.with_agents].find((e) => e.customer_key === key);
      $("conv-title").textContent = entry ? label(entry) : "";
      $("conv-meta").textContent = t("loading");
      for (const id of ["claim", "release", "close", "composer", "handled", "history"]) $(id).hidden = true;
    }
    // The address names the open conversation, so a reload or a shared link comes back to it.
    history.replaceState(null, "", location.pathname + location.search + (key ? `#c=${encodeURIComponent(key)}` : ""));
    $("desk").classList.toggle("viewing", Boolean(key));
    $("empty").hidden = Boolean(key);
    $("detail").hidden = !key;
    renderQueue();
    if (key) refreshConversation().catch(() => { $("offline").hidden = false; });
  }

  function renderConversation() {
    const c = state.conv;
    if (!c) return;
    const mine = c.state === "with_agent" && c.agent_id === state.id;
    $("conv-title").textContent = label(c);
    const stateText = {
      queued: t("stateQueued", { n: c.position ?? "?" }),
      with_agent: t("stateWith", { agent: agentLabel(c.agent, c.agent_id) }),
      bot: t("stateBot"), survey: t("stateSurvey"), closed: t("stateClosed"),
    }[c.state] || c.state;
    const linked = (c.channels || []).filter((ch) => ch !== c.channel).map((ch) => CHANNELS[ch] || ch);
    $("conv-meta").textContent = [CHANNELS[c.channel] || c.channel, ...(linked.length ? [`+ ${linked.join(", ")}`] : []), stateText, c.customer_key].join(" · ");
    $("claim").hidden = c.state !== "queued";
    $("release").hidden = !mine;
    $("close").hidden = !mine;
    $("takeover").hidden = !(c.state === "with_agent" && !mine);
    $("composer").hidden = !mine;
    renderReplyTo(c);
    $("handled").hidden = !(c.state === "with_agent" && !mine);
    $("handled").textContent = t("handledBy", { agent: c.agent || "?" });

    const box = $("transcript");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    box.replaceChildren(...c.transcript.map(line));
    if (atBottom || !box.dataset.key || box.dataset.key !== c.customer_key) box.scrollTop = box.scrollHeight;
    box.dataset.key = c.customer_key;

    const history = c.history || [];
    $("history").hidden = history.length === 0;
    $("history-title").textContent = t("earlier", { n: history.length });
    $("history-list").replaceChildren(...history.map((h) => el("li", "", (h.channel ? `[${CHANNELS[h.channel] || h.channel}] ` : "") + t("earlierLine", {
      start: h.started_at ? clock(h.started_at) : "?",
      end: h.closed_at ? clock(h.closed_at) : "?",
      agent: h.agent || t("bot"),
    }))));
    refreshSuggestions(mine).catch(() => {});
  }
  function line(entry) {
    const li = el("li", entry.sender);
    const who = el("div", "who");
    const name = entry.sender === "customer"
      ? entry.sender_name || (state.conv && state.conv.display_name) || t("customer")
      : entry.sender === "agent" ? entry.sender_name || "?"
        : t(entry.sender);
    who.append(el("span", "", name));
    // A linked customer writes on several channels: each of their lines says which.
    if (entry.channel) who.append(el("span", "channel-mark", CHANNELS[entry.channel] || entry.channel));
    const time = el("time", "", clock(entry.time));
    time.dateTime = new Date(entry.time * 1000).toISOString();
    who.append(time);
    li.append(who, el("div", "text", entry.text));
    return li;
  }

  // -- FAQ answers suggested for the customer's newest message ------------------------------

  function suggestionsPanel() {
    let panel = $("suggestions");
    if (!panel) {
      panel = el("section", "suggestions");
      panel.id = "suggestions";
      panel.hidden = true;
      panel.setAttribute("aria-labelledby", "suggestions-title");
      const title = el("h3", "", t("suggestTitle"));
      title.id = "suggestions-title";
      panel.append(title, el("ul"));
      $("composer").before(panel);
    }
    return panel;
  }

  /** Ask once per customer message which FAQ answers fit it (only for the agent holding it). */
  async function refreshSuggestions(mine) {
    const c = state.conv;
    const panel = suggestionsPanel();
    const last = mine ? [...c.transcript].reverse().find((e) => e.sender === "customer" && e.text) : null;
    const stamp = last ? `${c.customer_key}|${last.time}` : null;
    if (!stamp) { panel.hidden = true; return; }
    if (state.suggest && state.suggest.stamp === stamp) return;
    state.suggest = { stamp, data: null, ignored: false };
    const { status, data } = await api("GET", `${convPath(c.customer_key)}/suggestions`);
    if (status !== 200 || !data || !state.suggest || state.suggest.stamp !== stamp) return;
    state.suggest.data = data;
    panel.hidden = data.suggestions.length === 0;
    panel.querySelector("ul").replaceChildren(...data.suggestions.map((s) => {
      const head = el("div", "head");
      head.append(el("span", "question", s.question), el("span", "score", t("score", { n: Math.round(s.score * 100) })));
      const use = el("button", "", t("useAnswer"));
      use.type = "button";
      use.setAttribute("aria-label", `${t("useAnswer")}: ${s.question}`);
      use.addEventListener("click", () => {
        $("reply").value = s.answer; // ready to edit, then Enter sends it
        state.inserted = { faq_id: s.faq_id, text: s.answer, score: s.score };
        $("reply").focus();
      });
      const li = el("li", "suggestion");
      li.append(head, el("p", "answer", s.answer), use);
      return li;
    }));
  }

  /** After a reply: did it send a suggestion as is, edited, or none of them (once a message)? */
  function reportSuggestion(key, sent) {
    const data = state.suggest && state.suggest.data;
    const used = state.inserted;
    state.inserted = null;
    if (!data || !data.message || !data.suggestions.length) return;
    if (!used && state.suggest.ignored) return;
    const top = data.suggestions[0];
    const outcome = !used ? "ignored" : sent.trim() === used.text.trim() ? "used" : "edited";
    if (!used) state.suggest.ignored = true;
    const body = {
      faq_id: used ? used.faq_id : top.faq_id, score: used ? used.score : top.score,
      outcome, message: data.message, reply: outcome === "edited" ? sent : null,
    };
    api("POST", `${convPath(key)}/suggestions/outcome`, { body }).catch(() => {});
  }

  // -- actions -----------------------------------------------------------------------------

  async function act(action) {
    const key = state.selected;
    const name = state.conv ? label(state.conv) : key;
    const buttons = ["claim", "release", "close", "takeover"];
    const from = state.conv ? state.conv.agent : null;
    for (const id of buttons) $(id).disabled = true;
    let claimed = false;
    try {
      const { status, data } = await api("POST", `${convPath(key)}/${action}`, { actionId: newClientId() });
      if (status === 200) {
        const done = { claim: t("claimed", { name }), release: t("released", { name }),
          takeover: t("tookOver", { name, agent: from || "?" }),
          close: data.state === "survey" ? t("closed", { name }) : t("closedQuiet") }[action];
        notice(done);
        claimed = action === "claim" || action === "takeover";
      } else if (status === 409 && data && data.agent && data.agent_id !== state.id) {
        notice(t("lost", { agent: data.agent }), true);
      } else {
        notice(t("refused", { reason: (data && data.detail) || status }), true);
      }
    } catch (err) {
      if (err instanceof Unauthorized) return showLogin(true);
      notice(t("refused", { reason: err.message }), true);
    } finally {
      for (const id of buttons) $(id).disabled = false;
    }
    state.convTag = null;
    state.queueTag = null;
    await poll();
    // The reply box appears once the claim shows in the conversation: then it takes focus.
    if (claimed && !$("composer").hidden) $("reply").focus();
    return undefined;
  }
  $("claim").addEventListener("click", () => act("claim"));
  $("release").addEventListener("click", () => act("release"));
  $("close").addEventListener("click", () => act("close"));
  $("takeover").addEventListener("click", () => act("takeover"));

  /** A linked customer: the agent may send on another of their channels than the last. */
  function renderReplyTo(c) {
    const select = $("reply-to");
    const channels = Object.keys(c.identities || {});
    const others = channels.filter((ch) => ch !== c.channel);
    const shape = `${c.customer_key}|${c.channel}|${channels.join(",")}`;
    select.hidden = others.length === 0;
    if (select.dataset.shape === shape) return; // a poll: keep the agent's choice
    select.dataset.shape = shape;
    select.replaceChildren(
      new Option(t("replyToLast", { channel: CHANNELS[c.channel] || c.channel }), ""),
      ...others.map((ch) => new Option(CHANNELS[ch] || ch, ch)),
    );
  }

  async function send() {
    const text = $("reply").value;
    if (!text.trim() || !state.selected) return undefined;
    // The same words retried after a failure keep their client_id, so they arrive once.
    if (!state.draft || state.draft.text !== text) state.draft = { text, clientId: newClientId() };
    const { clientId } = state.draft;
    $("send").disabled = true;
    try {
      const { status, data } = await api("POST", `${convPath(state.selected)}/reply`, {
        body: { text, client_id: clientId, ...($("reply-to").value ? { channel: $("reply-to").value } : {}) },
      });
      if (status === 200) {
        state.draft = null;
        reportSuggestion(state.selected, text);
        if ($("reply").value === text) $("reply").value = "";
      } else {
        notice(t("sendFailed", { reason: (data && data.detail) || status }), true);
      }
    } catch (err) {
      if (err instanceof Unauthorized) return showLogin(true);
      notice(t("sendFailed", { reason: err.message }), true);
    } finally {
      $("send").disabled = false;
    }
    state.convTag = null;
    return poll();
  }
  let composing = false;
  const reply = $("reply");
  reply.addEventListener("compositionstart", () => { composing = true; });
  reply.addEventListener("compositionend", () => { composing = false; });
  reply.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey) return;
    // Enter that confirms an IME conversion (Japanese input) must not send.
    if (composing || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    send();
  });
  $("composer").addEventListener("submit", (event) => { event.preventDefault(); send(); });
  $("back").addEventListener("click", () => select(null));

  // -- sign-in -----------------------------------------------------------------------------

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token-input").value.trim();
    $("token-input").value = "";
    localStorage.setItem(TOKEN_KEY, state.token);
    signIn();
  });
  $("name-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("name-input").value.trim();
    if (!name) return;
    state.name = name;
    state.via = null; // look again: the id comes with the name
    localStorage.setItem(NAME_KEY, name);
    signIn();
  });
  $("rename").addEventListener("click", () => {
    stopPolling();
    $("name-input").value = state.name;
    state.name = "";
    show("naming");
    $("name-input").focus();
  });
  $("signout").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    state.token = "";
    state.selected = null;
    showLogin(false);
  });

  function translate() {
    document.documentElement.lang = lang;
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
    for (const node of document.querySelectorAll("[data-t-placeholder]")) {
      node.placeholder = t(node.dataset.tPlaceholder);
    }
    for (const node of document.querySelectorAll("[data-t-label]")) {
      node.setAttribute("aria-label", t(node.dataset.tLabel));
    }
  }

  // A link like /agent#token=… signs in once; the token then leaves the address bar.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    state.token = fragment.get("token");
    localStorage.setItem(TOKEN_KEY, state.token);
    history.replaceState(null, "", location.pathname + location.search);
  }
  if (fragment.get("c")) state.selected = fragment.get("c");
  window.addEventListener("hashchange", () => {
    const key = new URLSearchParams(location.hash.slice(1)).get("c");
    if (key && key !== state.selected && !$("desk").hidden) select(key);
  });
  translate();
  signIn();
})();
