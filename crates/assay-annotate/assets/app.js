// The annotation page. Model text is only ever set with textContent, so HTML or script
// in an answer shows as text; the server's Content-Security-Policy forbids inline
// scripts as a second line of defence.
"use strict";
const token = new URLSearchParams(location.search).get("token") || "";
let current = null;
let busy = false;

function show(state) {
  const progress = document.getElementById("progress");
  progress.textContent = `${state.done} of ${state.total} done`;
  progress.dataset.done = state.done;
  progress.dataset.total = state.total;
  if (!state.item) {
    current = null;
    document.querySelector("main").hidden = true;
    document.getElementById("done").hidden = false;
    document.body.dataset.state = "done";
    return;
  }
  current = state.item;
  document.getElementById("prompt").textContent = state.item.prompt;
  document.getElementById("left").textContent = state.item.left;
  document.getElementById("right").textContent = state.item.right;
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

async function vote(choice) {
  if (!current || busy) return;
  busy = true;
  document.body.dataset.state = "saving";
  try {
    show(await call("/api/vote", { token, item: current.id, choice }));
    document.getElementById("status").textContent = "";
  } catch (e) {
    document.getElementById("status").textContent = `Not saved: ${e.message}. Try again.`;
    document.body.dataset.state = "error";
  } finally {
    busy = false;
  }
}

for (const button of document.querySelectorAll("#buttons button")) {
  button.addEventListener("click", () => vote(button.dataset.choice));
}
document.addEventListener("keydown", (event) => {
  const choice = { "1": "left", "ArrowLeft": "left", "2": "right", "ArrowRight": "right",
                   "3": "tie", "t": "tie", "4": "bothbad", "b": "bothbad" }[event.key];
  if (choice) { event.preventDefault(); vote(choice); }
});

call(`/api/next?token=${encodeURIComponent(token)}`).then(show).catch((e) => {
  document.getElementById("status").textContent = e.message;
  document.body.dataset.state = "error";
});
