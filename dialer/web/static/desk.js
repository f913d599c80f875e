// The agent desktop (dialer/web/desk.py): screen pop over Server-Sent Events, the talk
// timer, the disposition form, presence. Plain JavaScript, no build step.
"use strict";
(function () {
  const desk = document.getElementById("desk");
  if (!desk) return;
  const agent = desk.dataset.agent;
  const csrf = desk.dataset.csrf;
  const maxWrapUp = Number(desk.dataset.maxWrapUp || 300);
  const $ = (id) => document.getElementById(id);
  let ticking = null;
  // The server's clock minus this browser's: instants from the server (wrap-up ends) are
  // read on the server's clock, whatever the browser's says.
  const skew = Date.parse(desk.dataset.serverNow) - Date.now();
  let shownAt = Date.now();  // when the card arrived: its data-elapsed counts from there

  function say(element, text) {
    element.textContent = text || "";
    element.hidden = !text;
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: "the dialer answered " + response.status }; }
    if (response.status === 401) data.error = "your session expired: log in again";
    return { ok: response.ok, status: response.status, data: data };
  }

  async function fragment(path) {
    const response = await fetch(path, { credentials: "same-origin" });
    return { ok: response.ok, status: response.status, html: await response.text() };
  }

  // ---- time zones: the form takes the client's wall time; shown in both clocks
  function offsetMs(zone, instant) {
    const parts = {};
    new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(instant).forEach((p) => { parts[p.type] = p.value; });
    const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
    return asUtc - Math.floor(instant.getTime() / 1000) * 1000;
  }
  function wallToInstant(value, zone) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(value);
    if (!m) return null;
    const guess = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
    let instant = new Date(guess - offsetMs(zone, new Date(guess)));
    instant = new Date(guess - offsetMs(zone, instant));  // settles across a DST change
    return instant;
  }
  function clock(zone, instant, withDay) {
    const options = { timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withDay) Object.assign(options, { weekday: "short", day: "2-digit", month: "short" });
    else options.second = "2-digit";
    return new Intl.DateTimeFormat("en-GB", options).format(instant);
  }
  function mmss(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  // ---- the card
  function tick(card) {
    const zone = card.dataset.clientTz;
    $("client-clock").textContent = clock(zone, new Date(Date.now() + skew), false);
    const timer = $("talk-timer");
    const live = card.dataset.live === "yes";
    const talk = live ? Number(card.dataset.elapsed) + (Date.now() - shownAt) / 1000 : Number(card.dataset.talkS);
    const min = Number(card.dataset.targetMin || 0);
    const max = Number(card.dataset.targetMax || 0);
    const hard = Number(card.dataset.hardLimit || 0);
    let colour = "neutral";
    if (max && talk > max) colour = "amber";
    else if (talk >= min) colour = "green";
    timer.className = "timer " + colour;
    timer.dataset.colour = colour;
    timer.textContent = mmss(talk);
    let hint = min && talk < min ? "aim for " + mmss(min) + "–" + mmss(max) :
      (max && talk <= max ? "inside the guideline (until " + mmss(max) + ")" : "past the guideline: wrap up");
    if (hard && live) hint += " · hard limit in " + mmss(hard - talk);
    if (!live) hint = "call ended · talk time " + mmss(talk);
    $("timer-hint").textContent = hint;
  }

  function initCard() {
    const card = $("card");
    if (ticking) clearInterval(ticking);
    ticking = null;
    if (!card) return;
    shownAt = Date.now();
    tick(card);
    ticking = setInterval(() => tick(card), 250);
    const hangUp = $("hang-up");
    if (hangUp) {
      hangUp.addEventListener("click", async () => {
        hangUp.disabled = true;
        const result = await post("/desk/calls/" + encodeURIComponent(card.dataset.call) + "/hangup");
        $("hang-up-message").textContent = result.ok ? "the call is ending" : result.data.error;
        if (!result.ok) hangUp.disabled = false;
      });
    }
    const form = $("dispose");
    if (!form) return;
    const needsTime = (form.dataset.needsTime || "").split(" ");
    const atLabel = form.querySelector("label.at");
    const atInput = form.querySelector("input[name=at]");
    const both = form.querySelector(".at-both");
    function showBoth() {
      const instant = wallToInstant(atInput.value, card.dataset.clientTz);
      say(both, instant ? clock(card.dataset.clientTz, instant, true) + " client's time = " +
        clock(card.dataset.centerTz, instant, true) + " center time" : "");
    }
    form.addEventListener("change", () => {
      const chosen = form.querySelector("input[name=disposition]:checked");
      const timed = chosen !== null && needsTime.includes(chosen.value);
      atLabel.hidden = !timed;
      atInput.required = timed;
      if (!timed) say(both, "");
    });
    atInput.addEventListener("input", showBoth);
    const edit = $("edit-disposition");
    if (edit) edit.addEventListener("click", () => { form.hidden = false; edit.hidden = true; });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const chosen = form.querySelector("input[name=disposition]:checked");
      if (!chosen) { say($("card-message"), "choose a disposition"); return; }
      const body = { disposition: chosen.value, note: form.note.value.trim() || null,
                     replace: form.dataset.replace === "true" };
      if (needsTime.includes(chosen.value)) {
        if (!atInput.value) { say($("card-message"), chosen.value + " needs the agreed time"); return; }
        body.at = atInput.value;  // no offset: the client's local time (the API reads it so)
      }
      const result = await api("POST", "/api/v1/calls/" + encodeURIComponent(card.dataset.call) + "/disposition", body);
      if (!result.ok) { say($("card-message"), result.data.error); return; }
      await loadCard(card.dataset.call);
      say($("desk-message"), "Saved " + result.data.disposition.replace("_", " ") + " for " + result.data.client_id +
        ": " + result.data.reason);
      refreshAwaiting();
    });
  }

  async function loadCard(callId) {
    const got = await fragment("/desk/calls/" + encodeURIComponent(callId));
    if (!got.ok) { say($("desk-message"), new DOMParser().parseFromString(got.html, "text/html").body.textContent.trim()); return; }
    if (previewTicking) clearInterval(previewTicking);
    previewTicking = null;
    $("card-slot").innerHTML = got.html;
    say($("desk-message"), "");
    initCard();
  }

  // ---- preview mode: the client's card first, then Call or Skip (with a reason)
  let previewTicking = null;
  async function post(path, fields) {
    const body = new URLSearchParams(Object.assign({ csrf_token: csrf }, fields || {}));
    const response = await fetch(path, { method: "POST", credentials: "same-origin", body: body });
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: "the dialer answered " + response.status }; }
    return { ok: response.ok, data: data };
  }
  function initPreview() {
    const card = $("preview");
    if (previewTicking) clearInterval(previewTicking);
    previewTicking = null;
    if (!card) return;
    const until = Date.now() + Number(card.dataset.left) * 1000;
    const zone = card.dataset.clientTz;
    const show = () => {
      $("preview-left").textContent = mmss(Math.max(0, (until - Date.now()) / 1000));
      $("client-clock").textContent = clock(zone, new Date(Date.now() + skew), false);
    };
    show();
    previewTicking = setInterval(show, 500);
    const path = "/desk/preview/" + encodeURIComponent(card.dataset.client);
    $("preview-call").addEventListener("click", async () => {
      $("preview-call").disabled = true;
      const result = await post(path + "/call");
      if (!result.ok) { say($("card-message"), result.data.error); return; }
      say($("card-message"), "Calling…");  // the screen pop brings the call's card
    });
    $("preview-skip").addEventListener("submit", async (event) => {
      event.preventDefault();
      const reason = event.target.reason.value.trim();
      if (!reason) { say($("card-message"), "a skip needs a reason"); return; }
      const result = await post(path + "/skip", { reason: reason });
      if (!result.ok) { say($("card-message"), result.data.error); return; }
      if (previewTicking) clearInterval(previewTicking);
      $("card-slot").innerHTML = '<p class="waiting" id="no-card">Skipped ' + card.dataset.client +
        ". The next client appears here.</p>";
    });
  }
  async function loadPreview(clientId) {
    const got = await fragment("/desk/preview/" + encodeURIComponent(clientId));
    if (!got.ok) { say($("desk-message"), new DOMParser().parseFromString(got.html, "text/html").body.textContent.trim()); return; }
    $("card-slot").innerHTML = got.html;
    say($("desk-message"), "");
    initPreview();
  }

  async function refreshAwaiting() {
    const got = await fragment("/desk/awaiting");
    if (got.ok) { $("awaiting-slot").innerHTML = got.html; }
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a.open-call");
    if (link) { event.preventDefault(); loadCard(link.dataset.call); }
  });

  // ---- presence
  let wrapUntil = null;
  function showPresence(state, reason, until) {
    const section = $("presence");
    section.dataset.state = state;
    const label = $("state");
    label.textContent = state.replace("_", " ");
    label.className = "state state-" + state;
    $("state-reason").textContent = reason ? "(" + reason + ")" : "";
    wrapUntil = state === "wrap_up" && until ? Date.parse(until) - skew : null;
    $("extend-wrap-up").hidden = state !== "wrap_up";
    showWrapUp();
  }
  function showWrapUp() {
    const left = wrapUntil ? (wrapUntil - Date.now()) / 1000 : 0;
    $("wrap-up-left").textContent = wrapUntil && left > 0 ? mmss(left) + " left" : "";
  }
  setInterval(showWrapUp, 500);
  async function setState(state, reason) {
    const result = await api("PUT", "/api/v1/agents/" + encodeURIComponent(agent) + "/state",
      { state: state, reason: reason || null });
    if (!result.ok) { say($("desk-message"), result.data.error); return; }
    say($("desk-message"), "");
    showPresence(state, reason, null);
  }
  $("go-ready").addEventListener("click", () => setState("ready"));
  $("go-pause").addEventListener("click", () => setState("paused", $("pause-reason").value));
  $("extend-wrap-up").addEventListener("click", async () => {
    const left = wrapUntil ? Math.max(0, (wrapUntil - Date.now()) / 1000) : 0;
    const seconds = Math.min(maxWrapUp, Math.round(left + 30));
    const result = await api("POST", "/api/v1/agents/" + encodeURIComponent(agent) + "/wrap-up", { seconds: seconds });
    say($("desk-message"), result.ok ? "" : result.data.error);
  });
  const presence = $("presence");
  showPresence(presence.dataset.state, presence.dataset.reason || null, presence.dataset.wrapUpUntil || null);

  // ---- the live feed
  const stream = new EventSource("/desk/stream");
  stream.onopen = () => { $("live").className = "live on"; };
  stream.onerror = () => { $("live").className = "live"; };
  stream.addEventListener("pop", (event) => {
    const data = JSON.parse(event.data);
    showPresence("on_call", null, null);
    loadCard(data.call_id);
  });
  stream.addEventListener("preview", (event) => {
    const data = JSON.parse(event.data);
    showPresence("on_call", "preview", null);
    loadPreview(data.client_id);
  });
  stream.addEventListener("presence", (event) => {
    const data = JSON.parse(event.data);
    if (data.state) showPresence(data.state, data.reason, data.until || null);
    // A preview given back (timed out, the worker stopping) leaves the page.
    if (data.state && data.state !== "on_call" && $("preview")) {
      if (previewTicking) clearInterval(previewTicking);
      $("card-slot").innerHTML = '<p class="waiting" id="no-card">The preview went back to the queue' +
        (data.reason ? " (" + data.reason + ")" : "") + ".</p>";
    }
    // The call ended (wrap-up): the card stops its timer and shows the talk time.
    const card = $("card");
    if (data.state === "wrap_up" && card && card.dataset.live === "yes") loadCard(card.dataset.call);
    if (data.state === "logged_out" && data.by !== agent) say($("desk-message"), "you were logged out by " + data.by);
  });
  stream.addEventListener("call", () => refreshAwaiting());

  initCard();
  initPreview();
})();
