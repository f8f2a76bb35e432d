/* imagefs listings: a filter box and expand/collapse-all for each tree. Progressive: the
   trees work without this file. Runs on each page load, including Material's instant
   navigation (document$), and on DOMContentLoaded when Material is not there. */
(function () {
  "use strict";
  function filter(box, query) {
    var q = query.trim().toLowerCase(), items = box.querySelectorAll("li[id]");
    var prefix = "imagefs-" + box.getAttribute("data-imagefs-snapshot") + "-";
    for (var i = 0; i < items.length; i++) items[i].hidden = !!q;
    if (!q) return;
    for (var j = 0; j < items.length; j++) {
      var li = items[j], path = li.id.slice(prefix.length);
      try { path = decodeURIComponent(path); } catch (e) { /* keep it encoded */ }
      if (path.toLowerCase().indexOf(q) < 0) continue;
      for (var n = li; n && n !== box; n = n.parentElement) {
        if (n.tagName === "LI") n.hidden = false;
        if (n.tagName === "DETAILS" && n !== li.firstElementChild) n.open = true;
      }
    }
  }
  function setAll(box, open) {
    var all = box.querySelectorAll("details");
    for (var i = 0; i < all.length; i++) all[i].open = open;
  }
  function button(label, onClick) {
    var b = document.createElement("button");
    b.type = "button"; b.textContent = label; b.addEventListener("click", onClick);
    return b;
  }
  function init() {
    var boxes = document.querySelectorAll(".imagefs-tree:not([data-imagefs-ready])");
    Array.prototype.forEach.call(boxes, function (box) {
      box.setAttribute("data-imagefs-ready", "");
      var tools = document.createElement("div"), input = document.createElement("input");
      tools.className = "imagefs-tools";
      input.type = "search"; input.placeholder = "Filter paths…"; input.setAttribute("aria-label", "Filter paths");
      input.addEventListener("input", function () { filter(box, input.value); });
      tools.appendChild(input);
      tools.appendChild(button("Expand all", function () { setAll(box, true); }));
      tools.appendChild(button("Collapse all", function () { setAll(box, false); }));
      var title = box.querySelector(".imagefs-title");
      box.insertBefore(tools, title ? title.nextSibling : box.firstChild);
    });
  }
  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    window.document$.subscribe(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
