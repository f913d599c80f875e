// The supervisor's live board: swaps the campaign cards in every few seconds, and sends
// pause / resume / log-out to /api/v1 with the page's CSRF token. No build step.
"use strict";
(function () {
  const cards = document.getElementById("cards");
  const live = document.getElementById("live");
  const flash = document.getElementById("flash");
  if (!cards || !live) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const every = Number(live.dataset.refreshMs) || 2000;
  let busy = false;

  function say(text) {
    flash.textContent = text || "";
    flash.hidden = !text;
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const r = await fetch(cards.dataset.src, { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) {
        say("Your session expired: log in again.");
        live.classList.add("stale");
        return;
      }
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        say(body.error || "The board could not be refreshed (" + r.status + ").");
        live.classList.add("stale");
        return;
      }
      cards.innerHTML = await r.text();
      const first = cards.querySelector("[data-as-of]");
      if (first) document.getElementById("as-of").textContent = first.dataset.asOf;
      live.classList.remove("stale");
    } catch (e) {
      live.classList.add("stale");
    } finally {
      busy = false;
    }
  }

  async function act(button) {
    const action = button.dataset.action;
    let url, init;
    if (action === "pause" || action === "resume") {
      url = "/api/v1/campaigns/" + encodeURIComponent(button.dataset.campaign) + "/" + action;
      init = { method: "POST", body: "{}" };
    } else if (action === "logout") {
      url = "/api/v1/agents/" + encodeURIComponent(button.dataset.agent) + "/state";
      init = { method: "PUT", body: JSON.stringify({ state: "logged_out" }) };
    } else {
      return;
    }
    init.credentials = "same-origin";
    init.headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf };
    button.disabled = true;
    try {
      const r = await fetch(url, init);
      const body = await r.json().catch(() => ({}));
      say(r.ok ? "" : body.error || "Refused (" + r.status + ").");
    } catch (e) {
      say("The worker did not answer: try again.");
    } finally {
      button.disabled = false;
      await refresh();
    }
  }

  cards.addEventListener("click", (event) => {
    const button = event.target.closest("button.act");
    if (button) act(button);
  });
  setInterval(refresh, every);
})();
