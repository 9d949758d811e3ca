// Keeps the page live: one server-sent-event stream per tab. A "view" event carries the
// new live part (its digest on the first line); the stream reconnects with capped,
// jittered exponential backoff, and the tab keeps what the user opened or closed.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var badge = document.getElementById("live-state");
  if (!live || !live.dataset.stream || !window.EventSource) return;
  var version = live.dataset.v || "";
  var delay = 1000;
  var source = null;

  function status(state, text) {
    badge.dataset.state = state;
    badge.textContent = text;
  }

  function swap(html) {
    var open = {};
    live.querySelectorAll("details[id]").forEach(function (d) { open[d.id] = d.open; });
    var focused = document.activeElement && live.contains(document.activeElement) ? document.activeElement.getAttribute("data-edge") : null;
    live.innerHTML = html;
    live.querySelectorAll("details[id]").forEach(function (d) {
      if (Object.prototype.hasOwnProperty.call(open, d.id)) d.open = open[d.id];
    });
    if (focused) {
      var again = live.querySelector('[data-edge="' + CSS.escape(focused) + '"]');
      if (again) again.focus();
    }
    live.dispatchEvent(new CustomEvent("live:updated"));
  }

  function connect() {
    var url = live.dataset.stream + (live.dataset.stream.indexOf("?") < 0 ? "?" : "&") + "v=" + encodeURIComponent(version);
    source = new EventSource(url);
    source.onopen = function () { delay = 1000; status("live", "live"); };
    source.addEventListener("view", function (ev) {
      var nl = ev.data.indexOf("\n");
      version = ev.data.slice(0, nl);
      swap(ev.data.slice(nl + 1));
      live.dataset.v = version;
    });
    source.addEventListener("problem", function (ev) { status("down", ev.data); });
    source.onerror = function () {
      source.close();
      status("down", "reconnecting…");
      var wait = delay * (0.5 + Math.random());
      delay = Math.min(delay * 2, 30000);
      setTimeout(connect, wait);
    };
  }
  window.addEventListener("pagehide", function () { if (source) source.close(); });
  connect();
})();
