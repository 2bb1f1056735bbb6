// What the page shows, built with textContent only (nothing from the wire is parsed as HTML).

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

export function pretty(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

function parsed(value) {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

const IMAGE_TYPES = /^data:image\/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=]+$/;

/** Every inline image in a tool result: data: URLs, or MCP image content {type:"image", data, mimeType}. */
export function imagesIn(value, found = []) {
  if (found.length >= 8) return found;
  if (typeof value === "string") {
    if (IMAGE_TYPES.test(value)) found.push(value);
    else if (value.startsWith("{") || value.startsWith("[")) {
      const inner = parsed(value);
      if (typeof inner !== "string") imagesIn(inner, found);
    }
  } else if (Array.isArray(value)) value.forEach((v) => imagesIn(v, found));
  else if (value && typeof value === "object") {
    if (value.type === "image" && typeof value.data === "string" && typeof value.mimeType === "string") {
      const url = `data:${value.mimeType};base64,${value.data}`;
      if (IMAGE_TYPES.test(url)) found.push(url);
    } else Object.values(value).forEach((v) => imagesIn(v, found));
  }
  return found;
}

/** Run `fn` once in the next frame however often it is asked for (layout once, not per event). */
export function coalesced(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fn();
    });
  };
}

export class Transcript {
  constructor(list, announcer) {
    this.list = list;
    this.announcer = announcer;
    this.lines = new Map();
    this.scroll = coalesced(() => (this.list.scrollTop = this.list.scrollHeight));
  }

  line(key, who, text = "") {
    let entry = this.lines.get(key);
    if (!entry) {
      const body = el("span", { class: "text", text });
      const node = el("li", { class: who === "You" ? "user" : "assistant" }, el("span", { class: "who", text: `${who}:` }), body);
      this.list.append(node);
      entry = { node, body };
      this.lines.set(key, entry);
    } else if (text) entry.body.textContent = text;
    this.scroll();
    return entry;
  }

  append(key, who, delta) {
    const entry = this.line(key, who);
    entry.body.textContent += delta;
    this.scroll();
  }

  /** A line is complete: say it once in the live region. */
  done(key, who, text) {
    const entry = this.line(key, who, text);
    const said = entry.body.textContent;
    if (said && !entry.announced) {
      entry.announced = true;
      this.announcer.append(el("p", { text: `${who}: ${said}` }));
      while (this.announcer.childElementCount > 5) this.announcer.firstElementChild.remove();
    }
  }
}

const STATUS_TEXT = {
  pending: "called",
  running: "running",
  background: "running in the background",
  completed: "result",
  failed: "failed",
  cancelled: "cancelled",
  approval: "waiting for approval",
  denied: "denied",
};

export class ToolCard {
  constructor(list, itemId, name, server) {
    this.itemId = itemId;
    this.started = performance.now();
    this.status = null;
    this.title = el("h3", { text: server ? `${name} (${server})` : name });
    this.statusNode = el("span", { class: "status" });
    this.duration = el("span", { class: "duration" });
    this.progress = el("span", { class: "progress" });
    this.args = el("pre", { "aria-label": "arguments" });
    this.result = el("div", { class: "result" });
    this.node = el(
      "li",
      { class: "card", "data-item": itemId },
      this.title,
      el("p", {}, "Status: ", this.statusNode, " ", this.duration, " ", this.progress),
      el("details", {}, el("summary", { text: "Arguments" }), this.args),
      this.result,
    );
    list.prepend(this.node);
    this.set("pending");
  }

  set(status, detail = "") {
    this.status = status;
    this.node.dataset.status = status;
    this.statusNode.textContent = STATUS_TEXT[status] || status;
    this.progress.textContent = detail;
    if (["completed", "failed", "cancelled", "denied"].includes(status)) {
      this.ms = Math.round(performance.now() - this.started);
      this.duration.textContent = `(${this.ms} ms)`;
    }
  }

  arguments(text) {
    this.args.textContent = pretty(text || "{}");
  }

  output(value, label = "Result") {
    this.result.replaceChildren();
    const details = el("details", { open: true }, el("summary", { text: label }), el("pre", { text: pretty(value) }));
    this.result.append(details);
    for (const src of imagesIn(value)) this.result.append(el("img", { src, alt: `image returned by ${this.title.textContent}` }));
  }
}

