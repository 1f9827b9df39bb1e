// The customer's chat page (GET /): sign in, one conversation (the session id is remembered
// per account in localStorage, so a reopened page shows the earlier messages), live messages
// over server-sent events, earlier pages on demand. Uses window.AgentPage (common.js).
(function () {
  "use strict";

  const P = window.AgentPage;
  const $ = (id) => document.getElementById(id);
  const SESSION_KEY = "agent-platform.session.";
  const SEND_ATTEMPTS = 3;
  const HANDOFF_TEXT = {
    waiting:
      "You asked for a person: a team member will join shortly." +
      " The assistant does not answer meanwhile.",
    joined: "A team member is in the conversation.",
    none: "",
  };

  let auth = null;
  let session = null; // {id, older}
  let stream = null;
  let generation = 0; // bumped at each sign-in and sign-out: late answers of older ones are dropped
  let handoff = { state: "none", seq: 0 }; // who holds the conversation (common.js)

  const transcript = new P.Transcript($("transcript"), (message) => {
    switch (message.role) {
      case "customer":
        return "You";
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

  function setHandoff(next) {
    handoff = next;
    const text = HANDOFF_TEXT[next.state] || "";
    $("handoff").textContent = text;
    $("handoff").hidden = !text;
  }

  function addMessages(messages) {
    const fresh = messages.filter(Boolean);
    if (transcript.add(fresh)) setHandoff(P.nextHandoff(handoff, fresh));
  }

  function stopStream() {
    if (stream) stream.close();
    stream = null;
    $("live-status").textContent = "";
  }

  function startStream() {
    stopStream();
    const id = session.id;
    stream = new P.LiveStream(auth, `/v1/sessions/${encodeURIComponent(id)}/events`, {
      after: transcript.lastSeq,
      onMessage: (message) => {
        if (session && session.id === id) addMessages([message]);
      },
      onState: (state, detail) => {
        $("live-status").textContent = P.streamStatusText(state, detail);
      },
    });
  }

  function showSignIn(message) {
    generation += 1;
    stopStream();
    session = null;
    transcript.clear();
    show("loading", false);
    show("chat", false);
    show("account", Boolean(auth.user));
    show("sign-in", true);
    setError("sign-in-error", message);
    P.showSignInForms(auth);
  }

  async function openChat() {
    const mine = ++generation;
    const user = auth.user;
    stopStream();
    transcript.clear();
    $("account-name").textContent = `Signed in as ${user.label}`;
    show("account", true);
    const key = SESSION_KEY + user.key;
    let found = null;
    try {
      const saved = localStorage.getItem(key);
      if (saved) {
        try {
          found = await P.api(auth, `/v1/sessions/${encodeURIComponent(saved)}`);
        } catch (error) {
          if (error.status !== 404) throw error; // expired or erased: start a new one
        }
      }
      if (!found) {
        found = await P.api(auth, "/v1/sessions", { method: "POST", body: { preferences: {} } });
      }
      if (mine !== generation) return;
      localStorage.setItem(key, found.id);
      session = { id: found.id, older: found.older };
    } catch (error) {
      if (mine !== generation) return;
      showSignIn(`Could not open the chat: ${P.describeError(error)}`);
      return;
    }
    setHandoff(P.sessionHandoff(found));
    addMessages(found.messages || []);
    show("older", Boolean(session.older));
    show("loading", false);
    show("sign-in", false);
    show("chat", true);
    setError("chat-error", "");
    $("transcript").scrollTop = $("transcript").scrollHeight;
    $("message").focus();
    startStream();
  }

  async function send(text) {
    const mine = generation;
    const id = session.id;
    const key = P.randomId(); // the same key on each retry: the turn is stored once
    for (let attempt = 1; ; attempt += 1) {
      try {
        const outcome = await P.api(auth, `/v1/sessions/${encodeURIComponent(id)}/messages`, {
          method: "POST",
          body: { text },
          headers: { "Idempotency-Key": key },
        });
        if (mine === generation) addMessages([outcome.message, outcome.reply]);
        return true;
      } catch (error) {
        const retry = (error.status === 0 || error.status >= 500) && attempt < SEND_ATTEMPTS;
        if (!retry) {
          if (mine === generation) setError("chat-error", `Not sent: ${P.describeError(error)}`);
          return false;
        }
        await P.sleep(1000 * attempt);
      }
    }
  }

  async function showEarlier() {
    if (!session || !session.older) return;
    const mine = generation;
    const button = $("older");
    button.setAttribute("aria-busy", "true");
    try {
      const page = await P.api(auth, session.older);
      if (mine !== generation) return;
      const log = $("transcript");
      const height = log.scrollHeight;
      log.setAttribute("aria-busy", "true"); // earlier messages are not news: no announcement
      transcript.add(page.messages || []);
      log.scrollTop += log.scrollHeight - height; // keep what was on screen in place
      log.removeAttribute("aria-busy");
      session.older = page.older;
      if (!session.older) {
        show("older", false);
        log.focus();
      }
    } catch (error) {
      setError("chat-error", P.describeError(error));
    } finally {
      button.removeAttribute("aria-busy");
    }
  }

  async function newConversation() {
    if (!auth.user) return;
    localStorage.removeItem(SESSION_KEY + auth.user.key);
    await openChat();
  }

  function wire(signedInAuth) {
    auth = signedInAuth;
    P.wireComposer({
      form: "composer",
      box: "message",
      errorId: "chat-error",
      ready: () => Boolean(session),
      submit: send,
    });
    $("older").addEventListener("click", showEarlier);
    $("new-conversation").addEventListener("click", newConversation);
  }

  function main() {
    return P.startPage({
      role: "customer",
      selectId: "customer",
      demoKey: "customers",
      loadingText: "The chat could not load. Check your connection and reload the page.",
      wire,
      open: openChat,
      showSignIn,
    });
  }

  main();
})();
