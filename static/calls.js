// Live status of calls under way on the weekly list: polls each attempt until Twilio reports a final status.
(function () {
  "use strict";
  var POLL_MS = 2000;

  function watch(element) {
    var url = element.getAttribute("data-status-url");
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (attempt) {
          if (!attempt) { return; }
          element.querySelector(".status-label").textContent = attempt.status_label;
          element.querySelector(".client-leg").textContent = attempt.client_leg ? "· " + attempt.client_leg : "";
          if (attempt.error) { element.insertAdjacentHTML("beforeend", "<br>"); element.append(attempt.error); }
          // Leave the recorded greeting: offered while the client's phone (or voicemail) is answering.
          var drop = element.closest(".task-actions").querySelector("form.voicemail-drop");
          if (drop) { drop.hidden = attempt.final || attempt.client_status !== "in-progress"; }
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

  document.querySelectorAll("[data-status-url]").forEach(watch);
})();
