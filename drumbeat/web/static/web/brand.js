// Brand kit: live preview of an email's header and footer as the form changes, social link
// rows. Media library: copy a file's public URL. Small and dependency-free.
(function () {
  "use strict";

  function pairs(text) {
    var map = {};
    (text || "").split("|").forEach(function (item) {
      var at = item.indexOf("=");
      if (at > 0) map[item.slice(0, at)] = item.slice(at + 1);
    });
    return map;
  }

  function setupBrandKit(form) {
    var preview = document.getElementById("mail-preview");
    if (!preview) return;
    var fonts = pairs(preview.getAttribute("data-fonts"));
    var logos = pairs(preview.getAttribute("data-logos"));
    var uploadedLogo = "";
    var vars = {
      primary_color: "--m-primary", text_color: "--m-text", link_color: "--m-link",
      background_color: "--m-bg", content_background_color: "--m-content-bg"
    };
    function value(name) {
      var input = form.elements[name];
      return input ? input.value.trim() : "";
    }
    function render() {
      Object.keys(vars).forEach(function (name) {
        var hex = value(name);
        if (/^#[0-9a-fA-F]{6}$/.test(hex)) preview.style.setProperty(vars[name], hex);
        var label = form.querySelector('[data-hex-for="id_' + name + '"]');
        if (label) label.textContent = hex;
      });
      preview.style.setProperty("--m-font", fonts[value("font")] || "");
      preview.style.setProperty("--m-heading-font", fonts[value("heading_font")] || "");
      var name = value("sender_name") || preview.getAttribute("data-settings-name");
      var address = value("postal_address") || preview.getAttribute("data-settings-address");
      document.getElementById("preview-name").textContent = name;
      var addressBox = document.getElementById("preview-address");
      addressBox.textContent = "";
      address.split(/\n/).forEach(function (line, i) {
        if (i) addressBox.appendChild(document.createElement("br"));
        addressBox.appendChild(document.createTextNode(line));
      });
      var src = uploadedLogo || logos[value("logo")] || (/^https?:\/\//.test(value("logo_url")) ? value("logo_url") : "");
      var logo = document.getElementById("preview-logo");
      var wordmark = document.getElementById("preview-name-logo");
      logo.hidden = !src;
      wordmark.hidden = !!src;
      wordmark.textContent = name || "Your brand";
      if (src && logo.getAttribute("src") !== src) logo.setAttribute("src", src);
      var width = parseInt(value("logo_width"), 10);
      if (width >= 16 && width <= 600) logo.setAttribute("width", String(width));
      var social = document.getElementById("preview-social");
      social.textContent = "";
      form.querySelectorAll("[data-social-row]").forEach(function (row) {
        var select = row.querySelector("select");
        var url = row.querySelector("input").value.trim();
        if (!select.value || !url) return;
        var chip = document.createElement("span");
        chip.textContent = select.options[select.selectedIndex].text;
        social.appendChild(chip);
      });
    }
    form.addEventListener("input", render);
    form.addEventListener("change", function (event) {
      if (event.target.name === "logo_upload") {
        var file = event.target.files && event.target.files[0];
        if (uploadedLogo) URL.revokeObjectURL(uploadedLogo);
        uploadedLogo = file ? URL.createObjectURL(file) : "";
      }
      render();
    });
    form.addEventListener("click", function (event) {
      var remove = event.target.closest("[data-remove-row]");
      if (!remove) return;
      var rows = form.querySelectorAll("[data-social-row]");
      var row = remove.closest("[data-social-row]");
      if (rows.length > 1) { row.remove(); } else {
        row.querySelector("select").value = "";
        row.querySelector("input").value = "";
      }
      render();
    });
    var add = document.getElementById("add-social");
    var template = document.getElementById("social-row-template");
    if (add && template) {
      add.addEventListener("click", function () {
        var row = template.content.firstElementChild.cloneNode(true);
        document.getElementById("social-rows").appendChild(row);
        row.querySelector("select").focus();
      });
    }
    render();
  }

  function toast(text) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var item = document.createElement("div");
    item.className = "toast success";
    item.setAttribute("role", "status");
    item.textContent = text;
    box.appendChild(item);
    setTimeout(function () { item.remove(); }, 3000);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var url = button.getAttribute("data-copy");
    function fallback() {
      var input = document.createElement("input");
      input.value = url;
      document.body.appendChild(input);
      input.select();
      try { document.execCommand("copy"); toast("URL copied."); } catch (e) { window.prompt("Copy the URL:", url); }
      input.remove();
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(function () { toast("URL copied."); }, fallback);
    } else {
      fallback();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("brand-form");
    if (form) setupBrandKit(form);
  });
})();
