// Long steps are shown collapsed to a few lines; "Show all" opens one, "Show less" closes it.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var more = e.target.closest && e.target.closest("[data-expand]");
    if (!more) return;
    var text = more.parentNode.querySelector(".step-text");
    var open = text.classList.toggle("is-open");
    more.textContent = open ? "Show less" : "Show all";
    more.setAttribute("aria-expanded", String(open));
  });
})();
