/* Bastion admin: a few keyboard and selection helpers. Plain script, no build step;
   every page works without it. */
(function () {
  "use strict";
  function selectedCount(form) {
    var boxes = form.querySelectorAll('input[name="ids"]');
    var n = 0;
    boxes.forEach(function (b) { if (b.checked) { n += 1; } });
    var out = form.querySelector("[data-selected-count]");
    if (out) { out.textContent = n ? n + " / " + boxes.length : ""; }
    var all = form.querySelector("[data-select-all]");
    if (all) {
      all.checked = n > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    }
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    var form = target.form;
    if (!form) { return; }
    if (target.hasAttribute("data-select-all")) {
      form.querySelectorAll('input[name="ids"]').forEach(function (b) { b.checked = target.checked; });
    }
    if (target.name === "ids" || target.hasAttribute("data-select-all")) {
      var row = target.closest("tr");
      form.querySelectorAll('input[name="ids"]').forEach(function (b) {
        var tr = b.closest("tr");
        if (tr) { tr.classList.toggle("picked", b.checked); }
      });
      if (row) { selectedCount(form); } else { selectedCount(form); }
    }
  });
  /* "/" focuses the search box, as on many sites; Escape leaves it. */
  document.addEventListener("keydown", function (event) {
    var active = document.activeElement;
    var typing = active && (active.tagName === "INPUT" || active.tagName === "TEXTAREA" || active.tagName === "SELECT" || active.isContentEditable);
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      var search = document.querySelector('[data-shortcut="/"]');
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (event.key === "Escape" && active && active.getAttribute("data-shortcut") === "/") {
      active.blur();
    }
  });
  /* Long selects (foreign keys, many-to-many) get a box that narrows their options. */
  function searchable(select) {
    var label = document.querySelector('label[for="' + select.id + '"]');
    var box = document.createElement("input");
    box.type = "search";
    box.className = "bf-input select-filter";
    box.setAttribute("aria-label", (select.getAttribute("data-filter-label") || "Filter") + ": " + (label ? label.textContent.trim() : select.name));
    box.setAttribute("aria-controls", select.id);
    box.placeholder = select.getAttribute("data-filter-label") || "Filter";
    box.addEventListener("input", function () {
      var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(select.options, function (option) {
        var text = option.textContent.toLowerCase();
        var keep = option.selected || option.value === "" || words.every(function (w) { return text.indexOf(w) !== -1; });
        option.hidden = !keep;
      });
    });
    select.parentNode.insertBefore(box, select);
  }
  /* A form with errors: move focus to its summary so screen readers announce it. */
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.edit select.bf-input").forEach(function (select) {
      if (select.options.length > 12 && select.id) { searchable(select); }
    });
    var summary = document.querySelector(".bf-summary");
    if (summary) { summary.focus(); }
  });
})();
