// Identity Platform email+password sign-in for the pages of app/static, behind one global:
// window.AgentAuth. The pages are plain, unbundled scripts; only this file touches Firebase.
// Built into app/static/vendor/agent-auth.js by web/build.mjs (`make web`).
//
// Only firebase/app and firebase/auth's modular API, and initializeAuth rather than getAuth:
// getAuth also wires the popup/redirect resolver, which loads Google's iframe code from the
// network and is of no use to email+password sign-in.
import { initializeApp } from "firebase/app";
import {
  browserLocalPersistence,
  initializeAuth,
  onIdTokenChanged,
  signInWithEmailAndPassword,
  signOut as firebaseSignOut,
} from "firebase/auth";

const CONFIG_FIELDS = ["apiKey", "authDomain", "projectId"];

// Firebase's error codes -> a short sentence for the person signing in. Wrong password, unknown
// user and invalid credential read the same on purpose: the page must not tell which it was.
const WRONG_CREDENTIALS = "Wrong email or password.";
const MESSAGES = {
  "auth/invalid-credential": WRONG_CREDENTIALS,
  "auth/invalid-login-credentials": WRONG_CREDENTIALS,
  "auth/wrong-password": WRONG_CREDENTIALS,
  "auth/user-not-found": WRONG_CREDENTIALS,
  "auth/missing-password": "Enter your password.",
  "auth/invalid-email": "That email address is not valid.",
  "auth/user-disabled": "This account has been disabled.",
  "auth/too-many-requests": "Too many attempts. Wait a few minutes and try again.",
  "auth/network-request-failed":
    "Could not reach the sign-in service. Check your connection and try again.",
  "auth/operation-not-allowed": "Email and password sign-in is not enabled for this project.",
  "auth/invalid-api-key": "The sign-in configuration of this site is not valid.",
  "auth/api-key-not-valid.-please-pass-a-valid-api-key.":
    "The sign-in configuration of this site is not valid.",
};

let auth = null;
let startedWith = null;

function failure(code, message, cause) {
  const error = new Error(message);
  error.code = code;
  if (cause !== undefined) error.cause = cause;
  return error;
}

function started() {
  if (!auth) {
    throw failure("agent-auth/not-started", "AgentAuth.start(config) has not been called.");
  }
  return auth;
}

// A promise that rejects (rather than throws) when start() has not been called.
function withAuth(use) {
  try {
    return Promise.resolve(use(started()));
  } catch (error) {
    return Promise.reject(error);
  }
}

async function describe(user) {
  return { uid: user.uid, email: user.email, token: await user.getIdToken() };
}

function start(config) {
  const given = config && typeof config === "object" ? config : {};
  const missing = CONFIG_FIELDS.filter((k) => typeof given[k] !== "string" || !given[k]);
  if (missing.length) {
    throw failure(
      "agent-auth/invalid-config",
      `AgentAuth.start(config): config needs ${missing.join(", ")} (non-empty strings).`,
    );
  }
  const options = Object.fromEntries(CONFIG_FIELDS.map((k) => [k, given[k]]));
  const key = JSON.stringify(options);
  if (auth) {
    if (key !== startedWith) {
      throw failure(
        "agent-auth/already-started",
        "AgentAuth.start was already called with a different config.",
      );
    }
  } else {
    auth = initializeAuth(initializeApp(options), { persistence: browserLocalPersistence });
    startedWith = key;
  }
  // Resolves once a user persisted by an earlier visit is restored (or known to be absent).
  return auth.authStateReady();
}

function signIn(email, password) {
  return withAuth(async (a) => {
    try {
      const { user } = await signInWithEmailAndPassword(
        a,
        String(email ?? ""),
        String(password ?? ""),
      );
      return await describe(user);
    } catch (error) {
      const code = (error && error.code) || "agent-auth/unknown";
      throw failure(code, MESSAGES[code] || "Sign-in failed. Try again.", error);
    }
  });
}

function signOut() {
  return withAuth((a) => firebaseSignOut(a));
}

function token(forceRefresh = false) {
  return withAuth(async (a) => {
    await a.authStateReady();
    return a.currentUser ? a.currentUser.getIdToken(Boolean(forceRefresh)) : null;
  });
}

function onChange(callback) {
  if (typeof callback !== "function") {
    throw failure(
      "agent-auth/invalid-callback",
      "AgentAuth.onChange(callback): callback must be a function.",
    );
  }
  const a = started();
  let latest = 0;
  return onIdTokenChanged(a, async (user) => {
    // Reading the token is asynchronous: a sign-out that follows at once must not be
    // overtaken by the sign-in before it, so only the latest change is reported.
    const seq = ++latest;
    let value = null;
    if (user) {
      try {
        value = await describe(user);
      } catch {
        return; // the SDK reports the outcome (a new token, or the sign-out) as a later change
      }
    }
    if (seq === latest) callback(value);
  });
}

window.AgentAuth = Object.freeze({ start, signIn, signOut, token, onChange });
