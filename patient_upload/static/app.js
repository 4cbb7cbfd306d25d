/* Every patient page: register the service worker (page shell only), focus the error summary,
   and stop a form being sent twice by an impatient double tap. No inline script anywhere (CSP). */
(function () {
  "use strict";
  if ("serviceWorker" in navigator) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js").catch(function () { /* the pages work without it */ });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
    document.querySelectorAll("form.once").forEach(function (form) {
      form.addEventListener("submit", function () {
        var button = form.querySelector("button[type=submit]");
        if (button) {
          window.setTimeout(function () { button.disabled = true; }, 0);
        }
      });
    });
  });
})();
