// Vision report: anchor points are buttons over the report image (or over the scan, where the
// sonographer places a face Cradle did not find: only the points she moves are sent). Drag them
// with a mouse or a finger, or focus one and use the arrow keys (Shift for bigger steps).
// Positions are kept in the scan's original pixels, which is what the server stores and
// validates.
(function () {
  var stage = document.querySelector("[data-anchor-stage]");
  if (!stage) return;
  var form = stage.closest("form");
  var input = form.querySelector("[data-anchor-input]");
  var status = form.querySelector("[data-anchor-status]");
  var width = parseFloat(stage.getAttribute("data-width"));
  var height = parseFloat(stage.getAttribute("data-height"));
  var anchors = JSON.parse(input.value || "{}");

  function place(button, x, y) {
    x = Math.min(Math.max(x, 0), width - 1);
    y = Math.min(Math.max(y, 0), height - 1);
    var name = button.getAttribute("data-anchor");
    anchors[name] = { x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10, confidence: 1 };
    button.style.left = (100 * x / width) + "%";
    button.style.top = (100 * y / height) + "%";
    button.classList.add("moved");
    var label = button.querySelector(".anchor-label").textContent;
    button.setAttribute("aria-label", label + " at " + Math.round(x) + ", " + Math.round(y) + " (moved)");
    input.value = JSON.stringify(anchors);
    if (status) status.textContent = "Moved " + label.toLowerCase() + ". Save to paint again.";
  }

  stage.querySelectorAll("[data-anchor]").forEach(function (button) {
    var dragging = false;
    button.addEventListener("pointerdown", function (e) {
      dragging = true;
      button.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    button.addEventListener("pointermove", function (e) {
      if (!dragging) return;
      var rect = stage.getBoundingClientRect();
      place(button, (e.clientX - rect.left) / rect.width * width, (e.clientY - rect.top) / rect.height * height);
    });
    ["pointerup", "pointercancel"].forEach(function (type) {
      button.addEventListener(type, function () { dragging = false; });
    });
    button.addEventListener("keydown", function (e) {
      var step = (e.shiftKey ? 0.05 : 0.01) * width;
      var moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      if (!moves[e.key]) return;
      e.preventDefault();
      var name = button.getAttribute("data-anchor");
      // A point not placed yet starts where it is drawn.
      var point = anchors[name] || {
        x: parseFloat(button.getAttribute("data-x")), y: parseFloat(button.getAttribute("data-y"))
      };
      place(button, point.x + moves[e.key][0], point.y + moves[e.key][1]);
    });
  });
})();
