// The annotation page. Model text is only ever set with textContent, so HTML or script
// in an answer shows as text; the server's Content-Security-Policy forbids inline
// scripts as a second line of defence.
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
let current = null;
let busy = false;

function show(state) {
  const progress = document.getElementById("progress");
  progress.textContent = `${state.done} of ${state.total} done` +
    (state.skipped ? ` (${state.skipped} put off for later)` : "");
  progress.dataset.done = state.done;
  progress.dataset.total = state.total;
  progress.dataset.skipped = state.skipped;
  document.getElementById("undo").disabled = !state.can_undo;
  document.getElementById("skip").disabled = !state.item;
  if (!state.item) {
    current = null;
    document.querySelector("main").hidden = true;
    document.getElementById("done").hidden = false;
    document.body.dataset.state = "done";
    return;
  }
  document.querySelector("main").hidden = false;
  document.getElementById("done").hidden = true;
  current = state.item;
  document.getElementById("prompt").textContent = state.item.prompt;
  document.getElementById("left").textContent = state.item.left;
  document.getElementById("right").textContent = state.item.right;
  // A cut answer says so: it stopped at the token limit, not where the model ended it.
  document.getElementById("left-cut").hidden = !state.item.left_truncated;
  document.getElementById("right-cut").hidden = !state.item.right_truncated;
  const reference = state.item.reference;
  document.getElementById("reference-box").hidden = reference === null || reference === undefined;
  document.getElementById("reference").textContent = reference || "";
  document.body.dataset.item = state.item.id;
  document.body.dataset.state = "ready";
}

async function call(path, body) {
  const response = await fetch(path, body === undefined ? {} : {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

// One request at a time; the page shows the server's state after each.
async function send(path, body) {
  if (busy) return;
  busy = true;
  document.body.dataset.state = "saving";
  try {
    show(await call(path, body));
    document.getElementById("status").textContent = "";
  } catch (e) {
    document.getElementById("status").textContent = `Not saved: ${e.message}. Try again.`;
    document.body.dataset.state = "error";
  } finally {
    busy = false;
  }
}

function vote(choice) {
  if (current) send("/api/vote", { token, item: current.id, choice });
}
function skip() {
  if (current) send("/api/skip", { token, item: current.id });
}
function undo() {
  if (!document.getElementById("undo").disabled) send("/api/undo", { token });
}

for (const button of document.querySelectorAll("#buttons button[data-choice]")) {
  button.addEventListener("click", () => vote(button.dataset.choice));
}
document.getElementById("skip").addEventListener("click", skip);
document.getElementById("undo").addEventListener("click", undo);
document.addEventListener("keydown", (event) => {
  const choice = { "1": "left", "ArrowLeft": "left", "2": "right", "ArrowRight": "right",
                   "3": "tie", "t": "tie", "4": "bothbad", "b": "bothbad" }[event.key];
  if (choice) { event.preventDefault(); vote(choice); return; }
  if (event.key === "s") { event.preventDefault(); skip(); }
  if (event.key === "u") { event.preventDefault(); undo(); }
});

call(`/api/next?token=${encodeURIComponent(token)}`).then(show).catch((e) => {
  document.getElementById("status").textContent = e.message;
  document.body.dataset.state = "error";
});
