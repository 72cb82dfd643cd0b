// nextbest console: keyboard shortcuts. Pages work without this script.
(function () {
  "use strict";
  let pending = false;
  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) return;
    if (ev.key === "/") {
      const box = document.getElementById("global-search");
      if (box) { ev.preventDefault(); box.focus(); }
      return;
    }
    if (ev.key === "?") {
      alert("/  find a member\ng then a letter  go to a page (the letters are the pages' access keys)\nEsc  leave a field");
      return;
    }
    if (pending) {
      pending = false;
      const link = document.querySelector('nav a[data-key="' + ev.key + '"]');
      if (link) { ev.preventDefault(); window.location.href = link.getAttribute("href"); }
      return;
    }
    if (ev.key === "g") { pending = true; setTimeout(function () { pending = false; }, 1200); }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && typing(document.activeElement)) document.activeElement.blur();
  });
})();
