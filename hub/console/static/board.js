// The live board: Server-Sent Events replace a site's card when it changes, screen readers
// hear the new counts (alarms interrupt), and the stream comes back after the hub restarts.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board || !window.EventSource) { return; }
  var announcer = document.getElementById("board-announcer");
  var alerter = document.getElementById("board-alerter");
  var state = document.getElementById("live-state");
  var source = null;
  var delay = 1000;
  var lostTimer = null;
  // The page's own CSRF token: a streamed card is the same for every viewer and has none.
  var token = "";
  try { token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || ""; }
  catch (ignored) { token = ""; }

  function showState(connected) {
    if (!state) { return; }
    state.classList.toggle("reconnecting", !connected);
    state.querySelector(".text").textContent =
      state.dataset[connected ? "connected" : "reconnecting"];
  }

  function replaceCard(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var card = template.content.firstElementChild;
    if (!card || !card.id) { return; }
    card.querySelectorAll('input[name="csrf_token"]').forEach(function (input) {
      if (!input.value) { input.value = token; }
    });
    var old = document.getElementById(card.id);
    if (!old) { return; }
    var focused = document.activeElement && old.contains(document.activeElement)
      ? document.activeElement.id : null;
    // What the reader unfolded (the devices, the earlier door events) stays unfolded.
    var unfolded = {};
    old.querySelectorAll("details[class]").forEach(function (details) {
      unfolded[details.className] = details.open;
    });
    var announce = card.dataset.announce !== old.dataset.announce;
    var alert = card.dataset.alert && card.dataset.alert !== old.dataset.alert;
    old.replaceWith(card);
    card.querySelectorAll("details[class]").forEach(function (details) {
      details.open = unfolded[details.className] || details.open;
    });
    if (focused && document.getElementById(focused)) { document.getElementById(focused).focus(); }
    if (window.htmx) { window.htmx.process(card); }
    if (announce && announcer) { announcer.textContent = card.dataset.announce; }
    if (alert && alerter) { alerter.textContent = card.dataset.alert; }
  }

  function connect() {
    source = new EventSource(board.dataset.stream);
    source.addEventListener("open", function () {
      delay = 1000;
      window.clearTimeout(lostTimer);
      showState(true);
    });
    source.addEventListener("site", function (event) { replaceCard(event.data); });
    source.addEventListener("expired", function (event) {
      source.close();
      window.location.assign(event.data + "?next=" + encodeURIComponent(window.location.pathname));
    });
    // The user's role or sites changed: the page shows what they may see now.
    source.addEventListener("reload", function () {
      source.close();
      window.location.reload();
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) {
        // The hub answered with an error (or a proxy did): try again, less and less often.
        showState(false);
        window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      } else {
        // The stream ended (the hub restarted, or the session's idle time came) or the hub
        // went away: the browser reconnects by itself; say so only if that takes a while.
        window.clearTimeout(lostTimer);
        lostTimer = window.setTimeout(function () { showState(false); }, 3000);
      }
    });
  }
  connect();
})();
