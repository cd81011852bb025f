// Typeset TeX in every element marked data-math, on load and after each htmx swap.
(function () {
  "use strict";
  var delimiters = [
    { left: "$$", right: "$$", display: true },
    { left: "\\[", right: "\\]", display: true },
    { left: "\\(", right: "\\)", display: false },
    { left: "$", right: "$", display: false },
  ];
  function typeset(root) {
    if (typeof window.renderMathInElement !== "function") return;
    var nodes = root.querySelectorAll ? root.querySelectorAll("[data-math]") : [];
    if (root.hasAttribute && root.hasAttribute("data-math")) nodes = [root].concat([].slice.call(nodes));
    [].forEach.call(nodes, function (el) {
      window.renderMathInElement(el, { delimiters: delimiters, throwOnError: false });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { typeset(document); });
  document.addEventListener("htmx:afterSwap", function (e) { typeset(e.target); });
})();
