// Live preview on the call script settings page: while the practitioner types,
// the template is posted to the preview endpoint and the rendered script (or
// the template's error) is shown. Served from this app (CSP: script-src 'self').
(function () {
  "use strict";
  var form = document.getElementById("script-form");
  if (!form) { return; }
  var textarea = form.querySelector("textarea[name=script_template]");
  var text = document.getElementById("script-preview-text");
  var error = document.getElementById("script-preview-error");
  var messages = document.getElementById("script-preview-messages").dataset;
  var timer = null;
  var latest = 0;

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  function refresh() {
    var ticket = ++latest;
    var body = new FormData(form);
    body.set("script_template", textarea.value);
    fetch(form.dataset.previewUrl, {method: "POST", body: body, credentials: "same-origin",
                                    headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (preview) {
        if (ticket !== latest) { return; }  // a later keystroke has asked since
        text.textContent = preview.text;
        showError(preview.error ? messages.errorPrefix + " " + preview.error + ". " + messages.errorSuffix : "");
      })
      .catch(function () {
        if (ticket === latest) { showError(messages.unavailable); }
      });
  }

  textarea.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
}());
