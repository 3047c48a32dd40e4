// Gatehouse dashboard: small progressive enhancements. Every page works
// without JavaScript; this adds copy buttons, confirmations, tabs and
// auto-submitting selects.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var t = e.target.closest("[data-copy]");
    if (t) {
      var el = document.getElementById(t.getAttribute("data-copy"));
      var text = el ? el.textContent : "";
      var done = function () { t.textContent = "Copied"; setTimeout(function () { t.textContent = "Copy"; }, 1600); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { select(el); });
      } else { select(el); try { document.execCommand("copy"); done(); } catch (err) {} }
      return;
    }
    var tab = e.target.closest("[data-tab]");
    if (tab) {
      var name = tab.getAttribute("data-tab");
      document.querySelectorAll("[data-tab]").forEach(function (b) { b.setAttribute("aria-selected", b === tab ? "true" : "false"); });
      document.querySelectorAll(".tab-panel").forEach(function (p) { p.hidden = p.id !== "panel-" + name; });
      return;
    }
    var all = e.target.closest("[data-check-all]");
    if (all) {
      var boxes = document.querySelectorAll("input[name='" + all.getAttribute("data-check-all") + "']");
      var on = Array.prototype.some.call(boxes, function (b) { return !b.checked; });
      boxes.forEach(function (b) { b.checked = on; });
      return;
    }
    var toggle = e.target.closest("[data-toggle]");
    if (toggle) {
      document.getElementById(toggle.getAttribute("data-toggle")).classList.toggle("open");
      return;
    }
    var add = e.target.closest("[data-add-row]");
    if (add) { addRow(add); return; }
    var row = e.target.closest("tr[data-href]");
    if (row && !e.target.closest("a, button, form, input, select")) {
      window.location = row.getAttribute("data-href");
    }
  });
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) { e.preventDefault(); }
  });
  document.addEventListener("change", function (e) {
    if (e.target.matches("[data-autosubmit]")) { e.target.form.submit(); }
  });
  // A form's rows (attributes): "Add a row" copies the last one, empty,
  // numbered next, and counts it in the form's hidden row count.
  document.querySelectorAll("[data-add-row]").forEach(function (b) { b.hidden = false; });
  function addRow(button) {
    var box = button.closest("fieldset");
    var rows = box.querySelectorAll(".kv-row");
    var counter = box.querySelector("[data-rows]");
    if (!rows.length || !counter) { return; }
    var n = parseInt(counter.value, 10) || rows.length;
    var last = rows[rows.length - 1];
    var copy = last.cloneNode(true);
    copy.querySelectorAll(".field-error").forEach(function (s) { s.remove(); });
    copy.querySelectorAll("input, select").forEach(function (el) {
      el.name = el.name.replace(/_\d+$/, "_" + n);
      if (el.tagName === "SELECT") { el.selectedIndex = 0; } else { el.value = ""; }
      el.removeAttribute("aria-invalid"); el.removeAttribute("autofocus");
      var by = (el.getAttribute("aria-describedby") || "").split(" ").filter(function (x) { return x && x.indexOf("err-") !== 0; }).join(" ");
      if (by) { el.setAttribute("aria-describedby", by); } else { el.removeAttribute("aria-describedby"); }
    });
    copy.querySelectorAll(".sr").forEach(function (s) { s.textContent = s.textContent.replace(/\d+/, String(n + 1)); });
    last.after(copy);
    counter.value = String(n + 1);
    copy.querySelector("input").focus();
  }
  function select(el) {
    if (!el) { return; }
    var r = document.createRange(); r.selectNodeContents(el);
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
  }
})();

