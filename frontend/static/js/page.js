// Small behaviours any page may use, declared with data- attributes: the
// Content-Security-Policy allows no inline event handlers (onclick=, hx-on:).
//   <button data-copy="#id">            copies the element's text, then says "Copied"
//   <button data-confirm="Question?">   asks before its form is submitted
//   <form data-reset-on-success>        is cleared after a successful htmx request
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var copy = e.target.closest && e.target.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent).then(function () {
          copy.textContent = "Copied";
        });
      }
      return;
    }
    var ask = e.target.closest && e.target.closest("[data-confirm]");
    if (ask && !window.confirm(ask.getAttribute("data-confirm"))) {
      e.preventDefault();
    }
  });
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.target;
    if (form && form.matches && form.matches("form[data-reset-on-success]") && e.detail.successful) {
      form.reset();
    }
  });
})();
