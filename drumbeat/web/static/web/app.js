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

  // Tabs inside cards: <button data-tab="panel-id"> toggles its panel among its siblings'.
  document.addEventListener("click", function (event) {
    var tab = event.target.closest("[data-tab]");
    if (!tab) return;
    var list = tab.closest("[role=tablist]");
    list.querySelectorAll("[data-tab]").forEach(function (other) {
      var panel = document.getElementById(other.getAttribute("data-tab"));
      var selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      if (panel) panel.hidden = !selected;
    });
  });

  // <div data-show-when="kind:email,sms"> is shown only while the form's `kind` has one of these values.
  // A hidden <fieldset> is disabled too, so its controls are not submitted: several kinds may
  // each have a control of the same name (a server action's list, reason), and the hidden ones'
  // empty values must not win over the shown one's.
  function applyShowWhen(scope) {
    scope.querySelectorAll("[data-show-when]").forEach(function (box) {
      var spec = box.getAttribute("data-show-when").split(":");
      var form = box.closest("form");
      var input = form && form.querySelector("[name=" + spec[0] + "]");
      if (!input) return;
      box.hidden = spec[1].split(",").indexOf(input.value) < 0;
      if (box.tagName === "FIELDSET") box.disabled = box.hidden;
    });
  }
  // Options with data-kind (templates) are offered only for the form's current kind.
  function filterKindOptions(scope) {
    scope.querySelectorAll("select option[data-kind]").forEach(function (option) {
      var form = option.closest("form");
      var kind = form && form.querySelector("[name=kind]");
      if (!kind) return;
      option.hidden = option.disabled = option.getAttribute("data-kind") !== kind.value;
      if (option.hidden && option.selected) option.parentNode.value = "";
    });
  }
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form");
    if (form && form.querySelector("[data-show-when]")) applyShowWhen(form);
    if (form && event.target.name === "kind") filterKindOptions(form);
  });

  // Behaviours declared in the markup (no inline handlers: the CSP allows no inline script).
  document.addEventListener("change", function (event) {
    var select = event.target.closest && event.target.closest("[data-autosubmit]");
    if (select && select.form) select.form.submit();
  });
  document.addEventListener("click", function (event) {
    var tab = event.target.closest && event.target.closest("[data-tab-show]");
    if (!tab) return;
    tab.parentNode.querySelectorAll("[role=tab]").forEach(function (t) {
      t.setAttribute("aria-selected", t === tab ? "true" : "false");
    });
    document.getElementById(tab.getAttribute("data-tab-show")).hidden = false;
    document.getElementById(tab.getAttribute("data-tab-hide")).hidden = true;
  });

  function within(scope, selector) {
    var found = Array.prototype.slice.call(scope.querySelectorAll(selector));
    if (scope.matches && scope.matches(selector)) found.unshift(scope);
    return found;
  }

  function setup(scope) {
    within(scope, ".toast").forEach(dismissLater);
    applyShowWhen(scope);
    filterKindOptions(scope);
    within(scope, "dialog[data-open-on-load]").forEach(function (d) {
      if (!d.open) d.showModal();
      d.addEventListener("close", function () { if (d.parentNode && d.closest("#dialog-slot")) d.remove(); });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { setup(document); });
  document.addEventListener("htmx:load", function (event) { if (event.target.querySelectorAll) setup(event.target); });

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
