// Keeps an element fresh: any element with data-live-url is re-fetched every second and
// replaced by the server's partial until the server stops sending data-live-url.
(function () {
  function poll(el) {
    var url = el.getAttribute("data-live-url");
    if (!url) return;
    setTimeout(function () {
      fetch(url, { headers: { "X-Partial": "1" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html.trim();
          var fresh = holder.firstElementChild;
          el.replaceWith(fresh);
          if (!fresh.getAttribute("data-live-url")) { window.location.reload(); return; }
          poll(fresh);
        })
        .catch(function () { poll(el); });
    }, 1000);
  }
  document.querySelectorAll("[data-live-url]").forEach(poll);
})();
