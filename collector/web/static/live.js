// Live updates without full reloads: every data-refresh seconds, fetch this same page and swap
// in the elements marked data-live (by id), leaving forms (and what is typed in them) alone.
"use strict";

async function refreshLive(ids) {
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
  for (const id of ids) {
    const now = document.getElementById(id);
    const next = fresh.getElementById(id);
    if (now && next) now.replaceWith(document.importNode(next, true));
  }
  document.body.dataset.updated = String(Date.now());
}

document.addEventListener("DOMContentLoaded", () => {
  const live = Array.from(document.querySelectorAll("[data-live]")).map((e) => e.id);
  const seconds = Number(document.body.dataset.refresh || "0");
  if (live.length && seconds > 0) setInterval(() => refreshLive(live), seconds * 1000);
});
