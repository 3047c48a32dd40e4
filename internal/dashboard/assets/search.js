// Gatehouse dashboard: global search. "/" or Ctrl+K (Cmd+K) focuses the
// search box in the header (on a phone, where it is folded away, opens the
// search page); on the results, the first one has the focus, the arrow
// keys move between them and Enter opens one.
(function () {
  "use strict";
  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  document.addEventListener("keydown", function (e) {
    var k = (e.key || "").toLowerCase();
    var shortcut = (k === "/" && !e.ctrlKey && !e.metaKey && !e.altKey && !typing(e.target)) ||
      (k === "k" && (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey);
    if (shortcut) {
      var box = document.getElementById("global-search");
      e.preventDefault();
      if (box && box.offsetParent !== null) { box.focus(); box.select(); } else { window.location = "/search"; }
      return;
    }
    if (k === "escape" && e.target && e.target.id === "global-search") { e.target.blur(); return; }
    if (k !== "arrowdown" && k !== "arrowup") { return; }
    var hits = Array.prototype.slice.call(document.querySelectorAll("a.search-hit"));
    if (!hits.length) { return; }
    var at = hits.indexOf(document.activeElement);
    if (at < 0 && typing(e.target) && e.target.name !== "q") { return; }
    e.preventDefault();
    var next = k === "arrowdown" ? Math.min(at + 1, hits.length - 1) : Math.max(at - 1, 0);
    hits[next].focus();
  });
  var first = document.querySelector("a.search-hit");
  if (first && (!document.activeElement || document.activeElement === document.body)) { first.focus(); }
})();
