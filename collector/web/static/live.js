// Live updates without full reloads (docs/web.md, "Live updates"). The page listens to the
// collector's server-sent events (GET /api/v1/events: a device or a ticket changed); on one it
// fetches this same page and swaps in the elements marked data-live (by id), leaving forms, and
// what is typed in them, alone. Fetches are debounced: a burst of events is one fetch.
// While the stream is up the page also refreshes slowly (data-refresh x 4 seconds: levels that
// drift without changing state); without it (no EventSource, the stream refused or failing
// FAILURES times in a row) it refreshes every data-refresh seconds, as before, and tries the
// stream again later. A hidden tab closes its stream (browsers allow only a few connections per
// site) and catches up when shown again (?since=<last event id>).
"use strict";

const FAILURES = 3;  // errors in a row without an open stream before the timed refresh
const DEBOUNCE_MS = 300;
const SLOW = 4;  // while the stream is up, refresh every data-refresh x SLOW seconds anyway
const RETRY_LATER_MS = 5 * 60 * 1000;

const live = {ids: [], seconds: 0, url: "", since: "", source: null, failures: 0,
              timer: null, pending: null, fetching: false, again: false};

async function refreshLive() {
  let resp;
  try {
    resp = await fetch(location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}});
  } catch (err) {
    return;  // collector away for a moment: keep what is shown, try again next time
  }
  if (resp.redirected && new URL(resp.url).pathname === "/login") {
    location.href = resp.url;  // the session ended
    return;
  }
  if (!resp.ok) return;
  const fresh = new DOMParser().parseFromString(await resp.text(), "text/html");
  for (const id of live.ids) {
    const now = document.getElementById(id);
    const next = fresh.getElementById(id);
    if (now && next) now.replaceWith(document.importNode(next, true));
  }
  document.body.dataset.updated = String(Date.now());
}

// One fetch at a time; events during a fetch make one more fetch after it.
function scheduleRefresh() {
  if (live.pending !== null) return;
  live.pending = setTimeout(async () => {
    live.pending = null;
    if (live.fetching) {
      live.again = true;
      return;
    }
    live.fetching = true;
    try {
      await refreshLive();
    } finally {
      live.fetching = false;
    }
    if (live.again) {
      live.again = false;
      scheduleRefresh();
    }
  }, DEBOUNCE_MS);
}

function every(seconds) {
  if (live.timer !== null) clearInterval(live.timer);
  live.timer = seconds > 0 ? setInterval(scheduleRefresh, seconds * 1000) : null;
}

function disconnect() {
  if (live.source !== null) {
    live.source.close();
    live.source = null;
  }
}

function remember(event) {
  if (event.lastEventId) live.since = event.lastEventId;
}

function connect() {
  if (live.source !== null || document.hidden) return;
  const url = live.url + (live.since ? "?since=" + encodeURIComponent(live.since) : "");
  const source = new EventSource(url);  // same origin: the session cookie goes along
  live.source = source;
  source.addEventListener("open", () => {
    live.failures = 0;
    document.body.dataset.live = "events";
    every(live.seconds * SLOW);
  });
  source.addEventListener("hello", remember);
  for (const kind of ["device", "tickets", "resync"]) {
    source.addEventListener(kind, (event) => {
      remember(event);
      scheduleRefresh();
    });
  }
  // the collector ended the stream (logout, expired session, stopping): the fetch finds out
  // which (a logout lands on /login); the stream is tried again later
  source.addEventListener("bye", () => fallBack(5000));
  source.addEventListener("error", () => {
    if (source !== live.source) return;
    live.failures += 1;
    if (source.readyState === EventSource.CLOSED || live.failures >= FAILURES) {
      fallBack(live.failures >= FAILURES ? RETRY_LATER_MS : 5000 * live.failures);
    } else {
      every(live.seconds);  // the browser reconnects by itself; refresh meanwhile
    }
  });
}

function fallBack(retryMs) {
  disconnect();
  document.body.dataset.live = "timed";
  every(live.seconds);
  scheduleRefresh();
  setTimeout(connect, retryMs);
}

document.addEventListener("DOMContentLoaded", () => {
  live.ids = Array.from(document.querySelectorAll("[data-live]")).map((e) => e.id);
  live.seconds = Number(document.body.dataset.refresh || "0");
  live.url = document.body.dataset.events || "";
  live.since = document.body.dataset.eventsSince || "";
  if (!live.ids.length || live.seconds <= 0) return;
  if (!live.url || typeof EventSource === "undefined") {
    document.body.dataset.live = "timed";
    every(live.seconds);
    return;
  }
  connect();
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      disconnect();
      every(0);
    } else {
      every(live.seconds * SLOW);
      connect();  // ?since= the last event seen: what was missed comes first
    }
  });
});
