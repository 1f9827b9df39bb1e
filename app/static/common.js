// What the chat page (chat.js) and the staff console (staff.js) share, as one global:
// window.AgentPage. Plain script, no framework, nothing from another origin.
//
// - config(): GET /v1/web-config (how people sign in here).
// - Auth: local mode signs in a demo customer or staff member through POST /dev/token and asks
//   for a new token before the old one expires; production signs in with email and password
//   through the Identity Platform bundle (window.AgentAuth, loaded only then), which refreshes
//   its tokens itself. Either way the sign-in survives a reload, as Firebase's does.
// - api(): fetch with the bearer token, one retry with a fresh token after a 401, problem+json
//   errors as ApiError.
// - LiveStream: server-sent events read with fetch() (EventSource cannot send Authorization),
//   resumed with Last-Event-ID after any drop, with backoff; it never logs what it reads.
// - Transcript: the role=log element, one entry per message seq (a message seen twice, from
//   the stream and from a POST's answer, is shown once), kept in seq order.
//
// Nothing here writes a token, an e-mail address or a message's text to the console.
(function () {
  "use strict";

  const LOCAL_SIGN_IN_KEY = "agent-platform.local-sign-in";
  const REFRESH_BEFORE_EXPIRY_MS = 5 * 60 * 1000;
  const STREAM_SILENCE_MS = 45 * 1000; // three missed heartbeats (15 s): the stream is dead
  const MAX_BACKOFF_MS = 30 * 1000;

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail || `The server answered ${status}.`);
      this.status = status;
    }
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  async function readProblem(response) {
    try {
      const body = await response.json();
      return typeof body.detail === "string" ? body.detail : null;
    } catch {
      return null;
    }
  }

  let configPromise = null;
  function config() {
    if (!configPromise) {
      configPromise = fetch("/v1/web-config", { headers: { Accept: "application/json" } }).then(
        async (response) => {
          if (!response.ok) throw new ApiError(response.status, await readProblem(response));
          return response.json();
        },
      );
      configPromise.catch(() => {
        configPromise = null; // try again next time
      });
    }
    return configPromise;
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = el("script", { src });
      script.addEventListener("load", resolve);
      script.addEventListener("error", () => reject(new Error("The sign-in code did not load.")));
      document.head.append(script);
    });
  }

  // Who is signed in, and their tokens. `kind` is "customer" or "staff" in local mode; in
  // production it is the page's wish (the api decides what the account may do).
  class Auth {
    constructor(cfg) {
      this.mode = cfg.auth.mode;
      this.firebase = cfg.auth.firebase;
      this.demo = cfg.demo;
      this.user = null; // {key, label, kind?}
      this.listeners = [];
      this.local = null; // local mode: {kind, id, token, expiresAt}
      this.refreshTimer = null;
    }

    get available() {
      return this.mode === "local" || Boolean(this.firebase);
    }

    onChange(listener) {
      this.listeners.push(listener);
    }

    emit() {
      for (const listener of this.listeners) listener(this.user);
    }

    // Restores an earlier sign-in (the user, or null).
    async start() {
      if (this.mode === "local") {
        let saved = null;
        try {
          saved = JSON.parse(localStorage.getItem(LOCAL_SIGN_IN_KEY) || "null");
        } catch {
          saved = null;
        }
        if (saved && saved.kind && saved.id) {
          this.local = saved;
          try {
            await this.localToken();
            this.setLocalUser();
          } catch {
            this.clearLocal();
          }
        }
        return this.user;
      }
      if (!this.firebase) return null;
      if (!window.AgentAuth) await loadScript("/static/vendor/agent-auth.js");
      await window.AgentAuth.start(this.firebase);
      let first = true;
      await new Promise((resolve) => {
        window.AgentAuth.onChange((user) => {
          const before = this.user && this.user.key;
          this.user = user ? { key: `uid:${user.uid}`, label: user.email || "", kind: null } : null;
          if (first) {
            first = false;
            resolve();
          } else if ((this.user && this.user.key) !== before) {
            this.emit(); // signed in or out (here or in another tab); token refreshes are quiet
          }
        });
      });
      return this.user;
    }

    setLocalUser() {
      const { kind, id } = this.local;
      this.user = { key: `${kind}:${id}`, label: id, kind, id };
    }

    clearLocal() {
      clearTimeout(this.refreshTimer);
      this.local = null;
      this.user = null;
      localStorage.removeItem(LOCAL_SIGN_IN_KEY);
    }

    async signInLocal(kind, id) {
      this.local = { kind, id, token: null, expiresAt: 0 };
      try {
        await this.localToken(true);
      } catch (error) {
        this.clearLocal();
        throw error;
      }
      this.setLocalUser();
      this.emit();
      return this.user;
    }

    async signInPassword(email, password) {
      await window.AgentAuth.signIn(email, password); // onChange reports the user
      return this.user;
    }

    async signOut() {
      if (this.mode === "local") {
        this.clearLocal();
        this.emit();
      } else if (window.AgentAuth) {
        await window.AgentAuth.signOut();
      }
    }

    // A current token, refreshed before it expires; `force` asks for a new one (after a 401).
    async token(force = false) {
      if (this.mode === "local") return this.local ? this.localToken(force) : null;
      return window.AgentAuth ? window.AgentAuth.token(force) : null;
    }

    async localToken(force = false) {
      const current = this.local;
      if (!force && current.token && Date.now() < current.expiresAt - REFRESH_BEFORE_EXPIRY_MS) {
        return current.token;
      }
      const field = current.kind === "staff" ? "staff_id" : "customer_id";
      const response = await fetch("/dev/token", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ [field]: current.id }),
      });
      if (!response.ok) throw new ApiError(response.status, await readProblem(response));
      const issued = await response.json();
      if (this.local !== current) throw new ApiError(401, "Signed out meanwhile.");
      current.token = issued.token;
      current.expiresAt = Date.now() + issued.expires_in * 1000;
      localStorage.setItem(LOCAL_SIGN_IN_KEY, JSON.stringify(current));
      // Ask for the next one before this one expires, even while nothing calls the api.
      clearTimeout(this.refreshTimer);
      const wait = Math.max(1000, current.expiresAt - REFRESH_BEFORE_EXPIRY_MS - Date.now());
      this.refreshTimer = setTimeout(() => {
        if (this.local === current) this.localToken(true).catch(() => {});
      }, wait);
      return current.token;
    }
  }

  // fetch() with the signed-in account's token; JSON in and out; one retry after a 401.
  async function api(auth, path, { method = "GET", body, headers = {} } = {}) {
    for (let attempt = 0; ; attempt += 1) {
      const token = await auth.token(attempt > 0);
      if (!token) throw new ApiError(401, "You are signed out. Sign in again.");
      const init = {
        method,
        headers: { Accept: "application/json", Authorization: `Bearer ${token}`, ...headers },
        cache: "no-store",
      };
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      let response;
      try {
        response = await fetch(path, init);
      } catch {
        throw new ApiError(0, "Could not reach the server. Check your connection and try again.");
      }
      if (response.status === 401 && attempt === 0) continue;
      if (!response.ok) throw new ApiError(response.status, await readProblem(response));
      return response.status === 204 ? null : response.json();
    }
  }

  // Server-sent events over fetch(): `onMessage(message)` for each `event: message`, in seq
  // order; `onState(state, detail)` with "connecting", "open", "waiting" (a retry is
  // scheduled), "offline" or "stopped" (the server refused: 403/404, no retry).
  class LiveStream {
    constructor(auth, path, { after, onMessage, onState }) {
      this.auth = auth;
      this.path = path;
      this.last = after; // the seq of the last message received: the resume point
      this.onMessage = onMessage;
      this.onState = onState || (() => {});
      this.closed = false;
      this.controller = null;
      this.timer = null;
      this.watchdog = null;
      this.failures = 0;
      this.retryMs = 1000;
      this.onOnline = () => this.reconnectNow();
      this.onOffline = () => {
        if (this.controller) this.controller.abort();
        this.onState("offline");
      };
      window.addEventListener("online", this.onOnline);
      window.addEventListener("offline", this.onOffline);
      this.connect();
    }

    close() {
      this.closed = true;
      clearTimeout(this.timer);
      clearTimeout(this.watchdog);
      if (this.controller) this.controller.abort();
      window.removeEventListener("online", this.onOnline);
      window.removeEventListener("offline", this.onOffline);
    }

    reconnectNow() {
      if (this.closed) return;
      clearTimeout(this.timer);
      if (this.controller) this.controller.abort();
      else this.connect();
    }

    schedule(delayMs) {
      if (this.closed) return;
      clearTimeout(this.timer);
      if (!navigator.onLine) {
        this.onState("offline"); // the online event reconnects
        return;
      }
      this.onState("waiting", delayMs);
      this.timer = setTimeout(() => this.connect(), delayMs);
    }

    backoff() {
      // 1 s, 2 s, 4 s ... up to 30 s, each with up to half of it taken off at random (so that
      // many pages dropped at once do not all come back at the same moment).
      const ceiling = Math.min(MAX_BACKOFF_MS, this.retryMs * 2 ** this.failures);
      this.failures += 1;
      return Math.round(ceiling * (0.5 + Math.random() / 2));
    }

    async connect() {
      if (this.closed) return;
      clearTimeout(this.timer);
      const controller = new AbortController();
      this.controller = controller;
      this.onState("connecting");
      let response;
      try {
        const token = await this.auth.token(this.failures > 0 && this.lastStatus === 401);
        if (!token) {
          this.onState("stopped", 401);
          return;
        }
        response = await fetch(this.path, {
          headers: {
            Accept: "text/event-stream",
            Authorization: `Bearer ${token}`,
            "Last-Event-ID": String(this.last),
          },
          cache: "no-store",
          signal: controller.signal,
        });
      } catch {
        this.controller = null;
        if (!this.closed) this.schedule(controller.signal.aborted ? 0 : this.backoff());
        return;
      }
      this.lastStatus = response.status;
      if (!response.ok) {
        this.controller = null;
        if (response.status === 401 || response.status === 429 || response.status >= 500) {
          const after = Number(response.headers.get("Retry-After"));
          const delay = after > 0 ? after * 1000 * (1 + Math.random() / 2) : this.backoff();
          this.schedule(delay);
        } else {
          this.onState("stopped", response.status);
        }
        return;
      }
      this.failures = 0;
      this.onState("open");
      const outcome = await this.read(response, controller);
      this.controller = null;
      if (this.closed) return;
      // The server ends each stream after a while: come back after its `retry`. After a drop,
      // back off; after an abort of ours (offline, a silent stream), at once.
      const delays = { ended: this.retryMs, aborted: 0 };
      this.schedule(outcome in delays ? delays[outcome] : this.backoff());
    }

    async read(response, controller) {
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let event = { type: "", data: [], id: null };
      const alive = () => {
        clearTimeout(this.watchdog);
        this.watchdog = setTimeout(() => controller.abort(), STREAM_SILENCE_MS);
      };
      alive();
      let outcome = "ended";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          alive();
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n")) >= 0) {
            const line = buffer.slice(0, end).replace(/\r$/, "");
            buffer = buffer.slice(end + 1);
            if (line === "") {
              this.dispatch(event);
              event = { type: "", data: [], id: null };
              continue;
            }
            if (line.startsWith(":")) continue; // a heartbeat comment
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            let value = colon < 0 ? "" : line.slice(colon + 1);
            if (value.startsWith(" ")) value = value.slice(1);
            if (field === "data") event.data.push(value);
            else if (field === "event") event.type = value;
            else if (field === "id") event.id = value;
            else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
          }
        }
      } catch {
        outcome = controller.signal.aborted ? "aborted" : "dropped";
      }
      clearTimeout(this.watchdog);
      return outcome;
    }

    dispatch(event) {
      if ((event.type || "message") !== "message" || event.data.length === 0) return;
      let message;
      try {
        message = JSON.parse(event.data.join("\n"));
      } catch {
        return;
      }
      const seq = Number(event.id !== null ? event.id : message.seq);
      if (Number.isInteger(seq) && seq > this.last) this.last = seq;
      this.onMessage(message);
    }
  }

  // Who holds the conversation, {state, seq}: the state the latest message that changed it
  // set (pages derive it from messages), or the session's own as of the message `seq`. Older
  // messages, however late they are shown, change nothing.
  const HANDOFF_STATES = new Set(["none", "waiting", "joined"]);
  function nextHandoff(current, messages) {
    let next = current;
    for (const message of messages) {
      const value = message && message.data && message.data.handoff;
      if (HANDOFF_STATES.has(value) && message.seq > next.seq) {
        next = { state: value, seq: message.seq };
      }
    }
    return next;
  }

  // The handoff of a session as the API shows it, with its latest messages.
  function sessionHandoff(session) {
    const messages = session.messages || [];
    const state = (session.handoff && session.handoff.state) || "none";
    const seq = messages.reduce((last, m) => Math.max(last, m.seq || 0), 0);
    return nextHandoff({ state: HANDOFF_STATES.has(state) ? state : "none", seq }, messages);
  }

  function timeOf(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function describeRoute(message) {
    const data = message.data || {};
    const rows = [];
    if (message.route) rows.push(["Route", message.route]);
    if (data.source) rows.push(["Source", String(data.source)]);
    if (data.intent) rows.push(["Understood as", String(data.intent)]);
    if (data.question) rows.push(["Matched question", String(data.question)]);
    if (data.inquiry_id) rows.push(["Inquiry", String(data.inquiry_id)]);
    if (data.kind) rows.push(["Task", String(data.kind)]);
    if (data.status) rows.push(["Status", String(data.status)]);
    return rows;
  }

  // The role=log element: one entry per seq, in seq order. `authorOf(message)` names who wrote
  // a message for the reader of this page.
  class Transcript {
    constructor(element, authorOf) {
      this.element = element;
      this.authorOf = authorOf;
      this.bySeq = new Map();
      this.last = 0; // the highest seq shown
    }

    get size() {
      return this.bySeq.size;
    }

    get lastSeq() {
      return this.last;
    }

    clear() {
      this.bySeq.clear();
      this.last = 0;
      this.element.replaceChildren();
    }

    // Adds each message not shown yet; true when any was new.
    add(messages) {
      const list = this.element;
      const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
      let added = false;
      for (const message of messages) {
        if (!message || !Number.isInteger(message.seq) || this.bySeq.has(message.seq)) continue;
        const node = this.render(message);
        let before = null; // the usual case: newer than everything shown, so it goes last
        if (message.seq < this.lastSeq) {
          const later = [...this.bySeq.keys()].filter((seq) => seq > message.seq);
          before = this.bySeq.get(Math.min(...later)).node;
        }
        list.insertBefore(node, before);
        this.bySeq.set(message.seq, { message, node });
        this.last = Math.max(this.last, message.seq);
        added = true;
      }
      if (added && nearBottom) list.scrollTop = list.scrollHeight;
      return added;
    }

    render(message) {
      const author = this.authorOf(message);
      const node = el("article", {
        className: `message message-${message.role}`,
        "data-seq": message.seq,
        "data-role": message.role,
      });
      const header = el(
        "p",
        { className: "message-author" },
        el("span", { className: "author", text: author }),
        " ",
        el("time", { datetime: message.created_at, text: timeOf(message.created_at) }),
      );
      const text = el("p", { className: "message-text", text: message.text });
      node.append(header, text);
      if (message.role === "agent" || (message.role === "system" && message.route === "inquiry")) {
        const rows = describeRoute(message);
        if (rows.length) {
          const list = el("dl");
          for (const [term, value] of rows) {
            list.append(el("dt", { text: term }), el("dd", { text: value }));
          }
          const summary = el("summary", { text: "How this was answered" });
          node.append(el("details", { className: "route" }, summary, list));
        }
      }
      return node;
    }
  }

  function describeError(error) {
    if (error instanceof ApiError) return error.message;
    return "Something went wrong. Try again.";
  }

  function streamStatusText(state, detail) {
    switch (state) {
      case "open":
        return "Live updates are on.";
      case "connecting":
        return "Connecting live updates…";
      case "waiting":
        return `Connection lost. Reconnecting in ${Math.max(1, Math.round(detail / 1000))} s…`;
      case "offline":
        return "You are offline. Live updates resume when the connection is back.";
      case "stopped":
        return "Live updates stopped. Reload the page to try again.";
      default:
        return "";
    }
  }

  // Enter sends, Shift+Enter starts a new line (not while an input method composes).
  function enterSends(textarea) {
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !event.altKey) {
        event.preventDefault();
        textarea.form.requestSubmit();
      }
    });
  }

  function show(id, visible) {
    document.getElementById(id).hidden = !visible;
  }

  function setText(id, text) {
    document.getElementById(id).textContent = text || "";
  }

  // The sign-in forms both pages share: the demo accounts' choice in local mode, email and
  // password in production, and "Sign out". `showSignIn(message)` is the page's own.
  function showSignInForms(auth) {
    const local = auth.mode === "local";
    show("local-sign-in", local);
    show("password-sign-in", !local && auth.available);
    show("sign-in-unavailable", !auth.available);
  }

  function wireSignIn(auth, role, selectId, showSignIn) {
    const $ = (id) => document.getElementById(id);
    $("local-sign-in").addEventListener("submit", async (event) => {
      event.preventDefault();
      setText("sign-in-error", "");
      try {
        await auth.signInLocal(role, $(selectId).value); // onChange opens the page
      } catch (error) {
        setText("sign-in-error", describeError(error));
      }
    });
    $("password-sign-in").addEventListener("submit", async (event) => {
      event.preventDefault();
      setText("sign-in-error", "");
      try {
        await auth.signInPassword($("email").value, $("password").value);
        $("password").value = "";
      } catch (error) {
        setText("sign-in-error", error.message || "Sign-in failed. Try again.");
      }
    });
    $("sign-out").addEventListener("click", () => {
      showSignIn("");
      auth.signOut().catch(() => {});
    });
  }

  // A message form: `submit(text)` resolves true when the text was sent (then the box is
  // emptied); one send at a time; Enter sends. `ready()` says whether sending makes sense now.
  function wireComposer({ form, box, errorId, ready, submit }) {
    const formNode = document.getElementById(form);
    const boxNode = document.getElementById(box);
    let sending = false;
    formNode.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = boxNode.value.trim();
      if (!text || sending || !ready()) return;
      sending = true;
      formNode.setAttribute("aria-busy", "true");
      setText(errorId, "");
      try {
        if (await submit(text)) boxNode.value = "";
      } finally {
        sending = false;
        formNode.removeAttribute("aria-busy");
        if (!boxNode.disabled) boxNode.focus();
      }
    });
    enterSends(boxNode);
  }

  // A page's start: its config, the demo accounts (local mode), the sign-in that survives a
  // reload, and `open()` whenever someone is signed in.
  async function startPage({ role, selectId, demoKey, loadingText, wire, open, showSignIn }) {
    let cfg;
    try {
      cfg = await config();
    } catch {
      setText("loading", loadingText);
      return null;
    }
    const auth = new Auth(cfg);
    if (cfg.demo) {
      const options = cfg.demo[demoKey].map((id) => el("option", { value: id, text: id }));
      document.getElementById(selectId).replaceChildren(...options);
    }
    wireSignIn(auth, role, selectId, showSignIn);
    wire(auth);
    auth.onChange((user) => (user ? open() : showSignIn("")));
    let user = null;
    try {
      user = await auth.start();
    } catch (error) {
      showSignIn(describeError(error));
      return auth;
    }
    if (user) await open();
    else showSignIn("");
    return auth;
  }

  window.AgentPage = Object.freeze({
    ApiError,
    Auth,
    LiveStream,
    Transcript,
    api,
    config,
    describeError,
    el,
    enterSends,
    nextHandoff,
    sessionHandoff,
    randomId,
    setText,
    show,
    showSignInForms,
    sleep,
    startPage,
    streamStatusText,
    wireComposer,
  });
})();
