// "Scroll the table sideways →" above a report table: shown only while its table is wider
// than its frame (on a phone, and for the 17 columns of the figures on a laptop too), so the
// hint never points at nothing. Without this script every hint shows: a harmless default.
(function () {
  "use strict";
  function update() {
    document.querySelectorAll(".scroll-hint").forEach(function (hint) {
      var wrap = hint.nextElementSibling;
      if (wrap && wrap.classList.contains("table-wrap")) {
        hint.hidden = wrap.scrollWidth <= wrap.clientWidth + 1;
      }
    });
  }
  document.addEventListener("DOMContentLoaded", update);
  window.addEventListener("resize", update);
})();
