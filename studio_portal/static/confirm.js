// Asks before a destructive form is sent: every <form data-confirm="question">. A static file,
// because the pages' Content-Security-Policy runs no inline handler (onsubmit="confirm()" never
// ran). The answer travels as confirmed=1; a form that arrives without it (no script) gets the
// server's own confirmation page instead, so nothing is deleted unasked either way.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute("data-confirm");
  if (!question) return;
  if (!window.confirm(question)) {
    event.preventDefault();
    return;
  }
  var answer = form.querySelector("input[name=confirmed]");
  if (!answer) {
    answer = document.createElement("input");
    answer.type = "hidden";
    answer.name = "confirmed";
    form.appendChild(answer);
  }
  answer.value = "1";
});
