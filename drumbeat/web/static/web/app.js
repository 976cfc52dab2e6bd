// Drumbeat UI behaviour: toasts, confirmations and dialogs. Small and dependency-free.
(function () {
  "use strict";

  function dismissLater(toast) {
    setTimeout(function () { toast.remove(); }, 6000);
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest("[data-dismiss]");
    if (target) { target.closest(".toast").remove(); return; }

    var opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog) { event.preventDefault(); dialog.showModal(); }
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) { event.preventDefault(); closer.closest("dialog").close(); }
  });

  // Forms with data-confirm="text" ask first, in an accessible <dialog>.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var text = form.getAttribute("data-confirm");
    if (!text || form.dataset.confirmed === "yes") return;
    event.preventDefault();
    var dialog = document.getElementById("confirm-dialog");
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-ok").textContent = form.getAttribute("data-confirm-label") || "Confirm";
    dialog.returnValue = "";
    dialog.onclose = function () {
      if (dialog.returnValue === "ok") {
        form.dataset.confirmed = "yes";
        if (form.requestSubmit) { form.requestSubmit(event.submitter || undefined); } else { form.submit(); }
      }
    };
    dialog.showModal();
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".toast").forEach(dismissLater);
    document.querySelectorAll("dialog[data-open-on-load]").forEach(function (d) { d.showModal(); });
  });

  // A view can ask for a toast on an htmx response with HX-Trigger: {"toast": "text"}.
  document.body && document.body.addEventListener("toast", function (event) {
    var box = document.getElementById("toasts");
    var toast = document.createElement("div");
    toast.className = "toast success";
    toast.setAttribute("role", "status");
    toast.innerHTML = '<span></span><button type="button" aria-label="Dismiss" data-dismiss>&times;</button>';
    toast.firstChild.textContent = event.detail.value || event.detail;
    box.appendChild(toast);
    dismissLater(toast);
  });
})();
