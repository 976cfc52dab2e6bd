// The email designer (issue 15): a block editor over the design JSON that the server compiles
// to email HTML (drumbeat/mailing/design). No build step, no dependency, no inline script.
//
// State is one design object (sections → columns → blocks, see README "Email designer"); every
// change goes through change(), which records the previous state for undo, writes the JSON into
// the form's hidden `design` field (saved with the template form) and re-renders the canvas.
// The properties panel edits the selected block; the checks and the preview come from the
// server (compile endpoint on the unsaved draft) a moment after each change.
(function () {
  "use strict";

  var root = document.getElementById("designer");
  if (!root) return;
  var DATA = JSON.parse(document.getElementById("designer-data").textContent);
  var field = document.getElementById(root.getAttribute("data-field"));
  var form = field.form;
  var canvas = root.querySelector("[data-dz-canvas]");
  var props = root.querySelector("[data-dz-props]");
  var liveRegion = root.querySelector("[data-dz-status]");

  var LAYOUTS = [[100], [50, 50], [33, 67], [67, 33], [33, 33, 34]];
  var LAYOUT_LABELS = { "100": "One column", "50,50": "Two columns", "33,67": "Narrow + wide",
    "67,33": "Wide + narrow", "33,33,34": "Three columns" };
  var BLOCK_LABELS = { heading: "Heading", text: "Text", image: "Image", button: "Button",
    divider: "Divider", spacer: "Spacer", social: "Social links", footer: "Footer" };
  var EMAIL_WIDTH = 600;
  var brand = DATA.brand;

  var design = parseDesign(field.value);
  var selected = null; // a block or section id
  var undoStack = [], redoStack = [];
  var lastKey = null, lastTime = 0;

  // ---------------------------------------------------------------- model helpers

  function parseDesign(text) {
    var d = null;
    try { d = JSON.parse(text || "null"); } catch (e) { d = null; }
    if (!d || typeof d !== "object") d = {};
    d.version = 1;
    d.settings = d.settings || {};
    d.sections = Array.isArray(d.sections) ? d.sections : [];
    return d;
  }

  function allIds() {
    var ids = {};
    design.sections.forEach(function (s) {
      ids[s.id] = true;
      s.columns.forEach(function (c) { c.blocks.forEach(function (b) { ids[b.id] = true; }); });
    });
    return ids;
  }

  function newId(prefix) {
    var ids = allIds(), n = 1;
    while (ids[prefix + n]) n++;
    return prefix + n;
  }

  function findBlock(id) {
    for (var si = 0; si < design.sections.length; si++) {
      var s = design.sections[si];
      for (var ci = 0; ci < s.columns.length; ci++) {
        var blocks = s.columns[ci].blocks;
        for (var bi = 0; bi < blocks.length; bi++) {
          if (blocks[bi].id === id) return { section: s, si: si, ci: ci, bi: bi, blocks: blocks, block: blocks[bi] };
        }
      }
    }
    return null;
  }

  function findSection(id) {
    for (var si = 0; si < design.sections.length; si++) {
      if (design.sections[si].id === id) return { section: design.sections[si], si: si };
    }
    return null;
  }

  function eachBlock(fn) {
    design.sections.forEach(function (s) { s.columns.forEach(function (c) { c.blocks.forEach(fn); }); });
  }

  function hasFooter() {
    return design.sections.some(function (s) {
      return s.columns.some(function (c) { return c.blocks.some(function (b) { return b.type === "footer"; }); });
    });
  }

  function columnWidth(section, ci) {
    var inner = EMAIL_WIDTH - 2 * (section.padding == null ? 16 : section.padding);
    return Math.floor(inner * section.layout[ci] / 100) - (section.layout.length > 1 ? 16 : 0);
  }

  function setting(key, brandKey) {
    return design.settings[key] || brand[brandKey];
  }

  function newBlock(type, maxWidth) {
    var id = newId("b");
    switch (type) {
      case "heading": return { id: id, type: type, text: "Your heading", level: 1, align: "left", color: null };
      case "text": return { id: id, type: type, html: "<p>Write your message here.</p>", align: "left" };
      case "image": return { id: id, type: type, src: "", alt: "", href: "", width: Math.min(maxWidth || 560, 560), align: "center" };
      case "button": return { id: id, type: type, label: "Click here", href: "", background: brand.primary_color, color: "#ffffff", align: "center" };
      case "divider": return { id: id, type: type, color: "#e5e7eb", thickness: 1 };
      case "spacer": return { id: id, type: type, height: 24 };
      case "social": return { id: id, type: type, align: "center", links: (brand.social_links || []).map(function (l) { return { network: l.network, url: l.url }; }) };
      case "footer": return { id: id, type: type, text: "" };
    }
    throw new Error("unknown block type " + type);
  }

  function newSection(layout) {
    return { id: newId("s"), layout: layout.slice(), background: null, padding: 16,
      columns: layout.map(function () { return { blocks: [] }; }) };
  }

  function clone(obj) { return JSON.parse(JSON.stringify(obj)); }

  function reId(obj) { // fresh ids for a duplicate
    if (obj.columns) {
      obj.id = newId("s");
      obj.columns.forEach(function (c) { c.blocks.forEach(function (b) { b.id = "tmp"; }); });
      obj.columns.forEach(function (c) { c.blocks.forEach(function (b) { b.id = newIdWith(obj, "b"); }); });
    } else {
      obj.id = newId("b");
    }
    return obj;
  }
  function newIdWith(extra, prefix) {
    var ids = allIds(), n = 1;
    extra.columns.forEach(function (c) { c.blocks.forEach(function (b) { ids[b.id] = true; }); });
    while (ids[prefix + n]) n++;
    return prefix + n;
  }

  // ---------------------------------------------------------------- history

  function change(mutate, key) {
    var now = Date.now();
    if (!key || key !== lastKey || now - lastTime > 1500) {
      undoStack.push(JSON.stringify(design));
      if (undoStack.length > 200) undoStack.shift();
    }
    lastKey = key || null; lastTime = now;
    redoStack = [];
    mutate();
    saved();
    renderCanvas();
    updateHistoryButtons();
  }

  var dirty = false; // unsaved work: leaving the page asks first
  window.addEventListener("beforeunload", function (e) { if (dirty) { e.preventDefault(); e.returnValue = ""; } });

  function saved() {
    dirty = true;
    field.value = JSON.stringify(design);
    scheduleCompile();
  }

  function undo() { travel(undoStack, redoStack, "Undone"); }
  function redo() { travel(redoStack, undoStack, "Redone"); }
  function travel(from, to, word) {
    if (!from.length) return;
    to.push(JSON.stringify(design));
    design = parseDesign(from.pop());
    lastKey = null;
    if (selected && !findBlock(selected) && !findSection(selected)) selected = null;
    saved();
    renderCanvas();
    renderProps();
    updateHistoryButtons();
    announce(word);
  }

  function updateHistoryButtons() {
    root.querySelector("[data-dz-undo]").disabled = !undoStack.length;
    root.querySelector("[data-dz-redo]").disabled = !redoStack.length;
  }

  function announce(text) { liveRegion.textContent = text; }

  // ---------------------------------------------------------------- rendering: canvas

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v == null || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "style") node.setAttribute("style", v);
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function svgIcon(name) {
    var svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "icon"); svg.setAttribute("aria-hidden", "true");
    var use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", "#i-" + name);
    svg.appendChild(use);
    return svg;
  }

  function iconButton(action, label, glyph, disabled) {
    return el("button", { type: "button", class: "dz-tool", "data-action": action, "aria-label": label, title: label, disabled: disabled }, [glyph]);
  }

  function renderCanvas() {
    var focusKey = document.activeElement && canvas.contains(document.activeElement) ? focusKeyOf(document.activeElement) : null;
    canvas.innerHTML = "";
    var paper = el("div", { class: "dz-paper", style: "background:" + setting("background", "background_color") });
    var content = el("div", { class: "dz-content", style: "background:" + setting("content_background", "content_background_color") +
      ";color:" + setting("text_color", "text_color") + ";font-family:" + (DATA.fonts[design.settings.font || brand.font] || DATA.fonts.helvetica) });
    if (!design.sections.length) {
      content.appendChild(el("div", { class: "dz-empty", "data-dz-drop": "canvas", "data-index": "0" }, [
        el("strong", { text: "Start your email" }),
        el("span", { text: "Drag a block or a section from the left, or press one to add it." })]));
    }
    design.sections.forEach(function (s, si) { content.appendChild(renderSection(s, si)); });
    paper.appendChild(content);
    canvas.appendChild(paper);
    if (focusKey) restoreFocus(focusKey);
  }

  function focusKeyOf(node) {
    var holder = node.closest("[data-id]");
    return holder ? { id: holder.getAttribute("data-id"), action: node.getAttribute("data-action") } : null;
  }
  function restoreFocus(key) {
    var holder = canvas.querySelector('[data-id="' + key.id + '"]');
    if (!holder) return;
    var target = key.action ? holder.querySelector('[data-action="' + key.action + '"]') : holder;
    if (!target || target.disabled) target = holder;
    target.focus();
  }

  function renderSection(s, si) {
    var last = design.sections.length - 1;
    var isSel = selected === s.id;
    var node = el("div", { class: "dz-section" + (isSel ? " is-selected" : ""), "data-id": s.id, "data-kind": "section", tabindex: "0",
      "aria-label": "Section " + (si + 1) + ", " + LAYOUT_LABELS[s.layout.join(",")], draggable: "true",
      style: "padding:" + (s.padding == null ? 16 : s.padding) + "px" + (s.background ? ";background:" + s.background : "") });
    node.appendChild(el("div", { class: "dz-tools dz-tools-section" }, [
      el("span", { class: "dz-tag", text: "Section · " + LAYOUT_LABELS[s.layout.join(",")] }),
      iconButton("up", "Move section up", "↑", si === 0),
      iconButton("down", "Move section down", "↓", si === last),
      iconButton("duplicate", "Duplicate section", svgIcon("copy"), sectionHasFooter(s)),
      iconButton("delete", "Delete section", svgIcon("trash"), DATA.footer_required && sectionHasFooter(s))]));
    var row = el("div", { class: "dz-columns" });
    s.columns.forEach(function (col, ci) {
      var colNode = el("div", { class: "dz-column", "data-dz-drop": "column", "data-section": s.id, "data-column": ci, style: "flex-basis:" + s.layout[ci] + "%" });
      col.blocks.forEach(function (b, bi) { colNode.appendChild(renderBlock(b, bi, col.blocks.length, s, ci)); });
      if (!col.blocks.length) colNode.appendChild(el("div", { class: "dz-column-empty", text: "Drop a block here" }));
      row.appendChild(colNode);
    });
    node.appendChild(row);
    return node;
  }

  // What a screen reader hears for a block: its kind and the start of its content.
  function summary(b) {
    var text = b.type === "heading" ? b.text : b.type === "text" ? (b.html || "").replace(/<[^>]*>/g, " ")
      : b.type === "button" ? b.label : b.type === "image" ? (b.alt || (b.src ? "no alt text" : "no image")) : "";
    text = (text || "").replace(/\s+/g, " ").trim();
    return text ? ": " + (text.length > 60 ? text.slice(0, 60) + "…" : text) : " block";
  }

  function sectionHasFooter(s) {
    return s.columns.some(function (c) { return c.blocks.some(function (b) { return b.type === "footer"; }); });
  }

  function renderBlock(b, bi, count, section, ci) {
    var isFooter = b.type === "footer";
    var node = el("div", { class: "dz-block dz-" + b.type + (selected === b.id ? " is-selected" : ""), "data-id": b.id, "data-kind": "block",
      tabindex: "0", draggable: "true", "aria-label": BLOCK_LABELS[b.type] + summary(b) });
    node.appendChild(el("div", { class: "dz-tools" }, [
      el("span", { class: "dz-tag", text: BLOCK_LABELS[b.type] }),
      iconButton("up", "Move " + BLOCK_LABELS[b.type].toLowerCase() + " up", "↑", !canMove(b.id, -1)),
      iconButton("down", "Move " + BLOCK_LABELS[b.type].toLowerCase() + " down", "↓", !canMove(b.id, 1)),
      iconButton("duplicate", "Duplicate " + BLOCK_LABELS[b.type].toLowerCase(), svgIcon("copy"), isFooter),
      iconButton("delete", isFooter && DATA.footer_required ? "The footer cannot be removed from marketing emails" : "Delete " + BLOCK_LABELS[b.type].toLowerCase(), svgIcon("trash"), isFooter && DATA.footer_required)]));
    node.appendChild(blockBody(b, section, ci));
    return node;
  }

  // A media-library URL shown from our own origin (the app's CSP allows only 'self' images).
  function localSrc(src) {
    var pub = DATA.media_public_url || "";
    if (pub && src.indexOf(pub) === 0) return DATA.media_local_url + src.slice(pub.length);
    return src;
  }

  function blockBody(b, section, ci) {
    var align = b.align ? "text-align:" + b.align : "";
    switch (b.type) {
      case "heading":
        return el("h" + (b.level || 1), { class: "dz-h", style: align + ";color:" + (b.color || "inherit") + ";font-family:" + (DATA.fonts[brand.heading_font] || "inherit") }, [b.text || " "]);
      case "text": {
        var box = el("div", { class: "dz-text", style: align });
        box.appendChild(sanitizeToFragment(b.html || ""));
        box.querySelectorAll("a").forEach(function (a) { a.style.color = setting("link_color", "link_color"); a.removeAttribute("href"); });
        return box;
      }
      case "image": {
        var max = columnWidth(section, ci);
        var w = Math.min(b.width || max, max);
        var inner = b.src
          ? el("img", { src: localSrc(b.src), alt: b.alt || "", style: "width:" + w + "px;max-width:100%" })
          : el("div", { class: "dz-image-empty", style: "width:" + w + "px;max-width:100%" }, [svgIcon("upload"), " Choose an image"]);
        var wrap = el("div", { style: align }, [inner]);
        if (b.src && !b.alt) wrap.appendChild(el("div", { class: "dz-warn", text: "No alt text" }));
        return wrap;
      }
      case "button":
        return el("div", { style: align }, [el("span", { class: "dz-button", style: "background:" + b.background + ";color:" + b.color }, [b.label || "Button"])]);
      case "divider":
        return el("hr", { class: "dz-divider", style: "border-top:" + (b.thickness || 1) + "px solid " + (b.color || "#e5e7eb") });
      case "spacer":
        return el("div", { class: "dz-spacer", style: "height:" + (b.height || 24) + "px" }, [el("span", { text: (b.height || 24) + " px" })]);
      case "social": {
        var links = (b.links || []);
        var parts = [];
        links.forEach(function (l, i) { // text links, as the email shows them
          if (i) parts.push(" · ");
          parts.push(el("span", { class: "dz-fake-link", style: "color:" + setting("link_color", "link_color") }, [DATA.network_labels[l.network] || l.network]));
        });
        return el("div", { class: "dz-social", style: align }, parts.length ? parts : [el("span", { class: "muted", text: "No social links yet" })]);
      }
      case "footer":
        return el("div", { class: "dz-footer" }, [
          b.text ? el("p", { text: b.text }) : null,
          el("p", {}, [brand.sender_name || "Your organisation", brand.postal_address ? " · " + brand.postal_address : ""]),
          el("p", {}, [el("span", { class: "dz-fake-link", text: "Unsubscribe" }), " · ", el("span", { class: "dz-fake-link", text: "View online" })])]);
    }
    return el("div", { text: b.type });
  }

  // ---------------------------------------------------------------- text sanitising (client side)
  // The server sanitises again with nh3; this keeps the editor's own HTML to the allowed set.

  var ALLOWED = { P: 1, BR: 1, STRONG: 1, B: 1, EM: 1, I: 1, U: 1, A: 1, UL: 1, OL: 1, LI: 1, SPAN: 1 };

  function hexColor(value) {
    if (!value) return "";
    value = value.trim();
    if (/^#[0-9a-f]{6}$/i.test(value)) return value.toLowerCase();
    var m = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(value);
    if (!m) return "";
    return "#" + [m[1], m[2], m[3]].map(function (n) { return ("0" + parseInt(n, 10).toString(16)).slice(-2); }).join("");
  }

  function cleanNode(node, out) {
    node.childNodes.forEach(function (child) {
      if (child.nodeType === 3) { out.appendChild(document.createTextNode(child.nodeValue.replace(/\u00a0/g, " "))); return; }
      if (child.nodeType !== 1) return;
      var tag = child.tagName;
      var color = hexColor((child.style && child.style.color) || child.getAttribute("color"));
      var copy = null;
      if (tag === "DIV" || tag === "H1" || tag === "H2" || tag === "H3" || tag === "BLOCKQUOTE") copy = document.createElement("p");
      else if (tag === "FONT" || (tag === "SPAN")) {
        if (color) { copy = document.createElement("span"); copy.setAttribute("style", "color:" + color); }
      } else if (ALLOWED[tag]) {
        copy = document.createElement({ B: "strong", I: "em" }[tag] || tag.toLowerCase());
        if (tag === "A") {
          var href = child.getAttribute("href") || "";
          if (/^\s*javascript:/i.test(href)) href = "";
          copy.setAttribute("href", href);
        }
      }
      if (copy) {
        if (tag !== "SPAN" && tag !== "FONT" && color && copy.tagName !== "A") {
          var span = document.createElement("span"); span.setAttribute("style", "color:" + color);
          copy.appendChild(span); cleanNode(child, span);
        } else {
          cleanNode(child, copy);
        }
        out.appendChild(copy);
      } else {
        cleanNode(child, out); // unwrap what is not allowed, keep its text
      }
    });
    return out;
  }

  function sanitizeToFragment(html) {
    var doc = new DOMParser().parseFromString("<body>" + html + "</body>", "text/html");
    return cleanNode(doc.body, document.createDocumentFragment());
  }

  function sanitize(html) {
    var box = document.createElement("div");
    box.appendChild(sanitizeToFragment(html));
    // Loose inline content at the top level goes into paragraphs.
    var out = document.createElement("div"), para = null;
    Array.prototype.slice.call(box.childNodes).forEach(function (n) {
      var block = n.nodeType === 1 && /^(P|UL|OL)$/.test(n.tagName);
      if (block) { para = null; out.appendChild(n); return; }
      if (n.nodeType === 3 && !n.nodeValue.trim() && !para) return;
      if (!para) { para = document.createElement("p"); out.appendChild(para); }
      para.appendChild(n);
    });
    return out.innerHTML.replace(/<p><\/p>/g, "");
  }

  // ---------------------------------------------------------------- selection and canvas clicks

  function select(id, focusProps) {
    selected = id;
    canvas.querySelectorAll(".is-selected").forEach(function (n) { n.classList.remove("is-selected"); });
    var node = id && canvas.querySelector('[data-id="' + id + '"]');
    if (node) node.classList.add("is-selected");
    renderProps();
    if (focusProps) {
      var first = props.querySelector("input, select, textarea, [contenteditable]");
      if (first) first.focus();
    }
  }

  canvas.addEventListener("click", function (e) {
    var button = e.target.closest("[data-action]");
    var holder = e.target.closest("[data-id]");
    if (button && holder) { act(button.getAttribute("data-action"), holder.getAttribute("data-id"), holder.getAttribute("data-kind")); return; }
    if (holder) select(holder.getAttribute("data-id"));
    else if (e.target.closest(".dz-paper")) select(null);
  });

  canvas.addEventListener("keydown", function (e) {
    var holder = e.target.closest("[data-id]");
    if (!holder || e.target !== holder) return;
    var id = holder.getAttribute("data-id"), kind = holder.getAttribute("data-kind");
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(id, true); }
    else if (e.altKey && e.key === "ArrowUp") { e.preventDefault(); act("up", id, kind); }
    else if (e.altKey && e.key === "ArrowDown") { e.preventDefault(); act("down", id, kind); }
    else if (e.altKey && e.key === "ArrowLeft" && kind === "block") { e.preventDefault(); act("left", id, kind); }
    else if (e.altKey && e.key === "ArrowRight" && kind === "block") { e.preventDefault(); act("right", id, kind); }
    else if (e.key === "Delete") { e.preventDefault(); act("delete", id, kind); }
  });

  function canMove(id, delta) {
    var f = findBlock(id);
    if (!f) return false;
    var j = f.bi + delta;
    if (j >= 0 && j < f.blocks.length) return true;
    // across sections: into the neighbouring section's first column
    var sj = f.si + delta;
    return sj >= 0 && sj < design.sections.length;
  }

  function act(action, id, kind) {
    if (kind === "section") return actSection(action, id);
    var f = findBlock(id);
    if (!f) return;
    var label = BLOCK_LABELS[f.block.type];
    if (action === "up" || action === "down") {
      var delta = action === "up" ? -1 : 1;
      if (!canMove(id, delta)) return;
      change(function () {
        var j = f.bi + delta;
        if (j >= 0 && j < f.blocks.length) { f.blocks.splice(f.bi, 1); f.blocks.splice(j, 0, f.block); return; }
        f.blocks.splice(f.bi, 1); // past the column's end: into the neighbouring section
        var other = design.sections[f.si + delta];
        var col = other.columns[Math.min(f.ci, other.columns.length - 1)].blocks;
        if (delta < 0) col.push(f.block); else col.unshift(f.block);
      });
      announce(label + " moved " + action);
      if (selected === id) renderProps();
    } else if (action === "left" || action === "right") {
      var cj = f.ci + (action === "left" ? -1 : 1);
      if (cj < 0 || cj >= f.section.columns.length) return;
      change(function () {
        f.blocks.splice(f.bi, 1);
        var target = f.section.columns[cj].blocks;
        target.splice(Math.min(f.bi, target.length), 0, f.block);
      });
      announce(label + " moved to column " + (cj + 1));
      if (selected === id) renderProps(); // its move buttons changed
    } else if (action === "duplicate") {
      if (f.block.type === "footer") return;
      var copy = reId(clone(f.block));
      change(function () { f.blocks.splice(f.bi + 1, 0, copy); });
      select(copy.id);
      announce(label + " duplicated");
    } else if (action === "delete") {
      if (f.block.type === "footer" && DATA.footer_required) { announce("The footer cannot be removed from marketing emails"); return; }
      change(function () { f.blocks.splice(f.bi, 1); });
      if (selected === id) select(null);
      announce(label + " deleted");
      var next = canvas.querySelector(".dz-block, .dz-section");
      if (next) next.focus();
    }
  }

  function actSection(action, id) {
    var f = findSection(id);
    if (!f) return;
    if (action === "up" || action === "down") {
      var j = f.si + (action === "up" ? -1 : 1);
      if (j < 0 || j >= design.sections.length) return;
      change(function () { design.sections.splice(f.si, 1); design.sections.splice(j, 0, f.section); });
      announce("Section moved " + action);
      if (selected === id) renderProps();
    } else if (action === "duplicate") {
      if (sectionHasFooter(f.section)) return;
      var copy = reId(clone(f.section));
      change(function () { design.sections.splice(f.si + 1, 0, copy); });
      select(copy.id);
      announce("Section duplicated");
    } else if (action === "delete") {
      if (DATA.footer_required && sectionHasFooter(f.section)) { announce("The footer cannot be removed from marketing emails"); return; }
      change(function () { design.sections.splice(f.si, 1); });
      if (selected && !findBlock(selected) && !findSection(selected)) select(null);
      announce("Section deleted");
    }
  }

  // ---------------------------------------------------------------- palette: add by press

  root.querySelectorAll("[data-dz-new]").forEach(function (item) {
    item.addEventListener("click", function () { addFromPalette(item.getAttribute("data-dz-new")); });
    item.addEventListener("dragstart", function (e) {
      dragging = item.getAttribute("data-dz-new");
      e.dataTransfer.effectAllowed = "copy";
      e.dataTransfer.setData("text/plain", dragging);
    });
    item.addEventListener("dragend", endDrag);
  });

  function paletteState() {
    var footer = root.querySelector('[data-dz-new="block:footer"]');
    if (footer) {
      footer.disabled = hasFooter();
      footer.title = footer.disabled ? "The email has its footer" : "";
      footer.setAttribute("draggable", footer.disabled ? "false" : "true");
    }
  }

  function addFromPalette(spec) {
    var parts = spec.split(":");
    if (parts[0] === "section") {
      var layout = parts[1].split(",").map(Number);
      var s = newSection(layout);
      var at = design.sections.length;
      var cur = selected && (findSection(selected) || findBlock(selected));
      if (cur) at = cur.si + 1;
      change(function () { design.sections.splice(at, 0, s); });
      select(s.id);
      announce(LAYOUT_LABELS[parts[1]] + " section added");
      return;
    }
    var type = parts[1];
    if (type === "footer" && hasFooter()) return;
    var place = null, f = selected && findBlock(selected), fs = selected && findSection(selected);
    var block;
    change(function () {
      if (type === "footer") {
        var s = newSection([100]);
        design.sections.push(s);
        block = newBlock(type, columnWidth(s, 0));
        s.columns[0].blocks.push(block);
        return;
      }
      if (f) place = { blocks: f.blocks, at: f.bi + 1, section: f.section, ci: f.ci };
      else if (fs) place = { blocks: fs.section.columns[0].blocks, at: fs.section.columns[0].blocks.length, section: fs.section, ci: 0 };
      else {
        // the last section without a footer, else a new one before the footer's
        var target = null;
        for (var i = design.sections.length - 1; i >= 0; i--) {
          if (!sectionHasFooter(design.sections[i])) { target = design.sections[i]; break; }
          if (i === 0) break;
        }
        if (!target) {
          target = newSection([100]);
          var footerAt = design.sections.findIndex(sectionHasFooter);
          design.sections.splice(footerAt < 0 ? design.sections.length : footerAt, 0, target);
        }
        place = { blocks: target.columns[0].blocks, at: target.columns[0].blocks.length, section: target, ci: 0 };
      }
      block = newBlock(type, columnWidth(place.section, place.ci));
      place.blocks.splice(place.at, 0, block);
    });
    select(block.id);
    announce(BLOCK_LABELS[type] + " added");
  }

  // ---------------------------------------------------------------- drag and drop

  var dragging = null; // "block:text" (new), "move-block:b3", "move-section:s2", "section:50,50"
  var marker = el("div", { class: "dz-marker", "aria-hidden": "true" });
  var dropAt = null;

  canvas.addEventListener("dragstart", function (e) {
    var holder = e.target.closest && e.target.closest("[data-id]");
    if (!holder || e.target !== holder) return;
    dragging = (holder.getAttribute("data-kind") === "section" ? "move-section:" : "move-block:") + holder.getAttribute("data-id");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", dragging);
    holder.classList.add("is-dragging");
  });
  canvas.addEventListener("dragend", endDrag);

  function endDrag() {
    dragging = null; dropAt = null;
    if (marker.parentNode) marker.parentNode.removeChild(marker);
    canvas.querySelectorAll(".is-dragging").forEach(function (n) { n.classList.remove("is-dragging"); });
  }

  function isSectionDrag() { return dragging && (dragging.indexOf("section:") === 0 || dragging.indexOf("move-section:") === 0); }

  // Where a drop at (x, y) would land: {kind: "column", section, column, index} or {kind: "canvas", index}.
  function dropTarget(e) {
    var column = !isSectionDrag() && e.target.closest && e.target.closest("[data-dz-drop=column]");
    if (column) {
      var blocks = Array.prototype.slice.call(column.querySelectorAll(":scope > .dz-block"));
      var index = blocks.length, before = null;
      for (var i = 0; i < blocks.length; i++) {
        var r = blocks[i].getBoundingClientRect();
        if (e.clientY < r.top + r.height / 2) { index = i; before = blocks[i]; break; }
      }
      return { kind: "column", section: column.getAttribute("data-section"), column: +column.getAttribute("data-column"), index: index, node: column, before: before };
    }
    var content = canvas.querySelector(".dz-content");
    var sections = Array.prototype.slice.call(content.querySelectorAll(":scope > .dz-section"));
    var idx = sections.length, bef = null;
    for (var j = 0; j < sections.length; j++) {
      var rect = sections[j].getBoundingClientRect();
      if (e.clientY < rect.top + rect.height / 2) { idx = j; bef = sections[j]; break; }
    }
    return { kind: "canvas", index: idx, node: content, before: bef };
  }

  canvas.addEventListener("dragover", function (e) {
    if (!dragging) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = dragging.indexOf("move-") === 0 ? "move" : "copy";
    dropAt = dropTarget(e);
    var empty = dropAt.node.querySelector(":scope > .dz-column-empty, :scope > .dz-empty");
    if (empty) { dropAt.node.insertBefore(marker, empty); return; }
    dropAt.node.insertBefore(marker, dropAt.before);
  });
  canvas.addEventListener("dragleave", function (e) {
    if (!canvas.contains(e.relatedTarget) && marker.parentNode) marker.parentNode.removeChild(marker);
  });
  canvas.addEventListener("drop", function (e) {
    if (!dragging) return;
    e.preventDefault();
    var spec = dragging, at = dropTarget(e);
    endDrag();
    drop(spec, at);
  });

  function drop(spec, at) {
    var parts = spec.split(":"), what = parts[0], arg = parts[1];
    if (what === "section" || what === "move-section") {
      var index = at.kind === "canvas" ? at.index : design.sections.length;
      if (what === "section") {
        var s = newSection(arg.split(",").map(Number));
        change(function () { design.sections.splice(index, 0, s); });
        select(s.id);
        announce(LAYOUT_LABELS[arg] + " section added");
      } else {
        var f = findSection(arg);
        if (!f) return;
        change(function () {
          design.sections.splice(f.si, 1);
          design.sections.splice(index > f.si ? index - 1 : index, 0, f.section);
        });
        announce("Section moved");
      }
      return;
    }
    var block, moving = what === "move-block" ? findBlock(arg) : null;
    if (what === "block" && arg === "footer" && hasFooter()) return;
    change(function () {
      var targetBlocks, index2, section, ci;
      if (at.kind === "column") {
        section = findSection(at.section).section; ci = at.column;
        targetBlocks = section.columns[ci].blocks; index2 = at.index;
      } else {
        section = newSection([100]); ci = 0;
        design.sections.splice(at.index, 0, section);
        targetBlocks = section.columns[0].blocks; index2 = 0;
      }
      if (moving) {
        if (moving.blocks === targetBlocks && moving.bi < index2) index2--;
        moving.blocks.splice(moving.bi, 1);
        block = moving.block;
      } else {
        block = newBlock(arg, columnWidth(section, ci));
      }
      targetBlocks.splice(index2, 0, block);
    });
    select(block.id);
    announce(BLOCK_LABELS[block.type] + (moving ? " moved" : " added"));
  }

  // ---------------------------------------------------------------- properties panel

  function fieldRow(label, control, help) {
    var id = control.id || (control.id = "dz-f-" + Math.random().toString(36).slice(2, 8));
    var lab = el("label", { for: id, text: label });
    return el("div", { class: "field" }, [lab, control, help ? el("div", { class: "help", text: help }) : null]);
  }

  function input(type, value, onChange, attrs) {
    var node = el("input", Object.assign({ type: type }, attrs || {}));
    node.value = value == null ? "" : value;
    node.addEventListener("input", function () { onChange(node.value, node); });
    return node;
  }

  function select_(options, value, onChange) {
    var node = el("select");
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(value)) opt.selected = true;
      node.appendChild(opt);
    });
    node.addEventListener("change", function () { onChange(node.value); });
    return node;
  }

  function colorInput(value, onChange) { return input("color", value || "#000000", onChange); }

  function alignControl(value, onChange) {
    var group = el("div", { class: "dz-seg", role: "group" });
    [["left", "Left"], ["center", "Centre"], ["right", "Right"]].forEach(function (a) {
      var b = el("button", { type: "button", class: "btn btn-sm", "aria-pressed": String(value === a[0]), text: a[1] });
      b.addEventListener("click", function () {
        group.querySelectorAll("button").forEach(function (x) { x.setAttribute("aria-pressed", String(x === b)); });
        onChange(a[0]);
      });
      group.appendChild(b);
    });
    return el("div", { class: "field" }, [el("span", { class: "label", text: "Alignment" }), group]);
  }

  // A placeholder picker that inserts into `target` (an input, or the text editor).
  function placeholderPicker(target, forLabel) {
    var node = el("select", { class: "dz-ph", "aria-label": "Insert a placeholder into " + forLabel });
    node.appendChild(el("option", { value: "", text: "{ } Placeholder…" }));
    DATA.placeholders.forEach(function (p) { node.appendChild(el("option", { value: p[1], text: p[0] })); });
    node.addEventListener("change", function () {
      var code = node.value;
      node.value = "";
      if (!code) return;
      if (target.insertPlaceholder) { target.insertPlaceholder(code); return; }
      var start = target.selectionStart == null ? target.value.length : target.selectionStart;
      var end = target.selectionEnd == null ? start : target.selectionEnd;
      target.value = target.value.slice(0, start) + code + target.value.slice(end);
      target.focus();
      target.selectionStart = target.selectionEnd = start + code.length;
      target.dispatchEvent(new Event("input", { bubbles: true }));
    });
    return node;
  }

  function withPicker(label, control) {
    var row = fieldRow(label, control);
    row.classList.add("dz-with-ph");
    row.insertBefore(placeholderPicker(control, label.toLowerCase()), control);
    return row;
  }

  function renderProps() {
    props.innerHTML = "";
    paletteState();
    var f = selected && findBlock(selected);
    var fs = !f && selected && findSection(selected);
    if (f) return blockProps(f);
    if (fs) return sectionProps(fs);
    settingsProps();
  }

  function heading(text, sub) {
    props.appendChild(el("div", { class: "dz-props-head" }, [el("h3", { text: text }), sub ? el("div", { class: "small muted", text: sub }) : null]));
  }

  function settingsProps() {
    heading("Email settings", "Select a block or a section to edit it.");
    var s = design.settings;
    function set(key) { return function (v) { change(function () { s[key] = v; }, "settings." + key); }; }
    props.appendChild(fieldRow("Page background", colorInput(setting("background", "background_color"), set("background"))));
    props.appendChild(fieldRow("Content background", colorInput(setting("content_background", "content_background_color"), set("content_background"))));
    props.appendChild(fieldRow("Text colour", colorInput(setting("text_color", "text_color"), set("text_color"))));
    props.appendChild(fieldRow("Brand colour", colorInput(setting("link_color", "link_color"), function (v) {
      change(function () { // links, and the buttons that wore the previous brand colour
        var before = setting("link_color", "link_color").toLowerCase();
        eachBlock(function (b) { if (b.type === "button" && (b.background || "").toLowerCase() === before) b.background = v; });
        s.link_color = v;
      }, "settings.link_color");
    }), "Links, and the buttons in the brand colour."));
    props.appendChild(fieldRow("Font", select_(Object.keys(DATA.fonts).map(function (k) { return [k, DATA.font_labels[k] || k]; }),
      s.font || brand.font, set("font"))));
    var reset = el("button", { type: "button", class: "btn btn-sm", text: "Use the brand kit's look" });
    reset.addEventListener("click", function () { change(function () { design.settings = {}; }); renderProps(); });
    props.appendChild(el("div", { class: "field" }, [reset, el("div", { class: "help", text: "Colours and font left unset follow the brand kit." })]));
  }

  function sectionProps(fs) {
    var s = fs.section;
    heading("Section", LAYOUT_LABELS[s.layout.join(",")]);
    props.appendChild(fieldRow("Columns", select_(LAYOUTS.map(function (l) { return [l.join(","), LAYOUT_LABELS[l.join(",")]]; }), s.layout.join(","), function (v) {
      var layout = v.split(",").map(Number);
      change(function () {
        var blocks = [];
        s.columns.forEach(function (c) { blocks.push(c.blocks); });
        s.layout = layout;
        s.columns = layout.map(function (_, i) { return { blocks: blocks[i] || [] }; });
        // blocks of columns that go away join the last column
        for (var i = layout.length; i < blocks.length; i++) s.columns[layout.length - 1].blocks = s.columns[layout.length - 1].blocks.concat(blocks[i]);
      });
    }), "Columns sit side by side on wide screens and stack on phones."));
    var bgNone = el("input", { type: "checkbox" });
    bgNone.checked = !s.background;
    var bg = colorInput(s.background || setting("content_background", "content_background_color"), function (v) {
      bgNone.checked = false; change(function () { s.background = v; }, "bg." + s.id);
    });
    bgNone.addEventListener("change", function () { change(function () { s.background = bgNone.checked ? null : bg.value; }); });
    props.appendChild(fieldRow("Background", bg));
    props.appendChild(el("label", { class: "check" }, [bgNone, " Same as the content"]));
    props.appendChild(fieldRow("Padding (px)", input("number", s.padding == null ? 16 : s.padding, function (v) {
      var n = Math.max(0, Math.min(64, parseInt(v, 10) || 0));
      change(function () { s.padding = n; }, "pad." + s.id);
    }, { min: 0, max: 64, step: 4 })));
    var actions = el("div", { class: "dz-props-actions" });
    var last = design.sections.length - 1, footer = sectionHasFooter(s);
    [["up", "Move up", fs.si === 0], ["down", "Move down", fs.si === last], ["duplicate", "Duplicate", footer],
      ["delete", "Delete", footer && DATA.footer_required]].forEach(function (a) {
      var btn = el("button", { type: "button", class: "btn btn-sm" + (a[0] === "delete" ? " btn-danger-ghost" : ""), text: a[1], disabled: a[2] });
      btn.addEventListener("click", function () { actSection(a[0], s.id); renderProps(); });
      actions.appendChild(btn);
    });
    props.appendChild(actions);
  }

  function blockProps(f) {
    var b = f.block;
    heading(BLOCK_LABELS[b.type], b.type === "footer" ? "Holds the unsubscribe and view-online links, the sender's name and postal address." : null);
    function set(key, coalesce) {
      return function (v) { change(function () { b[key] = v; }, coalesce ? b.id + "." + key : null); };
    }
    switch (b.type) {
      case "heading": {
        props.appendChild(withPicker("Text", input("text", b.text, set("text", true), { "data-prop": "text" })));
        props.appendChild(fieldRow("Level", select_([[1, "Large (H1)"], [2, "Medium (H2)"], [3, "Small (H3)"]], b.level, function (v) { change(function () { b.level = +v; }); })));
        props.appendChild(alignControl(b.align, set("align")));
        props.appendChild(colorRow("Colour", b.color, setting("text_color", "text_color"), set("color", true)));
        break;
      }
      case "text":
        props.appendChild(textEditor(b));
        props.appendChild(alignControl(b.align, set("align")));
        break;
      case "image": imageProps(b, f); break;
      case "button":
        props.appendChild(withPicker("Label", input("text", b.label, set("label", true), { "data-prop": "label" })));
        props.appendChild(withPicker("Link (URL)", input("url", b.href, set("href", true), { "data-prop": "href", placeholder: "https://" })));
        props.appendChild(fieldRow("Button colour", colorInput(b.background, set("background", true))));
        props.appendChild(fieldRow("Label colour", colorInput(b.color, set("color", true))));
        props.appendChild(alignControl(b.align, set("align")));
        break;
      case "divider":
        props.appendChild(fieldRow("Colour", colorInput(b.color, set("color", true))));
        props.appendChild(fieldRow("Thickness (px)", input("number", b.thickness, function (v) {
          var n = Math.max(1, Math.min(8, parseInt(v, 10) || 1)); change(function () { b.thickness = n; }, b.id + ".t");
        }, { min: 1, max: 8 })));
        break;
      case "spacer":
        props.appendChild(fieldRow("Height (px)", input("number", b.height, function (v) {
          var n = Math.max(4, Math.min(120, parseInt(v, 10) || 4)); change(function () { b.height = n; }, b.id + ".h");
        }, { min: 4, max: 120, step: 4 }), "From 4 to 120 px."));
        break;
      case "social": socialProps(b); break;
      case "footer": {
        var area = el("textarea", { rows: "3", "data-prop": "text", placeholder: "Why the reader receives this email" });
        area.value = b.text || "";
        area.addEventListener("input", function () { change(function () { b.text = area.value; }, b.id + ".text"); });
        props.appendChild(fieldRow("Text", area, "The unsubscribe and view-online links, the sender's name and postal address (brand kit) are always added."));
        break;
      }
    }
    var actions = el("div", { class: "dz-props-actions" });
    var moves = [["up", "Move up"], ["down", "Move down"]];
    if (f.section.columns.length > 1) moves.push(["left", "To the left column"], ["right", "To the right column"]);
    moves.concat([["duplicate", "Duplicate"], ["delete", "Delete"]]).forEach(function (a) {
      var disabled = (a[0] === "up" && !canMove(b.id, -1)) || (a[0] === "down" && !canMove(b.id, 1)) ||
        (a[0] === "left" && f.ci === 0) || (a[0] === "right" && f.ci === f.section.columns.length - 1) ||
        (b.type === "footer" && (a[0] === "duplicate" || (a[0] === "delete" && DATA.footer_required)));
      var btn = el("button", { type: "button", class: "btn btn-sm" + (a[0] === "delete" ? " btn-danger-ghost" : ""), text: a[1], disabled: disabled });
      btn.addEventListener("click", function () { act(a[0], b.id, "block"); if (findBlock(b.id)) renderProps(); });
      actions.appendChild(btn);
    });
    props.appendChild(actions);
  }

  function colorRow(label, value, fallback, onChange) {
    var c = colorInput(value || fallback, onChange);
    var reset = el("button", { type: "button", class: "btn btn-sm btn-ghost", text: "Default" });
    reset.addEventListener("click", function () { onChange(null); c.value = fallback; });
    var row = fieldRow(label, c);
    row.appendChild(reset);
    return row;
  }

  function imageProps(b, f) {
    var max = columnWidth(f.section, f.ci);
    var preview = el("div", { class: "dz-img-pick" });
    function paint() {
      preview.innerHTML = "";
      preview.appendChild(b.src ? el("img", { src: localSrc(b.src), alt: "" }) : el("span", { class: "muted", text: "No image chosen" }));
    }
    paint();
    props.appendChild(preview);
    var choose = el("button", { type: "button", class: "btn btn-sm", text: "Choose from the library…", "data-dz-library": "" });
    if (!DATA.urls.media) choose.hidden = true;
    choose.addEventListener("click", function () { openLibrary(function (item) { srcInput.value = item.url; change(function () { b.src = item.url; if (!b.alt && item.alt) b.alt = item.alt; }); paint(); if (item.alt && !altInput.value) altInput.value = item.alt; }); });
    var upload = el("input", { type: "file", accept: "image/png,image/jpeg,image/gif,image/webp", class: "sr-only", id: "dz-upload" });
    var uploadLabel = el("label", { for: "dz-upload", class: "btn btn-sm", text: "Upload…" });
    if (!DATA.urls.upload) uploadLabel.hidden = true;
    upload.addEventListener("change", function () {
      if (!upload.files.length) return;
      uploadFile(upload.files[0], function (item) { srcInput.value = item.url; change(function () { b.src = item.url; }); paint(); });
    });
    props.appendChild(el("div", { class: "row dz-row" }, [choose, uploadLabel, upload]));
    var srcInput = input("url", b.src, function (v) { change(function () { b.src = v; }, b.id + ".src"); paint(); }, { "data-prop": "src", placeholder: "https://" });
    props.appendChild(withPicker("Image URL", srcInput));
    var altInput = input("text", b.alt, set("alt"), { "data-prop": "alt", placeholder: "What the image shows" });
    var altRow = withPicker("Alt text", altInput);
    altRow.appendChild(el("div", { class: "help", text: "Read aloud by screen readers and shown when images are blocked." }));
    props.appendChild(altRow);
    props.appendChild(withPicker("Link (optional)", input("url", b.href, set("href"), { "data-prop": "href", placeholder: "https://" })));
    props.appendChild(fieldRow("Width (px)", input("number", Math.min(b.width || max, max), function (v) {
      var n = Math.max(16, Math.min(max, parseInt(v, 10) || max)); change(function () { b.width = n; }, b.id + ".w");
    }, { min: 16, max: max, "data-prop": "width" }), "At most " + max + " px in this column; images shrink to fit small screens."));
    props.appendChild(alignControl(b.align, set("align")));
    function set(key) { return function (v) { change(function () { b[key] = v; }, b.id + "." + key); }; }
  }

  function socialProps(b) {
    var list = el("div", { class: "dz-social-list" });
    function paint() {
      list.innerHTML = "";
      (b.links || []).forEach(function (l, i) {
        var net = select_(DATA.networks.map(function (n) { return [n, DATA.network_labels[n] || n]; }), l.network, function (v) { change(function () { l.network = v; }); });
        net.setAttribute("aria-label", "Network " + (i + 1));
        var url = input("url", l.url, function (v) { change(function () { l.url = v; }, b.id + ".l" + i); }, { "aria-label": "Link " + (i + 1), placeholder: "https://" });
        var rm = el("button", { type: "button", class: "btn btn-sm btn-ghost", "aria-label": "Remove link " + (i + 1), text: "✕" });
        rm.addEventListener("click", function () { change(function () { b.links.splice(i, 1); }); paint(); });
        list.appendChild(el("div", { class: "dz-social-row" }, [net, url, rm]));
      });
    }
    paint();
    props.appendChild(el("div", { class: "field" }, [el("span", { class: "label", text: "Links" }), list]));
    var add = el("button", { type: "button", class: "btn btn-sm", text: "Add a link" });
    add.addEventListener("click", function () {
      change(function () { b.links = b.links || []; b.links.push({ network: DATA.networks[0], url: "" }); });
      paint();
      var inputs = list.querySelectorAll("input");
      if (inputs.length) inputs[inputs.length - 1].focus();
    });
    props.appendChild(add);
    props.appendChild(alignControl(b.align, function (v) { change(function () { b.align = v; }); }));
  }

  // ---------------------------------------------------------------- rich text editor

  var activeEditor = null; // the text block's editor on show, and where its caret was last
  document.addEventListener("selectionchange", function () {
    var sel = window.getSelection();
    if (activeEditor && document.activeElement === activeEditor.node && sel.rangeCount && activeEditor.node.contains(sel.anchorNode)) {
      activeEditor.keep(sel.getRangeAt(0).cloneRange()); // (not the caret moves while a menu has the focus)
    }
  });

  function textEditor(b) {
    var wrap = el("div", { class: "field" });
    var editor = el("div", { class: "dz-rte", contenteditable: "true", role: "textbox", "aria-multiline": "true", "aria-label": "Text", "data-prop": "html" });
    editor.appendChild(sanitizeToFragment(b.html || ""));
    var range = null;
    activeEditor = { node: editor, keep: function (r) { range = r; } };
    function restore() {
      editor.focus();
      if (range) { var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range); }
    }
    function commit() { change(function () { b.html = sanitize(editor.innerHTML); }, b.id + ".html"); }
    function exec(cmd, value) { restore(); document.execCommand("styleWithCSS", false, cmd === "foreColor"); document.execCommand(cmd, false, value); commit(); }
    // The caret is kept as it moves (selectionchange comes a moment later: a placeholder
    // picked right after typing would land before the last characters typed).
    function keepNow() {
      var sel = window.getSelection();
      if (sel.rangeCount && editor.contains(sel.anchorNode)) range = sel.getRangeAt(0).cloneRange();
    }
    editor.addEventListener("input", function () { keepNow(); commit(); });
    editor.addEventListener("keyup", keepNow);
    editor.addEventListener("mouseup", keepNow);
    editor.addEventListener("keydown", function (e) {
      if ((e.ctrlKey || e.metaKey) && !e.shiftKey && (e.key === "b" || e.key === "i" || e.key === "u")) {
        e.preventDefault(); exec({ b: "bold", i: "italic", u: "underline" }[e.key]);
      }
    });
    editor.addEventListener("paste", function (e) { // paste as text: no foreign markup
      e.preventDefault();
      document.execCommand("insertText", false, (e.clipboardData || window.clipboardData).getData("text/plain"));
    });
    editor.insertPlaceholder = function (code) { restore(); document.execCommand("insertText", false, code); commit(); };

    var bar = el("div", { class: "dz-rte-bar", role: "toolbar", "aria-label": "Text formatting" });
    function tool(label, glyph, cmd, value) {
      var t = el("button", { type: "button", class: "dz-tool", "aria-label": label, title: label }, [glyph]);
      t.addEventListener("mousedown", function (e) { e.preventDefault(); });
      t.addEventListener("click", function () { exec(cmd, value); });
      bar.appendChild(t);
      return t;
    }
    tool("Bold", el("b", { text: "B" }), "bold");
    tool("Italic", el("i", { text: "I" }), "italic");
    tool("Underline", el("u", { text: "U" }), "underline");
    tool("Bulleted list", "•≡", "insertUnorderedList");
    tool("Numbered list", "1≡", "insertOrderedList");
    var color = el("input", { type: "color", "aria-label": "Text colour", title: "Text colour", class: "dz-rte-color" });
    color.value = setting("text_color", "text_color");
    color.addEventListener("change", function () { exec("foreColor", color.value); });
    bar.appendChild(color);
    var linkBtn = el("button", { type: "button", class: "dz-tool", "aria-label": "Link", title: "Link", "aria-expanded": "false" }, [svgIcon("link")]);
    linkBtn.addEventListener("mousedown", function (e) { e.preventDefault(); });
    bar.appendChild(linkBtn);
    tool("Remove link", svgIcon("x"), "unlink");

    var linkRow = el("div", { class: "dz-link-row", hidden: true });
    var linkInput = el("input", { type: "url", placeholder: "https://", "aria-label": "Link URL" });
    var apply = el("button", { type: "button", class: "btn btn-sm btn-primary", text: "Apply" });
    linkRow.appendChild(linkInput);
    linkRow.appendChild(placeholderPicker(linkInput, "the link URL"));
    linkRow.appendChild(apply);
    linkBtn.addEventListener("click", function () {
      linkRow.hidden = !linkRow.hidden;
      linkBtn.setAttribute("aria-expanded", String(!linkRow.hidden));
      if (!linkRow.hidden) linkInput.focus();
    });
    function applyLink() {
      var url = linkInput.value.trim();
      if (!url) return;
      restore();
      if (window.getSelection().isCollapsed) { // no text chosen: the URL becomes the link text
        document.execCommand("insertText", false, url);
        restoreWord(url);
      }
      document.execCommand("createLink", false, url);
      commit();
      linkRow.hidden = true; linkBtn.setAttribute("aria-expanded", "false"); linkInput.value = "";
    }
    function restoreWord(url) { // select the URL just typed so it becomes the link text
      var sel = window.getSelection(), node = sel.anchorNode, end = sel.anchorOffset;
      if (node && node.nodeType === 3 && end >= url.length) {
        var r = document.createRange(); r.setStart(node, end - url.length); r.setEnd(node, end);
        sel.removeAllRanges(); sel.addRange(r);
      }
    }
    apply.addEventListener("click", applyLink);
    linkInput.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); applyLink(); } });

    var top = el("div", { class: "row dz-rte-head" }, [el("span", { class: "label", text: "Text" }), placeholderPicker(editor, "the text")]);
    wrap.appendChild(top);
    wrap.appendChild(bar);
    wrap.appendChild(linkRow);
    wrap.appendChild(editor);
    return wrap;
  }

  // ---------------------------------------------------------------- image library

  var libDialog = document.getElementById("designer-library");
  function openLibrary(onPick) {
    if (!libDialog || !DATA.urls.media) return;
    var grid = libDialog.querySelector("[data-dz-library-grid]");
    grid.innerHTML = '<p class="muted"><span class="spinner"></span> Loading the library…</p>';
    libDialog.showModal();
    fetch(DATA.urls.media, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var items = data.items || data.results || data || [];
        grid.innerHTML = "";
        if (!items.length) grid.appendChild(el("p", { class: "muted", text: "The library is empty: upload an image." }));
        items.forEach(function (item) {
          var label = item.original_name || item.name || item.url;
          var pick = el("button", { type: "button", class: "dz-lib-item", "aria-label": "Use " + label },
            [el("img", { src: item.thumbnail_url || item.url, alt: "" }), el("span", { text: label }),
              el("small", { class: "muted", text: item.width && item.height ? item.width + " × " + item.height : "" })]);
          pick.addEventListener("click", function () { libDialog.close(); onPick(item); });
          grid.appendChild(pick);
        });
      })
      .catch(function () { grid.innerHTML = ""; grid.appendChild(el("p", { class: "alert danger", text: "The library could not be loaded." })); });
  }

  function csrf() { var t = form.querySelector("[name=csrfmiddlewaretoken]"); return t ? t.value : ""; }

  function uploadFile(file, onDone) {
    if (!DATA.urls.upload) return;
    var body = new FormData();
    body.append("file", file);
    announce("Uploading " + file.name + "…");
    fetch(DATA.urls.upload, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRFToken": csrf(), Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); })
      .then(function (res) {
        if (!res.ok) {
          var errors = (res.data && res.data.errors) || [];
          showError(errors.length ? errors.map(function (e) { return e.message; }).join(" ") : (res.data && res.data.detail) || "The upload was refused.");
          return;
        }
        announce("Uploaded " + file.name);
        onDone(res.data.item || res.data);
      })
      .catch(function () { showError("The upload failed: the server did not answer."); });
  }

  function showError(text) { // next to the image's properties, read out at once
    announce(text);
    var box = props.querySelector(".dz-img-error") || el("div", { class: "alert danger dz-img-error", role: "alert" });
    box.textContent = text;
    props.insertBefore(box, props.firstChild.nextSibling);
  }

  // ---------------------------------------------------------------- checks and preview

  var checksBox = document.getElementById("designer-checks");
  var frame = document.getElementById("designer-frame");
  var recordSelect = document.getElementById("preview-record");
  var subjectOut = document.querySelector("[data-dz-subject]");
  var compileTimer = null, compileSeq = 0;

  function scheduleCompile() {
    clearTimeout(compileTimer);
    compileTimer = setTimeout(compile, 500);
  }

  function formValue(name) { var n = form.querySelector("[name=" + name + "]"); return n ? n.value : ""; }

  function compile() {
    var seq = ++compileSeq;
    root.setAttribute("aria-busy", "true");
    var body = { design: design, subject: formValue("subject"), preview_text: formValue("preview_text"),
      target: formValue("target") || DATA.target, record: recordSelect ? recordSelect.value : "" };
    fetch(DATA.urls.compile, { method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json" } })
      .then(function (r) {
        if (r.status >= 500) return { error: "the server failed (" + r.status + ").", unavailable: true };
        return r.json();
      })
      .then(function (data) { if (seq === compileSeq) showCompiled(data); })
      .catch(function () { if (seq === compileSeq) showCompiled({ error: "the server did not answer.", unavailable: true }); });
  }

  function showCompiled(data) {
    root.removeAttribute("aria-busy");
    if (frame) {
      frame.srcdoc = data.html || "";
      frame.setAttribute("data-rendered", String(++renderCount));
    }
    if (subjectOut) subjectOut.textContent = data.subject || "";
    var err = document.getElementById("designer-preview-error");
    if (err) { err.hidden = !data.error; err.textContent = data.error || ""; }
    var recName = document.querySelector("[data-dz-record-name]");
    if (recName) recName.textContent = data.record_name || "";
    if (!checksBox) return;
    var checks = data.checks || [];
    if (data.unavailable) {
      checksBox.innerHTML = "";
      checksBox.appendChild(el("p", { class: "muted", text: "The checks could not run: " + data.error }));
      var badge = document.querySelector("[data-dz-checks-count]");
      if (badge) { badge.textContent = "Not checked"; badge.className = "badge muted"; }
      return;
    }
    checksBox.innerHTML = "";
    var count = document.querySelector("[data-dz-checks-count]");
    var errors = checks.filter(function (c) { return c.severity === "error"; }).length;
    if (count) {
      count.textContent = checks.length ? (errors ? errors + " to fix" : checks.length + " to review") : "All good";
      count.className = "badge " + (errors ? "danger" : checks.length ? "warn" : "ok");
    }
    if (!checks.length) {
      checksBox.appendChild(el("p", { class: "dz-check-ok", text: "✓ Ready to send: alt texts, links, unsubscribe, subject and size are fine." }));
      return;
    }
    var list = el("ul", { class: "dz-checks" });
    checks.forEach(function (c) {
      var target = blockOfPath(c.path);
      var item = el("li", { class: "dz-check " + (c.severity === "error" ? "is-error" : "is-warning"), "data-code": c.code }, [
        el("span", { class: "badge " + (c.severity === "error" ? "danger" : "warn"), text: c.severity === "error" ? "Error" : "Warning" }), " "]);
      if (target) {
        var link = el("button", { type: "button", class: "linklike", text: c.message });
        link.addEventListener("click", function () {
          select(target, false);
          var node = canvas.querySelector('[data-id="' + target + '"]');
          if (node) { node.scrollIntoView({ block: "center" }); node.focus(); }
        });
        item.appendChild(link);
      } else if (c.path === "subject" || c.path === "preview_text") {
        var toField = el("button", { type: "button", class: "linklike", text: c.message });
        toField.addEventListener("click", function () { var f = form.querySelector("[name=" + c.path + "]"); if (f) f.focus(); });
        item.appendChild(toField);
      } else item.appendChild(document.createTextNode(c.message));
      list.appendChild(item);
    });
    checksBox.appendChild(list);
  }
  var renderCount = 0;

  function blockOfPath(path) {
    var m = /sections\[(\d+)\](?:\.columns\[(\d+)\]\.blocks\[(\d+)\])?/.exec(path || "");
    if (!m) return null;
    var s = design.sections[+m[1]];
    if (!s) return null;
    if (m[2] == null) return s.id;
    var c = s.columns[+m[2]], b = c && c.blocks[+m[3]];
    return b ? b.id : s.id;
  }

  // Desktop / mobile toggle.
  document.querySelectorAll("[data-dz-width]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      document.querySelectorAll("[data-dz-width]").forEach(function (b) { b.setAttribute("aria-pressed", String(b === btn)); });
      if (frame) frame.style.width = btn.getAttribute("data-dz-width") + "px";
      frame.closest(".dz-device").setAttribute("data-device", btn.getAttribute("data-dz-device"));
    });
  });
  if (recordSelect) recordSelect.addEventListener("change", compile);
  form.addEventListener("input", function (e) {
    if (e.target.name) dirty = true;
    if (e.target.name === "subject" || e.target.name === "preview_text") scheduleCompile();
  });
  form.addEventListener("change", function (e) {
    if (e.target.name === "target") refreshTarget(e.target.value);
  });

  function refreshTarget(target) {
    fetch(DATA.urls.placeholders + "?target=" + encodeURIComponent(target), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        DATA.placeholders = data.placeholders.map(function (p) { return [p.label, p.code]; });
        if (recordSelect) {
          recordSelect.innerHTML = "";
          data.records.forEach(function (r) { recordSelect.appendChild(el("option", { value: r.id, text: r.name })); });
        }
        document.querySelectorAll("select[data-insert-into]").forEach(function (pick) {
          Array.prototype.slice.call(pick.querySelectorAll("option[data-field]")).forEach(function (o) { o.remove(); });
          var first = pick.querySelector("option");
          DATA.placeholders.slice().reverse().forEach(function (p) {
            var o = el("option", { value: p[1], text: p[0], "data-field": "" });
            first.parentNode.insertBefore(o, first.nextSibling);
          });
        });
        renderProps();
        compile();
      });
  }

  // ---------------------------------------------------------------- toolbar, keys, convert, save

  root.querySelector("[data-dz-undo]").addEventListener("click", undo);
  root.querySelector("[data-dz-redo]").addEventListener("click", redo);
  document.addEventListener("keydown", function (e) {
    if (!(e.ctrlKey || e.metaKey) || (e.key !== "z" && e.key !== "Z" && e.key !== "y")) return;
    var t = e.target;
    var typing = t.isContentEditable || (t.tagName === "INPUT" && !/^(button|checkbox|radio|color|file)$/.test(t.type)) || t.tagName === "TEXTAREA";
    if (typing) return; // the field's own undo
    e.preventDefault();
    if (e.key === "y" || e.shiftKey) redo(); else undo();
  });

  form.addEventListener("submit", function () { field.value = JSON.stringify(design); dirty = false; });
  root.addEventListener("keydown", function (e) { // Enter in a property does not submit the form
    if (e.key === "Enter" && e.target.tagName === "INPUT") e.preventDefault();
  });

  var convert = document.querySelector("[data-dz-convert]");
  if (convert) convert.addEventListener("click", function () {
    var dialog = document.getElementById("confirm-dialog");
    document.getElementById("confirm-text").textContent =
      "Convert this design to HTML? The template keeps the compiled HTML and is edited as code from now on; it cannot be turned back into a design.";
    document.getElementById("confirm-ok").textContent = "Convert to HTML";
    dialog.returnValue = "";
    dialog.onclose = function () {
      if (dialog.returnValue !== "ok") return;
      var mode = form.querySelector("[name=editor_mode]");
      mode.value = "convert";
      field.value = JSON.stringify(design);
      form.dataset.confirmed = "yes";
      dirty = false;
      form.submit();
    };
    dialog.showModal();
  });

  // ---------------------------------------------------------------- start

  renderCanvas();
  renderProps();
  updateHistoryButtons();
  field.value = JSON.stringify(design);
  compile();
  window.drumbeatDesigner = { get design() { return design; } };
})();
