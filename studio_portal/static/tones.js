// New session: Monk swatch buttons fill their picker's colour input; the second parent's
// picker is greyed and left out of the post until its checkbox is ticked.
(function () {
  document.querySelectorAll("[data-tone-picker]").forEach(function (picker) {
    var input = picker.querySelector("input[type=color]");
    var readout = picker.querySelector("[data-tone-readout]");
    var swatches = picker.querySelectorAll(".swatch");
    function show() {
      readout.textContent = input.value;
      swatches.forEach(function (b) {
        b.setAttribute("aria-pressed", b.getAttribute("data-hex") === input.value.toLowerCase() ? "true" : "false");
      });
    }
    swatches.forEach(function (button) {
      button.addEventListener("click", function () { input.value = button.getAttribute("data-hex"); show(); });
    });
    input.addEventListener("input", show);
    show();
  });
  var toggle = document.querySelector("[data-second-tone-toggle]");
  var second = document.querySelector("[data-second-tone]");
  if (toggle && second) {
    var sync = function () {
      second.hidden = !toggle.checked;
      second.querySelectorAll("input, button").forEach(function (el) { el.disabled = !toggle.checked; });
    };
    toggle.addEventListener("change", sync);
    sync();
  }
})();
