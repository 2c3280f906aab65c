// The parent's gallery page: favourites and sharing without a reload, and a full-screen viewer
// (tap a portrait; swipe, arrow keys or the buttons move; Escape, Back or × close). A static
// file, so the page's Content-Security-Policy needs no inline script. Without it the page
// still works: the forms post, and a tap opens the portrait on its own.
(function () {
  "use strict";
  var csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
  function post(url, body) {
    return fetch(url, {method: "POST", body: body, credentials: "same-origin",
      headers: {"X-Requested-With": "fetch", "X-CSRFToken": csrf ? csrf.value : ""}});
  }

  document.querySelectorAll(".fav-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var input = form.querySelector("input[name=favourite]"), button = form.querySelector("button");
      post(form.action, new FormData(form)).then(function (r) { return r.json(); }).then(function (data) {
        button.setAttribute("aria-pressed", data.favourite ? "true" : "false");
        button.querySelector("[aria-hidden]").textContent = data.favourite ? "♥" : "♡";
        button.querySelector(".fav-label").textContent = data.favourite ? "Favourite" : "Mark favourite";
        input.value = data.favourite ? "0" : "1";
      });
    });
  });

  var share = document.getElementById("share-form"), status = document.getElementById("share-status");
  if (share) {
    share.addEventListener("submit", function (event) {
      event.preventDefault();
      var url = share.dataset.url;
      var done = function (message) { status.textContent = message; post(share.action, new FormData(share)); };
      if (navigator.share) {
        navigator.share({title: share.dataset.title, url: url}).then(function () { done("Shared."); }).catch(function () {});
      } else if (navigator.clipboard) {
        navigator.clipboard.writeText(url).then(function () { done("Link copied. Paste it into a message."); });
      } else { share.submit(); }
    });
  }

  // The viewer --------------------------------------------------------------------------------
  var viewer = document.getElementById("viewer");
  var links = Array.prototype.slice.call(document.querySelectorAll("a[data-viewer]"));
  if (!viewer || !links.length) return;
  var picture = viewer.querySelector("img"), count = viewer.querySelector(".count");
  var closeButton = viewer.querySelector(".close");
  var current = 0, opener = null, pushed = false;

  function show(index) {
    current = (index + links.length) % links.length;
    var link = links[current];
    picture.src = link.getAttribute("href");
    picture.alt = link.querySelector("img").alt;
    count.textContent = (current + 1) + " of " + links.length;
    viewer.dataset.index = String(current);
  }
  function open(index) {
    opener = document.activeElement;
    show(index);
    viewer.hidden = false;
    document.body.classList.add("viewing");
    viewer.querySelector(".prev").hidden = viewer.querySelector(".next").hidden = links.length < 2;
    closeButton.focus();
    // The phone's Back button closes the viewer instead of leaving the gallery.
    if (window.history && history.pushState) { history.pushState({viewer: true}, ""); pushed = true; }
  }
  function close(fromHistory) {
    if (viewer.hidden) return;
    viewer.hidden = true;
    document.body.classList.remove("viewing");
    if (pushed && !fromHistory) { pushed = false; history.back(); }
    pushed = false;
    if (opener && opener.focus) opener.focus();
  }

  links.forEach(function (link, index) {
    link.addEventListener("click", function (event) {
      if (event.metaKey || event.ctrlKey || event.shiftKey) return; // a new tab, as asked
      event.preventDefault();
      open(index);
    });
  });
  closeButton.addEventListener("click", function () { close(false); });
  viewer.querySelector(".prev").addEventListener("click", function () { show(current - 1); });
  viewer.querySelector(".next").addEventListener("click", function () { show(current + 1); });
  window.addEventListener("popstate", function () { close(true); });
  document.addEventListener("keydown", function (event) {
    if (viewer.hidden) return;
    if (event.key === "Escape") { close(false); }
    else if (event.key === "ArrowLeft") { show(current - 1); }
    else if (event.key === "ArrowRight") { show(current + 1); }
    else if (event.key === "Tab") { // keep focus inside the dialog
      var buttons = Array.prototype.filter.call(viewer.querySelectorAll("button"), function (b) { return !b.hidden; });
      var at = buttons.indexOf(document.activeElement);
      var next = (at + (event.shiftKey ? -1 : 1) + buttons.length) % buttons.length;
      buttons[next].focus();
      event.preventDefault();
    }
  });

  // Swipe: a mostly sideways stroke of 40 px or more moves; a tap on the dark space closes.
  var startX = null, startY = null;
  viewer.addEventListener("touchstart", function (event) {
    if (event.touches.length !== 1) { startX = null; return; }
    startX = event.touches[0].clientX; startY = event.touches[0].clientY;
  }, {passive: true});
  viewer.addEventListener("touchend", function (event) {
    if (startX === null) return;
    var touch = event.changedTouches[0];
    var dx = touch.clientX - startX, dy = touch.clientY - startY;
    startX = null;
    if (Math.abs(dx) >= 40 && Math.abs(dx) > Math.abs(dy)) { show(current + (dx < 0 ? 1 : -1)); }
  });
  viewer.addEventListener("click", function (event) { if (event.target === viewer) close(false); });
})();
