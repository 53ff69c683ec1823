/* The console's only script: copy buttons. Everything else is htmx attributes
   (the CSRF token rides on every htmx request via hx-headers on the page shell). */
(function () {
  "use strict";
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest ? ev.target.closest("[data-copy]") : null;
    if (!btn) return;
    var row = btn.parentElement;
    var src = row && row.querySelector("[data-copy-src]");
    if (!src) return;
    var done = function () {
      var old = btn.textContent;
      btn.textContent = "已复制";
      setTimeout(function () { btn.textContent = old; }, 1200);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(src.value).then(done, function () { src.select(); });
    } else {
      src.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* nothing to do */ }
    }
  });
})();
