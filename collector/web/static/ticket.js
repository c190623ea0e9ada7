// The ticket page's buttons: PATCH /api/v1/tickets/{id} with the session's CSRF token.
// The server records the logged-in user; nothing here names anyone.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function showError(message) {
  const box = document.getElementById("action-error");
  box.textContent = message;
  box.hidden = false;
}

async function act(id, body) {
  let resp;
  try {
    resp = await fetch("/api/v1/tickets/" + id, {
      method: "PATCH",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrfToken()},
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
  } catch (err) {
    showError("cannot reach the collector: " + err);
    return;
  }
  if (!resp.ok) {
    let message = resp.statusText;
    try { message = (await resp.json()).error || message; } catch (err) { /* not JSON */ }
    showError(message);
    return;
  }
  location.reload();
}

document.addEventListener("DOMContentLoaded", () => {
  const actions = document.getElementById("actions");
  if (!actions) return;
  const id = actions.dataset.ticket;
  actions.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    if (button.dataset.state) {
      act(id, {state: button.dataset.state});
    } else if (button.dataset.action === "assign") {
      const name = prompt("Assign to (empty: unassign)", button.dataset.current);
      if (name === null) return;  // Cancel changes nothing
      const trimmed = name.trim();
      if (trimmed === button.dataset.current) return;
      act(id, {assignee: trimmed === "" ? null : trimmed});
    } else if (button.dataset.action === "comment") {
      const text = prompt("Comment");
      if (text === null || text.trim() === "") return;  // Cancel (or nothing typed) adds nothing
      act(id, {comment: text});
    }
  });
});
