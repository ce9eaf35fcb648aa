// A new alarm on the open board is seen and heard from across the room: a banner above the
// cards and a short chime (sounds/alarm.wav), on top of what screen readers hear (board.js).
// Alarms already standing when the page opens are on their cards; only new ones ring.
(function () {
  "use strict";
  var board = document.getElementById("board");
  var banner = document.getElementById("alarm-banner");
  var toggle = document.getElementById("alarm-sound");
  if (!board || !banner || !toggle) { return; }
  var text = banner.querySelector(".alarm-banner-text");
  var blocked = banner.querySelector(".alarm-banner-blocked");
  var sound = new Audio(banner.dataset.sound);
  sound.preload = "auto";
  var KEY = "telecentre.alarmSound";

  function soundOn() {
    try { return window.localStorage.getItem(KEY) !== "off"; } catch (e) { return true; }
  }

  function showToggle() {
    toggle.textContent = toggle.dataset[soundOn() ? "on" : "off"];
  }

  function ring() {
    sound.currentTime = 0;
    var playing = sound.play();
    if (!playing) { return; }
    playing.then(function () {
      blocked.hidden = true;
      banner.dataset.rung = String(Number(banner.dataset.rung || 0) + 1);
    }, function () {
      // Browsers keep sound off until the page was touched once: say how to allow it.
      blocked.hidden = false;
    });
  }

  // Each standing alarm has its acknowledge button, `ack-<alarm id>`.
  function alarms() {
    var found = {};
    board.querySelectorAll(".alarm button[id^='ack-']").forEach(function (button) {
      found[button.id] = button;
    });
    return found;
  }

  function describe(button) {
    var card = button.closest(".site-card");
    var title = card ? card.querySelector("h2") : null;
    var what = button.closest(".alarm").querySelector("strong");
    var words = what ? what.cloneNode(true) : document.createElement("span");
    words.querySelectorAll("[aria-hidden]").forEach(function (icon) { icon.remove(); });
    return (title ? title.textContent.trim() + " – " : "") + words.textContent.trim();
  }

  var known = alarms();
  new MutationObserver(function () {
    var now = alarms();
    var fresh = Object.keys(now).filter(function (id) { return !known[id]; });
    known = now;
    if (!fresh.length) { return; }
    text.textContent = fresh.map(function (id) { return describe(now[id]); }).join(" · ");
    banner.hidden = false;
    banner.dataset.shown = String(Number(banner.dataset.shown || 0) + 1);
    if (soundOn()) { ring(); }
  }).observe(board, { childList: true, subtree: true });

  banner.querySelector(".alarm-banner-close").addEventListener("click", function () {
    banner.hidden = true;
  });
  toggle.addEventListener("click", function () {
    try { window.localStorage.setItem(KEY, soundOn() ? "off" : "on"); } catch (e) { /* private mode */ }
    showToggle();
    if (soundOn()) { ring(); } // heard once now, and allowed from now on (a tap allows sound)
  });
  showToggle();
})();
