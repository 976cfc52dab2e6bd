// Filter builder: edits an Odoo-style domain (JSON in a textarea) as rules and any/all groups.
// The textarea stays the source of truth submitted with the form; the server validates it and
// answers the live count (or the error) through htmx whenever it changes.
(function () {
  "use strict";

  var catalogues = {};
  var PSEUDO = { set: "is set", not_set: "is not set" };
  var UNITS = [["h", "hours"], ["d", "days"], ["w", "weeks"], ["m", "months"]];

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), attrs[key]);
      else if (attrs[key] !== null && attrs[key] !== undefined && attrs[key] !== false) node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function Unsupported(message) { this.message = message; }

  // --- domain <-> tree ---------------------------------------------------------------------
  function parseDomain(domain) {
    if (!Array.isArray(domain)) throw new Unsupported("The filter must be a list.");
    var i = 0;
    function one() {
      if (i >= domain.length) throw new Unsupported("An operator is missing an operand.");
      var item = domain[i++];
      if (item === "&" || item === "|") {
        var mode = item === "&" ? "all" : "any";
        var children = [];
        [one(), one()].forEach(function (x) {
          if (x.type === "group" && x.mode === mode) children.push.apply(children, x.children);
          else children.push(x);
        });
        return { type: "group", mode: mode, children: children };
      }
      if (item === "!") throw new Unsupported("This filter uses NOT (\"!\"): edit it in the code view.");
      if (Array.isArray(item) && item.length === 3 && typeof item[0] === "string") {
        if (item[1] === "any" || item[1] === "not_any") throw new Unsupported("This filter uses a sub-filter (any / not_any): edit it in the code view.");
        var op = item[1], value = item[2];
        if ((value === false || value === null) && (op === "=" || op === "!=")) {
          return { type: "rule", path: item[0].split("."), op: op === "=" ? "not_set" : "set", value: null, rawFalse: true };
        }
        return { type: "rule", path: item[0].split("."), op: op, value: value };
      }
      throw new Unsupported("Element " + i + " is not a condition: edit it in the code view.");
    }
    var terms = [];
    while (i < domain.length) terms.push(one());
    if (terms.length === 1 && terms[0].type === "group") return terms[0];
    return { type: "group", mode: "all", children: terms };
  }

  function toDomain(node, top, fieldOf) {
    if (node.type === "rule") {
      var path = node.path.join(".");
      var info = fieldOf(node.path);
      if (node.op === "set" || node.op === "not_set") {
        if (info && (info.kind === "bool" || info.kind === "virtual")) return [[path, "=", node.op === "set"]];
        return [[path, node.op === "set" ? "!=" : "=", false]];
      }
      return [[path, node.op, node.value]];
    }
    var parts = node.children.map(function (c) { return toDomain(c, false, fieldOf); }).filter(function (p) { return p.length; });
    if (!parts.length) return [];
    if (parts.length === 1) return parts[0];
    if (top && node.mode === "all") return [].concat.apply([], parts);
    var ops = [];
    for (var k = 1; k < parts.length; k++) ops.push(node.mode === "all" ? "&" : "|");
    return ops.concat.apply(ops, parts);
  }

  // --- one builder ---------------------------------------------------------------------------
  function Builder(root, catalogue) {
    this.root = root;
    this.cat = catalogue;
    this.textarea = root.querySelector("textarea");
    this.rulesBox = root.querySelector("[data-fb-rules]");
    this.codeBox = root.querySelector("[data-fb-code]");
    this.errorBox = root.querySelector("[data-fb-error]");
    this.uid = root.id || "fb";
    this.counter = 0;
    var self = this;
    root.querySelectorAll("[data-fb-mode]").forEach(function (b) {
      b.addEventListener("click", function () { self.setMode(b.getAttribute("data-fb-mode")); });
    });
    root.querySelector("[data-fb-apply-code]").addEventListener("click", function () {
      if (self.loadFromText()) self.setMode("rules");
    });
    root.addEventListener("change", function (e) {
      if (e.target.matches("[data-fb-favorites]") && e.target.value) {
        self.textarea.value = e.target.value;
        self.loadFromText();
        self.changed(false);
        e.target.value = "";
      }
    });
    var favButton = root.querySelector("[data-fb-save-favorite]");
    var favForm = root.querySelector("[data-fb-favorite-form]");
    var favName = root.querySelector("[data-fb-favorite-name]");
    favButton.addEventListener("click", function () {
      favForm.hidden = !favForm.hidden;
      favButton.setAttribute("aria-expanded", String(!favForm.hidden));
      if (!favForm.hidden) favName.focus();
    });
    root.querySelector("[data-fb-favorite-confirm]").addEventListener("click", function () { self.saveFavorite(favName.value); });
    favName.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); self.saveFavorite(favName.value); }
      if (e.key === "Escape") { favForm.hidden = true; favButton.focus(); }
    });
    var apply = root.querySelector("[data-fb-apply-list]");
    if (apply) {
      var base = apply.getAttribute("href").split("?")[0];
      apply.addEventListener("click", function () {
        var text = self.textarea.value.trim();
        apply.setAttribute("href", text && text !== "[]" ? base + "?domain=" + encodeURIComponent(text) : base);
      });
    }
    this.loadFromText();
  }

  Builder.prototype.fields = function (model) { return this.cat.models[model] || {}; };

  Builder.prototype.fieldOf = function (path) {
    var model = this.cat.root, info = null;
    for (var i = 0; i < path.length; i++) {
      info = this.fields(model)[path[i]];
      if (!info) return null;
      model = info.related;
    }
    return info;
  };

  Builder.prototype.firstField = function (model) {
    var names = Object.keys(this.fields(model));
    var preferred = names.filter(function (n) { return n !== "id"; });
    return (preferred.length ? preferred : names)[0];
  };

  Builder.prototype.loadFromText = function () {
    var text = this.textarea.value.trim() || "[]";
    this.errorBox.textContent = "";
    try {
      this.tree = parseDomain(JSON.parse(text));
    } catch (err) {
      this.tree = null;
      this.errorBox.textContent = err instanceof Unsupported ? err.message : "The JSON cannot be read: " + err.message;
      this.setMode("code");
      return false;
    }
    this.render();
    return true;
  };

  Builder.prototype.setMode = function (mode) {
    if (mode === "rules" && !this.tree && !this.loadFromText()) return;
    this.codeBox.hidden = mode !== "code";
    this.rulesBox.hidden = mode === "code";
    this.root.querySelectorAll("[data-fb-mode]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-fb-mode") === mode));
    });
  };

  Builder.prototype.changed = function (fromRules) {
    var self = this;
    if (fromRules !== false) {
      var domain = toDomain(this.tree, true, function (p) { return self.fieldOf(p); });
      this.textarea.value = JSON.stringify(domain);
    }
    this.errorBox.textContent = "";
    if (window.htmx) window.htmx.trigger(this.textarea, "fb-change");
    this.textarea.dispatchEvent(new Event("change", { bubbles: true }));
  };

  Builder.prototype.render = function () {
    this.rulesBox.innerHTML = "";
    this.rulesBox.appendChild(this.renderGroup(this.tree, null, 0));
  };

  Builder.prototype.newRule = function () {
    var name = this.firstField(this.cat.root);
    var info = this.fields(this.cat.root)[name];
    return { type: "rule", path: [name], op: this.operatorsFor(info)[0], value: this.defaultValue(info) };
  };

  Builder.prototype.renderGroup = function (group, parent, depth) {
    var self = this;
    var id = this.uid + "-g" + (this.counter++);
    var mode = el("select", { id: id, "aria-label": "Match all or any", onchange: function () { group.mode = mode.value; self.changed(); } }, [
      el("option", { value: "all", text: "all" }), el("option", { value: "any", text: "any" })
    ]);
    mode.value = group.mode;
    var head = el("div", { class: "fb-group-head" }, [
      el("span", { text: "Match" }), mode, el("span", { text: depth ? "of these rules:" : "of the following rules:" })
    ]);
    var box = el("div", { class: "fb-group", role: "group", "aria-labelledby": id }, [head]);
    if (!group.children.length) {
      box.appendChild(el("p", { class: "muted small", text: depth ? "Empty group." : "No rule: every record matches." }));
    }
    group.children.forEach(function (child, index) {
      var remove = function () { group.children.splice(index, 1); self.render(); self.changed(); };
      box.appendChild(child.type === "group" ? self.renderGroup(child, group, depth + 1, remove) : self.renderRule(child, remove));
      if (child.type === "group") {
        box.lastChild.querySelector(".fb-group-head").appendChild(
          el("button", { type: "button", class: "btn btn-sm btn-ghost", "aria-label": "Remove this group", onclick: remove, text: "Remove group" }));
      }
    });
    var actions = el("div", { class: "fb-actions" }, [
      el("button", { type: "button", class: "btn btn-sm", "data-fb-add-rule": "", onclick: function () { group.children.push(self.newRule()); self.render(); self.changed(); } }, ["+ Add rule"]),
      depth < 2 ? el("button", { type: "button", class: "btn btn-sm btn-ghost", onclick: function () {
        group.children.push({ type: "group", mode: group.mode === "all" ? "any" : "all", children: [self.newRule()] });
        self.render(); self.changed();
      } }, ["+ Add group"]) : null
    ]);
    box.appendChild(actions);
    return box;
  };

  Builder.prototype.operatorsFor = function (info) {
    if (!info) return ["="];
    if (info.related) return ["set", "not_set"];
    if (info.kind === "bool" || info.kind === "virtual") return ["="];
    var ops = info.operators.filter(function (o) { return o !== "any" && o !== "not_any"; });
    return ops.concat(["set", "not_set"]);
  };

  Builder.prototype.defaultValue = function (info) {
    if (!info) return "";
    if (info.kind === "bool" || info.kind === "virtual") return true;
    if (info.choices && info.choices.length) return info.choices[0][0];
    if (info.kind === "int" || info.kind === "float") return 0;
    if (info.kind === "datetime" || info.kind === "date") return { now: "-7d" };
    return "";
  };

  Builder.prototype.renderRule = function (rule, remove) {
    var self = this;
    var n = this.counter++;
    var row = el("div", { class: "fb-rule", "data-fb-rule": "" });
    // field path: one select per relation hop
    var fieldBox = el("div", { class: "fb-field row", style: "gap:.3rem;flex-wrap:nowrap" });
    var model = this.cat.root;
    for (var level = 0; level <= rule.path.length && level < this.cat.maxDepth + 1; level++) {
      var fields = this.fields(model);
      if (level === rule.path.length) {
        break;
      }
      (function (level, model, fields) {
        var select = el("select", { "aria-label": level ? "Field of " + self.cat.modelNames[model] : "Field", "data-fb-field": level });
        if (level) select.appendChild(el("option", { value: "", text: "(itself)" }));
        Object.keys(fields).forEach(function (name) {
          var f = fields[name];
          select.appendChild(el("option", { value: name, text: f.label + (f.related && level < self.cat.maxDepth - 1 ? " ›" : "") }));
        });
        select.value = rule.path[level];
        select.addEventListener("change", function () {
          rule.path = rule.path.slice(0, level);
          if (select.value) rule.path.push(select.value);
          var info = self.fieldOf(rule.path);
          rule.op = self.operatorsFor(info)[0];
          rule.value = self.defaultValue(info);
          self.render(); self.changed();
        });
        fieldBox.appendChild(select);
      })(level, model, fields);
      var info = fields[rule.path[level]];
      if (!info) break;
      model = info.related;
    }
    var last = this.fieldOf(rule.path);
    if (last && (last.kind === "bool" || last.kind === "virtual") && (rule.op === "set" || rule.op === "not_set")) {
      // false is a value of a yes/no field, not "not set": show "= Yes/No"
      rule.value = rule.op === "set";
      rule.op = "=";
    }
    if (last && last.related && rule.path.length < this.cat.maxDepth) {
      var more = el("select", { "aria-label": "Field of " + this.cat.modelNames[last.related], "data-fb-field": rule.path.length });
      more.appendChild(el("option", { value: "", text: "(itself)" }));
      var relFields = this.fields(last.related);
      Object.keys(relFields).forEach(function (name) { more.appendChild(el("option", { value: name, text: relFields[name].label })); });
      more.addEventListener("change", function () {
        if (!more.value) return;
        rule.path.push(more.value);
        var info = self.fieldOf(rule.path);
        rule.op = self.operatorsFor(info)[0];
        rule.value = self.defaultValue(info);
        self.render(); self.changed();
      });
      fieldBox.appendChild(more);
    }
    row.appendChild(fieldBox);

    var ops = this.operatorsFor(last);
    if (ops.indexOf(rule.op) < 0) ops = ops.concat([rule.op]);
    var opSelect = el("select", { "aria-label": "Operator", "data-fb-op": "" });
    ops.forEach(function (op) {
      opSelect.appendChild(el("option", { value: op, text: PSEUDO[op] || self.cat.operatorLabels[op] || op }));
    });
    opSelect.value = rule.op;
    opSelect.addEventListener("change", function () {
      var wasList = rule.op === "in" || rule.op === "not_in";
      rule.op = opSelect.value;
      var isList = rule.op === "in" || rule.op === "not_in";
      if (isList !== wasList) rule.value = isList ? [] : self.defaultValue(last);
      self.render(); self.changed();
    });
    row.appendChild(opSelect);
    row.appendChild(this.renderValue(rule, last, n));
    row.appendChild(el("button", { type: "button", class: "btn btn-sm btn-ghost fb-remove", "aria-label": "Remove rule", title: "Remove rule", onclick: remove }, ["✕"]));
    return row;
  };

  Builder.prototype.renderValue = function (rule, info, n) {
    var self = this;
    var box = el("div", { class: "fb-value" });
    if (!info || rule.op === "set" || rule.op === "not_set") return box;
    var set = function (v) { rule.value = v; self.changed(); };
    var kind = info.kind;
    var list = rule.op === "in" || rule.op === "not_in";
    if (kind === "bool" || kind === "virtual") {
      var b = el("select", { "aria-label": "Value", "data-fb-value": "" }, [el("option", { value: "true", text: "Yes" }), el("option", { value: "false", text: "No" })]);
      b.value = String(rule.value !== false);
      b.addEventListener("change", function () { set(b.value === "true"); });
      box.appendChild(b);
    } else if (info.choices && info.choices.length) {
      var c = el("select", { "aria-label": "Value", "data-fb-value": "", multiple: list ? "multiple" : null });
      info.choices.forEach(function (ch) { c.appendChild(el("option", { value: JSON.stringify(ch[0]), text: ch[1] })); });
      var current = list ? (rule.value || []) : [rule.value];
      Array.prototype.forEach.call(c.options, function (o) { o.selected = current.some(function (v) { return JSON.stringify(v) === o.value; }); });
      c.addEventListener("change", function () {
        var chosen = Array.prototype.filter.call(c.options, function (o) { return o.selected; }).map(function (o) { return JSON.parse(o.value); });
        set(list ? chosen : chosen[0]);
      });
      box.appendChild(c);
    } else if (list) {
      var t = el("input", { type: "text", "aria-label": "Values, separated by commas", placeholder: "value 1, value 2", "data-fb-value": "" });
      t.value = (rule.value || []).join(", ");
      t.addEventListener("change", function () {
        var parts = t.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
        if (kind === "int") parts = parts.map(function (p) { return parseInt(p, 10); });
        if (kind === "float") parts = parts.map(Number);
        set(parts);
      });
      box.appendChild(t);
    } else if (kind === "date" || kind === "datetime") {
      var relative = rule.value && typeof rule.value === "object";
      var modeSel = el("select", { "aria-label": "Date kind" }, [el("option", { value: "rel", text: "relative to now" }), el("option", { value: "abs", text: "on date" })]);
      modeSel.value = relative ? "rel" : "abs";
      modeSel.addEventListener("change", function () {
        rule.value = modeSel.value === "rel" ? { now: "-7d" } : new Date().toISOString().slice(0, kind === "date" ? 10 : 16);
        self.render(); self.changed();
      });
      var wrap = el("div", { class: "fb-value-rel" }, [modeSel]);
      if (relative) {
        var m = /^([+-]?)(\d+)([hdwm])$/.exec(String(rule.value.now || "").trim()) || ["", "-", "7", "d"];
        var amount = el("input", { type: "number", "aria-label": "Amount (negative = in the past)", style: "width:5.5rem", "data-fb-value": "" });
        amount.value = (m[1] === "-" ? "-" : "") + m[2];
        var unit = el("select", { "aria-label": "Unit" });
        UNITS.forEach(function (u) { unit.appendChild(el("option", { value: u[0], text: u[1] })); });
        unit.value = m[3];
        var update = function () {
          var v = parseInt(amount.value || "0", 10);
          set({ now: (v < 0 ? "-" : "+") + Math.abs(v) + unit.value });
        };
        amount.addEventListener("change", update);
        unit.addEventListener("change", update);
        wrap.appendChild(amount); wrap.appendChild(unit);
      } else {
        var d = el("input", { type: kind === "date" ? "date" : "datetime-local", "aria-label": "Date", "data-fb-value": "" });
        d.value = String(rule.value || "").slice(0, kind === "date" ? 10 : 16);
        d.addEventListener("change", function () { set(d.value); });
        wrap.appendChild(d);
      }
      box.appendChild(wrap);
    } else {
      var numeric = kind === "int" || kind === "float";
      var input = el("input", { type: numeric ? "number" : "text", step: kind === "float" ? "any" : null, "aria-label": "Value", "data-fb-value": "" });
      input.value = rule.value === null || rule.value === undefined ? "" : rule.value;
      input.addEventListener("change", function () {
        set(numeric ? (input.value === "" ? null : Number(input.value)) : input.value);
      });
      box.appendChild(input);
    }
    return box;
  };

  Builder.prototype.saveFavorite = function (name) {
    var self = this;
    name = (name || "").trim();
    var body = new FormData();
    body.append("name", name);
    body.append("domain", this.textarea.value);
    body.append("fb_id", this.uid);
    var token = (document.querySelector("[name=csrfmiddlewaretoken]") || {}).value || "";
    var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    fetch(this.root.getAttribute("data-favorites-url"), {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": headers["X-CSRFToken"] || token, "HX-Request": "true" }
    }).then(function (r) { return r.text(); }).then(function (html) {
      var box = self.root.querySelector("[data-fb-favorites-box]");
      var tmp = document.createElement("div");
      tmp.innerHTML = html.trim();
      var failed = !!tmp.querySelector(".fb-error");
      box.replaceWith(tmp.firstElementChild);
      if (!failed) {
        self.root.querySelector("[data-fb-favorite-name]").value = "";
        self.root.querySelector("[data-fb-favorite-form]").hidden = true;
      }
    });
  };

  function init(scope) {
    (scope || document).querySelectorAll("[data-filter-builder]:not([data-fb-ready])").forEach(function (root) {
      root.setAttribute("data-fb-ready", "");
      // "Code" needs no field catalogue: it answers at once, even before the catalogue has
      // loaded and the builder exists (which then keeps the mode it finds).
      root.addEventListener("click", function (e) {
        var button = e.target.closest("[data-fb-mode='code']");
        if (!button || root.filterBuilder) return;
        root.querySelector("[data-fb-code]").hidden = false;
        root.querySelector("[data-fb-rules]").hidden = true;
        root.querySelectorAll("[data-fb-mode]").forEach(function (b) {
          b.setAttribute("aria-pressed", String(b === button));
        });
      });
      var url = root.getAttribute("data-fields-url");
      var load = catalogues[url] || (catalogues[url] = fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }));
      load.then(function (cat) { root.filterBuilder = new Builder(root, cat); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (e) { init(e.target); });
  window.DrumbeatFilterBuilder = { init: init, parseDomain: parseDomain };
})();