/** A question for the user: Approve/Deny, a form built from a JSON schema, or a link to open. */
export function questionBox(container, { title, text, schema, url, actions, onAnswer }) {
  const box = el("div", { class: "question", role: "group", "aria-label": title });
  box.append(el("h3", { text: title }));
  if (text) box.append(el("p", { text }));
  const fields = [];
  const form = el("form");
  if (url) {
    let safe = null;
    try {
      const parsedUrl = new URL(url);
      if (parsedUrl.protocol === "https:" || parsedUrl.protocol === "http:") safe = parsedUrl.href;
    } catch {
      /* not a URL */
    }
    box.append(safe ? el("p", {}, el("a", { href: safe, target: "_blank", rel: "noopener noreferrer", text: `Open ${new URL(safe).host}` })) : el("p", { text: `unsafe link not shown: ${url}` }));
  }
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  let n = 0;
  for (const [name, prop] of Object.entries(props)) {
    const id = `q-${Math.random().toString(36).slice(2)}-${n++}`;
    const label = el("label", { for: id, text: prop.title || name });
    let input;
    if (Array.isArray(prop.enum)) {
      input = el("select", { id });
      prop.enum.forEach((v, i) => input.append(el("option", { value: String(v), text: (prop.enumNames && prop.enumNames[i]) || String(v) })));
    } else if (prop.type === "boolean") {
      input = el("input", { id, type: "checkbox" });
      if (prop.default) input.checked = true;
    } else {
      const type = prop.type === "number" || prop.type === "integer" ? "number" : prop.format === "email" ? "email" : "text";
      input = el("input", { id, type, required: required.has(name) });
      if (prop.type === "integer") input.step = "1";
      if (prop.default !== undefined) input.value = String(prop.default);
    }
    if (prop.description) label.append(el("span", { class: "hint", text: ` ${prop.description}` }));
    fields.push({ name, prop, input });
    form.append(label, input);
  }
  const buttons = el("div", { class: "row" });
  for (const action of actions) {
    buttons.append(el("button", { type: action.submit ? "submit" : "button", text: action.label, "data-action": action.value, onclick: action.submit ? undefined : () => finish(action.value) }));
  }
  form.append(buttons);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    finish(actions.find((a) => a.submit).value);
  });
  box.append(form);
  container.prepend(box);
  const first = box.querySelector("input, select, button");
  first?.focus();

  function finish(action) {
    const content = {};
    for (const { name, prop, input } of fields) {
      if (prop.type === "boolean") content[name] = input.checked;
      else if (prop.type === "number" || prop.type === "integer") content[name] = input.value === "" ? undefined : Number(input.value);
      else content[name] = input.value;
    }
    box.replaceChildren(el("p", { text: `${title}: ${action}` }));
    box.dataset.answered = action;
    onAnswer(action, content);
  }
  return box;
}

export class EventLog {
  constructor(list, filter, audio) {
    this.list = list;
    this.filter = filter;
    this.audio = audio;
    this.max = 400;
    this.skipped = 0;
    this.pending = [];
    this.flush = coalesced(() => this.insert());
    filter.addEventListener("input", () => this.refilter());
  }

  insert() {
    const fragment = document.createDocumentFragment();
    for (let i = this.pending.length - 1; i >= 0; i--) fragment.append(this.pending[i]);
    this.pending = [];
    this.list.prepend(fragment);
    while (this.list.childElementCount > this.max) this.list.lastElementChild.remove();
  }

  static isAudio(type) {
    return type === "input_audio_buffer.append" || type === "response.output_audio.delta";
  }

  add(event, dir) {
    const type = String(event.type || "?");
    if (EventLog.isAudio(type) && !this.audio.checked) {
      this.skipped += 1;
      return;
    }
    const shown = { ...event };
    for (const key of ["audio", "delta"]) {
      if (EventLog.isAudio(type) && typeof shown[key] === "string") shown[key] = `<${shown[key].length} base64 chars>`;
    }
    const pre = el("pre");
    const details = el("details", {}, el("summary", {}, el("span", { class: "dir", text: dir === "out" ? "→" : "←", "aria-label": dir === "out" ? "sent" : "received" }), type), pre);
    // the JSON is written only when opened: a busy session logs many events
    details.addEventListener("toggle", () => {
      if (details.open && !pre.textContent) pre.textContent = JSON.stringify(shown, null, 2);
    });
    const node = el("li", { "data-type": type, "data-dir": dir }, details);
    node.hidden = !this.matches(type);
    this.pending.push(node);
    if (this.pending.length > this.max) this.pending.shift();
    this.flush();
  }

  matches(type) {
    const f = this.filter.value.trim().toLowerCase();
    return !f || type.toLowerCase().includes(f);
  }

  refilter() {
    for (const node of this.list.children) node.hidden = !this.matches(node.dataset.type);
  }

  clear() {
    this.pending = [];
    this.list.replaceChildren();
  }
}

export function showFigures(dl, figures) {
  dl.replaceChildren();
  for (const [name, value] of Object.entries(figures)) dl.append(el("dt", { text: name }), el("dd", { text: String(value) }));
}
