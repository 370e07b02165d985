// Calls on the weekly list: Call waits for Twilio's answer with a spinner and says what came of it on the
// card (an aria-live region); the live status of each call under way is polled until Twilio reports it ended.
(function () {
  "use strict";
  var POLL_MS = 2000;

  function watch(element) {
    var url = element.getAttribute("data-status-url");
    function poll() {
      if (element.getAttribute("data-status-url") !== url) { return; }  // a newer call is watched now
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (attempt) {
          if (!attempt) { return; }
          element.hidden = false;
          element.querySelector(".status-label").textContent = attempt.status_label;
          element.querySelector(".client-leg").textContent = attempt.client_leg ? "· " + attempt.client_leg : "";
          element.querySelector(".call-error").textContent = attempt.error || "";
          // Leave the recorded greeting: offered while the client's phone (or voicemail) is answering.
          var drop = element.closest(".task-actions").querySelector("form.voicemail-drop");
          if (drop) {
            if (attempt.voicemail_drop_url) { drop.action = attempt.voicemail_drop_url; }
            drop.hidden = attempt.final || !attempt.voicemail_drop_url || attempt.client_status !== "in-progress";
          }
          if (attempt.final) {
            element.removeAttribute("data-status-url");
            var form = element.closest(".task-actions").querySelector(".outcome-form");
            if (form) { form.open = true; }
          } else {
            window.setTimeout(poll, POLL_MS);
          }
        })
        .catch(function () { window.setTimeout(poll, POLL_MS * 3); });
    }
    window.setTimeout(poll, POLL_MS / 2);
  }

  function say(actions, text, ok) {
    var region = actions.querySelector(".card-message");
    var line = document.createElement("span");
    line.className = "flash " + (ok ? "success" : "error");
    line.textContent = text;
    region.replaceChildren(line);
  }

  function call(form, event) {
    event.preventDefault();
    var button = form.querySelector("button");
    var actions = form.closest(".task-actions");
    if (button.disabled) { return; }
    button.disabled = true;
    button.classList.add("busy");
    button.setAttribute("aria-busy", "true");
    actions.querySelector(".card-message").replaceChildren();
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                         headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().catch(function () { return { ok: false, message: response.statusText }; });
      })
      .then(function (answer) {
        say(actions, answer.message, answer.ok);
        if (answer.status_url) {
          var status = actions.querySelector(".call-status");
          status.setAttribute("data-status-url", answer.status_url);
          watch(status);
        }
      })
      .catch(function () { say(actions, form.getAttribute("data-offline-message"), false); })
      .finally(function () {
        button.disabled = false;
        button.classList.remove("busy");
        button.removeAttribute("aria-busy");
      });
  }

  document.querySelectorAll("[data-status-url]").forEach(watch);
  document.querySelectorAll("form.call-form").forEach(function (form) {
    form.addEventListener("submit", function (event) { call(form, event); });
  });
})();
