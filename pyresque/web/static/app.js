// pyresque dashboard: live refresh by polling, confirmations, select-all. No framework.
"use strict";
(function () {
  const main = document.getElementById("main");
  function busy() {
    // Don't swap the page under someone using it: a focused field, a ticked box, an open detail.
    const active = document.activeElement;
    if (active && active !== document.body && main.contains(active) && active.tagName !== "A") return true;
    return main.querySelector("input[type=checkbox]:checked, details[open]") !== null;
  }
  function wire(root) {
    root.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    const all = root.querySelector("#select-all");
    if (all) {
      all.addEventListener("change", function () {
        root.querySelectorAll("input[name=selected]").forEach(function (box) { box.checked = all.checked; });
      });
    }
  }
  if (!main) return;
  wire(document);
  const every = parseInt(main.dataset.refresh || "0", 10);
  if (every > 0) {
    setInterval(function () {
      if (document.hidden || busy()) return;
      fetch(window.location.href, { headers: { "X-Pyresque-Partial": "1" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null || busy()) return;
          main.innerHTML = html;
          main.dataset.refreshed = String(Date.now());
          wire(main);
        })
        .catch(function () { /* the next poll tries again */ });
    }, every);
  }
})();
