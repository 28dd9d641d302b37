// copy.js: a button with data-copy="ID" copies the value of the field
// with that id to the clipboard (Clipboard API), and says so in the
// element ID-status. The button is hidden until this script shows it:
// with JavaScript off the field's text is still selectable.
(function () {
  "use strict";
  if (window.ledgerCopy) {
    return;
  }
  window.ledgerCopy = true;

  function say(id, text) {
    var status = document.getElementById(id + "-status");
    if (status) {
      status.textContent = text;
    }
  }

  function copy(button) {
    var id = button.getAttribute("data-copy");
    var field = document.getElementById(id);
    if (!field) {
      return;
    }
    field.focus();
    field.select();
    if (!navigator.clipboard || !window.isSecureContext) {
      say(id, "Copying is not available here: the key is selected, copy it with your keyboard.");
      return;
    }
    navigator.clipboard.writeText(field.value).then(function () {
      say(id, "Copied to the clipboard.");
    }, function () {
      say(id, "Could not copy: the key is selected, copy it with your keyboard.");
    });
  }

  function attach(root) {
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      if (button.dataset.copyAttached) {
        return;
      }
      button.dataset.copyAttached = "1";
      button.hidden = false;
      button.addEventListener("click", function () { copy(button); });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { attach(document); });
  } else {
    attach(document);
  }
  document.addEventListener("htmx:load", function (e) { attach(e.target); });
})();
