// The support team's console (GET /staff): the conversations waiting for a person (refreshed
// every few seconds), one conversation open at a time (#session=<id>) with its live transcript,
// a reply box and "Return to assistant". Uses window.AgentPage (common.js). The staff API
// answers staff tokens only; any other account sees why and can sign out.
(function () {
  "use strict";

  const P = window.AgentPage;
  const $ = (id) => document.getElementById(id);
  const QUEUE_REFRESH_MS = 5000;
  const HANDOFF_TEXT = {
    waiting: "The customer is waiting for a person. Your first reply joins the conversation.",
    joined: "A team member holds this conversation: the assistant does not answer.",
    none: "Back with the assistant: it answers this customer again.",
  };

  let auth = null;
  let generation = 0;
  let queueTimer = null;
  let open = null; // {id, customerId, older, handoff: {state, seq}}
  let stream = null;

  const transcript = new P.Transcript($("transcript"), (message) => {
    switch (message.role) {
      case "customer":
        return open ? `Customer ${open.customerId}` : "Customer";
      case "agent":
        return "Assistant";
      case "staff":
        return "Team member";
      default:
        return message.route === "inquiry" || (message.data && message.data.inquiry_id)
          ? "Background task result"
          : "Notice";
    }
  });

  const show = P.show;
  const setError = P.setText;

  function sessionPath(id, rest = "") {
    return `/v1/staff/sessions/${encodeURIComponent(id)}${rest}`;
  }

  function minutes(seconds) {
    const value = Math.max(0, Math.floor(seconds / 60));
    return value < 1 ? "under a minute" : value === 1 ? "1 min" : `${value} min`;
  }

  // ---- the queue -------------------------------------------------------------------------

  // Updated in place, so a link that keeps its place keeps the keyboard focus.
  function renderQueue(handoffs) {
    const list = $("handoffs");
    const existing = new Map([...list.children].map((item) => [item.dataset.session, item]));
    const wanted = new Set(handoffs.map((h) => h.session_id));
    for (const [id, item] of existing) if (!wanted.has(id)) item.remove();
    handoffs.forEach((h, index) => {
      let item = existing.get(h.session_id);
      if (!item) {
        const link = P.el("a", { href: `#session=${encodeURIComponent(h.session_id)}` });
        item = P.el("li", { "data-session": h.session_id }, link);
      }
      const link = item.firstElementChild;
      const state = h.state === "joined" ? "with a team member" : "waiting";
      link.textContent = `Customer ${h.customer_id}, ${state} for ${minutes(h.waiting_seconds)}`;
      if (open && open.id === h.session_id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
      if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
    });
    show("queue-empty", handoffs.length === 0);
  }

  async function refreshQueue() {
    clearTimeout(queueTimer);
    const mine = generation;
    try {
      const body = await P.api(auth, "/v1/staff/handoffs");
      if (mine !== generation) return true;
      renderQueue(body.handoffs || []);
      $("queue-status").textContent = "";
      return true;
    } catch (error) {
      if (mine !== generation) return true;
      if (error.status === 401 || error.status === 403) {
        notStaff(error);
        return false;
      }
      $("queue-status").textContent = `Could not refresh the list: ${P.describeError(error)}`;
      return true;
    } finally {
      if (mine === generation) queueTimer = setTimeout(refreshQueue, QUEUE_REFRESH_MS);
    }
  }

  // ---- one conversation ------------------------------------------------------------------

  function setHandoff(next) {
    if (!open) return;
    open.handoff = next;
    $("handoff").textContent = HANDOFF_TEXT[next.state] || "";
    const held = next.state !== "none";
    $("reply").disabled = !held;
    $("send").disabled = !held;
    show("release", held);
  }

  function addMessages(messages) {
    const fresh = messages.filter(Boolean);
    if (transcript.add(fresh)) setHandoff(P.nextHandoff(open.handoff, fresh));
  }

  function stopStream() {
    if (stream) stream.close();
    stream = null;
    $("live-status").textContent = "";
  }

  function closeConversation() {
    stopStream();
    open = null;
    transcript.clear();
    show("conversation", false);
  }

  async function openConversation(id) {
    const mine = ++generation;
    closeConversation();
    let found;
    try {
      found = await P.api(auth, sessionPath(id));
    } catch (error) {
      if (mine !== generation) return;
      if (error.status === 401 || error.status === 403) return notStaff(error);
      $("queue-status").textContent = `Could not open that conversation: ${P.describeError(error)}`;
      refreshQueue();
      return;
    }
    if (mine !== generation) return;
    open = { id: found.id, customerId: found.customer_id, older: found.older, handoff: null };
    $("conversation-title").textContent = `Conversation with customer ${found.customer_id}`;
    setError("conversation-error", "");
    transcript.add(found.messages || []);
    setHandoff(P.sessionHandoff(found));
    show("older", Boolean(open.older));
    show("conversation", true);
    $("transcript").scrollTop = $("transcript").scrollHeight;
    if (open.handoff.state === "none") $("conversation-title").focus();
    else $("reply").focus();
    stream = new P.LiveStream(auth, sessionPath(open.id, "/events"), {
      after: transcript.lastSeq,
      onMessage: (message) => {
        if (open && open.id === found.id) addMessages([message]);
      },
      onState: (state, detail) => {
        $("live-status").textContent = P.streamStatusText(state, detail);
      },
    });
    refreshQueue();
  }

  async function reply(text) {
    const id = open.id;
    const key = P.randomId();
    for (let attempt = 1; ; attempt += 1) {
      try {
        const body = await P.api(auth, sessionPath(id, "/messages"), {
          method: "POST",
          body: { text },
          headers: { "Idempotency-Key": key },
        });
        if (open && open.id === id) addMessages([body.message]);
        refreshQueue(); // the first reply joins the conversation: the list says so at once
        return true;
      } catch (error) {
        if ((error.status === 0 || error.status >= 500) && attempt < 3) {
          await P.sleep(1000 * attempt);
          continue;
        }
        if (open && open.id === id) {
          const why =
            error.status === 409
              ? "this conversation is back with the assistant."
              : P.describeError(error);
          setError("conversation-error", `Not sent: ${why}`);
        }
        return false;
      }
    }
  }

  async function release() {
    if (!open) return;
    const id = open.id;
    setError("conversation-error", "");
    try {
      await P.api(auth, sessionPath(id, "/release"), { method: "POST" });
    } catch (error) {
      if (error.status !== 409) {
        setError("conversation-error", P.describeError(error));
        return;
      }
    }
    if (!open || open.id !== id) return;
    // Back with the assistant as of now; the notice (a later seq) says the same.
    setHandoff({ state: "none", seq: Math.max(open.handoff.seq, transcript.lastSeq) });
    try {
      const latest = await P.api(auth, sessionPath(id)); // the notice, if the stream lags
      if (open && open.id === id) addMessages(latest.messages || []);
    } catch {
      // the stream brings it
    }
    $("conversation-title").focus();
    refreshQueue();
  }

  async function showEarlier() {
    if (!open || !open.older) return;
    const id = open.id;
    try {
      const page = await P.api(auth, open.older);
      if (!open || open.id !== id) return;
      const log = $("transcript");
      const height = log.scrollHeight;
      log.setAttribute("aria-busy", "true");
      transcript.add(page.messages || []);
      log.scrollTop += log.scrollHeight - height;
      log.removeAttribute("aria-busy");
      open.older = page.older;
      if (!open.older) {
        show("older", false);
        log.focus();
      }
    } catch (error) {
      setError("conversation-error", P.describeError(error));
    }
  }

  function hashSession() {
    const match = /^#session=([^&]+)$/.exec(location.hash);
    return match ? decodeURIComponent(match[1]) : null;
  }

  // ---- sign-in ---------------------------------------------------------------------------

  function stopAll() {
    generation += 1;
    clearTimeout(queueTimer);
    closeConversation();
    $("handoffs").replaceChildren();
  }

  function showSignIn(message) {
    stopAll();
    show("loading", false);
    show("console", false);
    show("account", Boolean(auth.user));
    show("sign-in", true);
    setError("sign-in-error", message);
    P.showSignInForms(auth);
  }

  function notStaff(error) {
    const detail =
      error.status === 403
        ? "This account is not a staff account: the console is for the support team." +
          " Sign out and sign in with a staff account."
        : P.describeError(error);
    showSignIn(detail);
  }

  async function openConsole() {
    stopAll();
    const user = auth.user;
    $("account-name").textContent = `Signed in as ${user.label}`;
    show("account", true);
    if (!(await refreshQueue())) return; // not staff: refreshQueue said so
    show("loading", false);
    show("sign-in", false);
    show("console", true);
    const id = hashSession();
    if (id) await openConversation(id);
    else {
      const first = $("handoffs").querySelector("a");
      (first || $("queue-title")).focus();
    }
  }

  function wire(signedInAuth) {
    auth = signedInAuth;
    P.wireComposer({
      form: "composer",
      box: "reply",
      errorId: "conversation-error",
      ready: () => Boolean(open),
      submit: reply,
    });
    $("release").addEventListener("click", release);
    $("older").addEventListener("click", showEarlier);
    window.addEventListener("hashchange", () => {
      if (!auth.user || $("console").hidden) return;
      const id = hashSession();
      if (id) openConversation(id);
      else closeConversation();
    });
  }

  function main() {
    return P.startPage({
      role: "staff",
      selectId: "staff-member",
      demoKey: "staff",
      loadingText: "The console could not load. Check your connection and reload the page.",
      wire,
      open: openConsole,
      showSignIn,
    });
  }

  main();
})();
