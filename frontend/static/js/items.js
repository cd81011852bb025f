// The item browser: typeset math on the item page, count and select-all the checked rows
// of the table (rows come and go with htmx swaps, so handlers are delegated).
(function () {
  "use strict";
  var DELIMITERS = [
    { left: "$$", right: "$$", display: true },
    { left: "\\[", right: "\\]", display: true },
    { left: "\\(", right: "\\)", display: false },
    { left: "$", right: "$", display: false },
  ];

  function typeset(root) {
    if (typeof window.renderMathInElement !== "function") return;
    // The server wraps what it decided is math in .tex; only those are typeset.
    root.querySelectorAll(".tex:not([data-typeset])").forEach(function (el) {
      el.setAttribute("data-typeset", "");
      window.renderMathInElement(el, { delimiters: DELIMITERS, throwOnError: false, trust: false });
    });
  }

  function count() {
    var out = document.getElementById("bulk-count");
    if (out) out.textContent = document.querySelectorAll('#item-bulk input[name="items"]:checked').length;
  }

  document.addEventListener("change", function (e) {
    var t = e.target;
    // No ids on inputs inside the swapped table: htmx would copy the old input's
    // attributes (a style="" Chromium leaves on form fields) and break the CSP.
    var all = t.classList && t.classList.contains("select-all");
    if (all) {
      document.querySelectorAll('#item-bulk input[name="items"]').forEach(function (box) {
        box.checked = t.checked;
      });
    }
    if (all || t.name === "items") count();
  });

  window.addEventListener("load", function () { typeset(document.body); });
  document.addEventListener("htmx:afterSwap", function () { count(); });
})();