// ---- Policy editor (policy.html): a cell's form grants or revokes one
// permission. With this script the cell flips at once (optimistic), the
// change is sent in the background, and a toast offers to undo it; a
// refused change flips back and says why. Once no change is on its way the
// matrices are drawn again from the server, so that grants inherited from
// the role just changed show in the roles extending it. Without the script
// the form posts and the page comes back with an Undo button.
(function () {
  "use strict";
  var toast = document.getElementById("policy-toast");
  if (!toast) { return; }
  var toastText = document.getElementById("policy-toast-text");
  var undoBtn = document.getElementById("policy-toast-undo");
  var last = null; // the cell to press to undo: its table's id and data-cell
  var chain = Promise.resolve();
  var pending = 0;
  function show(form, on) {
    var btn = form.querySelector("button");
    var cell = form.closest("td");
    btn.setAttribute("aria-pressed", on ? "true" : "false");
    btn.textContent = on ? "✓" : "";
    btn.title = (on ? "Revoke " : "Grant ") + form.elements.permission.value;
    form.elements.grant.value = on ? "0" : "1";
    if (cell) { cell.classList.toggle("on", on); }
  }
  // say shows msg, offering undo (the cell to press again) if any; bad
  // marks a refusal.
  function say(msg, undo, bad) {
    toastText.textContent = msg;
    toast.hidden = false;
    toast.classList.toggle("bad", !!bad);
    undoBtn.hidden = !undo;
    last = undo;
  }
  function where(form) {
    var table = form.closest("section.policy"), cell = form.closest("td");
    return table && cell ? { table: table.id, cell: cell.getAttribute("data-cell") } : null;
  }
  // refresh draws again the cells that changed (keeping the focus on the
  // cell it was on) and counts the times in data-policy-drawn.
  // gen counts the changes sent: a refresh started before the latest one
  // read the matrices before it, and is not drawn.
  var drawn = 0, gen = 0;
  function refresh() {
    var started = gen;
    fetch(window.location.pathname, { credentials: "same-origin" }).then(function (res) {
      return res.ok ? res.text() : null;
    }).then(function (html) {
      if (!html || pending > 0 || started !== gen) { return; }
      var doc = new DOMParser().parseFromString(html, "text/html");
      doc.querySelectorAll("section.policy td[data-cell]").forEach(function (fresh) {
        var table = document.getElementById(fresh.closest("section.policy").id);
        var cell = table && table.querySelector("td[data-cell='" + fresh.getAttribute("data-cell").replace(/'/g, "\\'") + "']");
        if (!cell || cell.outerHTML === fresh.outerHTML) { return; }
        var focused = cell.contains(document.activeElement);
        var copy = document.importNode(fresh, true);
        cell.replaceWith(copy);
        var btn = focused && copy.querySelector("button, a");
        if (btn) { btn.focus(); }
      });
    }).catch(function () {}).finally(function () {
      document.documentElement.setAttribute("data-policy-drawn", String(++drawn));
    });
  }
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches || !form.matches("form[data-policy-cell]")) { return; }
    e.preventDefault();
    var grant = form.elements.grant.value === "1";
    var body = new URLSearchParams(new FormData(form));
    var at = where(form);
    show(form, grant);
    form.setAttribute("aria-busy", "true");
    pending++;
    gen++;
    // Changes go one after another, in the order pressed (the server
    // applies each to the role as it finds it; the order keeps the toast's
    // undo that of the last one).
    chain = chain.then(function () {
      return fetch(form.action, { method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json" } }).then(function (res) {
        return res.json().catch(function () { return { ok: false, message: "The server answered " + res.status + "." }; });
      }, function () { return { ok: false, message: "The change could not be sent: check the connection." }; }).then(function (out) {
        if (out && out.ok) {
          // Undo only a change that changed something.
          say(out.message, out.changed ? at : null, false);
        } else {
          show(form, !grant);
          say("⚠ Not saved: " + ((out && out.message) || "the server refused the change."), null, true);
        }
      });
    }).finally(function () {
      form.removeAttribute("aria-busy");
      if (--pending === 0) { refresh(); }
    });
  });
  undoBtn.addEventListener("click", function () {
    if (!last) { return; }
    var table = document.getElementById(last.table);
    var form = table && table.querySelector("td[data-cell='" + last.cell.replace(/'/g, "\\'") + "'] form[data-policy-cell]");
    last = null;
    undoBtn.hidden = true;
    if (!form) { return; }
    if (form.requestSubmit) { form.requestSubmit(); } else { form.dispatchEvent(new Event("submit", { cancelable: true, bubbles: true })); }
  });
})();
