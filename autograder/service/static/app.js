// deepgrade serve: the only script (the Content-Security-Policy allows no inline script).
// 1. Pages with an element #live[data-pending] refresh that element until nothing is pending
//    (data-reload: reload the whole page when the state changes, e.g. to show the feedback).
// 2. Upload forms accept a file dropped on their drop zone.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (live && live.hasAttribute("data-pending")) {
    var every = parseInt(live.getAttribute("data-interval") || "1000", 10);
    var poll = function () {
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var doc = new DOMParser().parseFromString(html, "text/html");
          var fresh = doc.getElementById("live");
          if (!fresh) { return; }
          var done = !fresh.hasAttribute("data-pending");
          if (done && live.hasAttribute("data-reload")) { window.location.reload(); return; }
          live.replaceWith(fresh);
          live = fresh;
          if (!done) { window.setTimeout(poll, every); }
        })
        .catch(function () { window.setTimeout(poll, every * 3); });
    };
    window.setTimeout(poll, every);
  }
  Array.prototype.forEach.call(document.querySelectorAll("[data-drop]"), function (zone) {
    var input = zone.querySelector("input[type=file]");
    ["dragenter", "dragover"].forEach(function (ev) {
      zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (ev) {
      zone.addEventListener(ev, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; }
    });
  });
})();
