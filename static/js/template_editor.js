/* The report-template editor: switch between the simple text and the Jinja source,
   and insert a placeholder chip at the caret. The preview itself is htmx (the
   textareas post on input, and on "wr-refresh" when the view changes). */
(function () {
  "use strict";

  function form() { return document.getElementById("template-form"); }

  function active() {
    var mode = document.getElementById("tpl-mode").value;
    return document.getElementById(mode === "simple" ? "simple" : "source");
  }

  function setMode(mode) {
    var f = form();
    document.getElementById("tpl-mode").value = mode;
    f.dataset.mode = mode;
    document.getElementById("simple-pane").hidden = mode !== "simple";
    document.getElementById("source-pane").hidden = mode !== "advanced";
    f.querySelectorAll("[role=tab]").forEach(function (tab) {
      tab.setAttribute("aria-selected", tab.dataset.mode === mode ? "true" : "false");
    });
    if (window.htmx) window.htmx.trigger(active(), "wr-refresh");
  }

  function insert(area, text, block) {
    var start = area.selectionStart, end = area.selectionEnd, value = area.value;
    if (block) {
      // a ranked list is a line of its own
      if (start > 0 && value.charAt(start - 1) !== "\n") text = "\n" + text;
      if (end < value.length && value.charAt(end) !== "\n") text = text + "\n";
    }
    area.setRangeText(text, start, end, "end");
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("click", function (ev) {
    var el = ev.target.closest ? ev.target.closest("[role=tab][data-mode], [data-insert]") : null;
    if (!el || !form() || !form().contains(el)) return;
    if (el.matches("[role=tab][data-mode]")) {
      setMode(el.dataset.mode);
      return;
    }
    var area = active();
    if (area.id === "simple") {
      insert(area, "{" + el.dataset.insert + "}", el.dataset.block === "1");
    } else {
      insert(area, el.dataset.block === "1" ? "" : "{{ " + el.dataset.expr + " }}", false);
    }
  });
})();
