// Scan upload: drag-and-drop onto the drop zone and an XHR post whose upload events drive the
// progress bar. Without JavaScript (or without XHR upload events) the plain form still posts.
(function () {
  var form = document.querySelector("form[data-upload]");
  if (!form || !window.FormData || !("upload" in new XMLHttpRequest())) return;
  var zone = form.querySelector("[data-dropzone]");
  var input = form.querySelector("input[type=file]");
  var box = form.querySelector("[data-progress]");
  var bar = box.querySelector(".progress");
  var fill = bar.querySelector("span");
  var text = box.querySelector("[data-progress-text]");
  var button = form.querySelector("button[type=submit]");
  var errors = document.getElementById("upload-error");
  var label = zone.querySelector("strong");

  function showName() { if (input.files.length) label.textContent = input.files[0].name; }
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("dragover"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.remove("dragover"); });
  });
  zone.addEventListener("drop", function (e) {
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    input.files = e.dataTransfer.files;
    showName();
    send();
  });
  input.addEventListener("change", showName);
  form.addEventListener("submit", function (e) {
    if (!input.files.length) return;  // let the browser say the file is required
    e.preventDefault();
    send();
  });

  function setProgress(pct, message) {
    fill.style.width = pct + "%";
    bar.setAttribute("aria-valuenow", String(Math.round(pct)));
    text.textContent = message;
  }
  function fail(message) {
    box.hidden = true;
    button.disabled = false;
    errors.innerHTML = "";
    var panel = document.createElement("div");
    panel.className = "state-panel";
    var p = document.createElement("p");
    p.className = "reason";
    p.textContent = message;
    panel.appendChild(p);
    errors.appendChild(panel);
  }
  function send() {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) setProgress((e.loaded / e.total) * 100, "Uploading… " + Math.round((e.loaded / e.total) * 100) + "%");
    });
    xhr.upload.addEventListener("load", function () { setProgress(100, "Uploaded. Checking the scan…"); });
    xhr.addEventListener("load", function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
      if (xhr.status < 400 && body.redirect) { window.location.assign(body.redirect); return; }
      fail(body.error || "The upload did not go through (" + xhr.status + "). Please try again.");
    });
    xhr.addEventListener("error", function () { fail("The connection dropped during the upload. Please try again."); });
    errors.innerHTML = "";
    box.hidden = false;
    button.disabled = true;
    setProgress(0, "Uploading…");
    xhr.send(new FormData(form));
  }
})();
