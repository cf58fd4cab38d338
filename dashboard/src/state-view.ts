/**
 * State browser: every key of one service (GetAllState), kept current by that service's `state`
 * events. Edits and deletes carry the ETag the value had when it was shown, so a change made
 * meanwhile by someone else is reported as a conflict and never silently overwritten.
 */
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { Code, describeError, gateway, isCode, state } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { decodePayload, valuePreview } from "./format.js";
import { LiveStream, type StreamStatus } from "./live-stream.js";

interface Entry {
  value: string;
  etag: string;
  readonly row: HTMLTableRowElement;
}

interface Editor {
  /** The ETag of the value the user started from: the save is conditional on it. */
  etag: string;
  readonly row: HTMLTableRowElement;
  readonly textarea: HTMLTextAreaElement;
  readonly message: HTMLElement;
  readonly actions: HTMLElement;
}

export interface StateView {
  readonly element: HTMLElement;
  /** Shows a service (used on start with the last one chosen). */
  load(service: string): void;
}

const LAST_SERVICE_KEY = "virtufin-dashboard-state-service";

export function createStateView(options: { onService(name: string): void }): StateView {
  const serviceInput = h("input", { id: "state-service", type: "text", placeholder: "service, e.g. workmanager", list: "known-services", autocomplete: "off", required: true });
  const status = h("span", { id: "state-status", class: "muted" }, "Pick a service to see its keys.");
  const message = h("div", { id: "state-message", class: "message", hidden: true });
  const body = h("tbody", { id: "state-body" });
  const newKey = h("input", { id: "state-new-key", type: "text", placeholder: "key", autocomplete: "off", required: true });
  const newValue = h("textarea", { id: "state-new-value", rows: 2, placeholder: "value (any text; JSON is shown compacted)" });
  const addForm = h(
    "form",
    { id: "state-add", class: "add-key", hidden: true },
    h("label", {}, "New key", newKey),
    h("label", { class: "grow" }, "Value", newValue),
    h("button", { type: "submit" }, "Add key"),
  );
  const loadForm = h("form", { id: "state-service-form", class: "filters" }, h("label", {}, "Service", serviceInput), h("button", { type: "submit" }, "Load"), status);

  const element = h(
    "section",
    { id: "state", class: "panel" },
    loadForm,
    message,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "state-table", class: "grid state" },
        h("thead", {}, h("tr", {}, h("th", { class: "col-key" }, "Key"), h("th", {}, "Value"), h("th", { class: "col-etag" }, "ETag"), h("th", { class: "col-actions" }, ""))),
        body,
      ),
    ),
    addForm,
  );

  let service = "";
  const entries = new Map<string, Entry>();
  const editors = new Map<string, Editor>();
  let streamStatus: StreamStatus = { state: "stopped" };
  let initialLoadDone = false;

  const updateStatus = () => {
    if (service === "") return;
    const n = `${entries.size} ${entries.size === 1 ? "key" : "keys"}`;
    const s = streamStatus;
    const live =
      s.state === "connected" ? "live" : s.state === "disconnected" ? `not live (${s.error}); retrying` : s.state === "unauthenticated" ? `needs a token (${s.error})` : "connecting…";
    status.textContent = `${service} · ${n} · ${live}`;
    status.className = s.state === "connected" ? "muted" : "warn";
  };

  const say = (text: string, kind: "error" | "conflict" | "ok") => {
    message.hidden = false;
    message.className = `message ${kind}`;
    message.textContent = text;
  };

  const stream = new LiveStream<StreamEvent>({
    open: (signal, onHeader) =>
      gateway.subscribe(
        { services: [service], eventTypes: ["state"] },
        {
          signal,
          // The stream is registered: load everything now, so no change falls in between.
          onHeader: () => {
            onHeader();
            void reloadAll();
          },
        },
      ),
    onMessage: (event) => void onStateEvent(event),
    onStatus: (s) => {
      streamStatus = s;
      updateStatus();
    },
  });

  async function reloadAll(): Promise<void> {
    const forService = service;
    try {
      const all = await state.getAllState({ service: forService });
      if (forService !== service) return;
      for (const key of [...entries.keys()]) if (!(key in all.values)) removeEntry(key);
      for (const key of Object.keys(all.values).sort()) upsert(key, all.values[key] ?? "", all.etags[key] ?? "");
      initialLoadDone = true;
      updateStatus();
    } catch (err) {
      say(`Could not load ${forService}: ${describeError(err)}`, "error");
    }
  }

  async function refreshKey(key: string): Promise<void> {
    const forService = service;
    try {
      const got = await state.getState({ service: forService, key });
      if (forService !== service) return;
      if (got.found) upsert(key, got.value, got.etag);
      else removeEntry(key);
      updateStatus();
    } catch (err) {
      say(`Could not read ${key}: ${describeError(err)}`, "error");
    }
  }

  async function onStateEvent(event: StreamEvent): Promise<void> {
    const p = decodePayload(event.data);
    const change = p.json as { key?: unknown; action?: unknown } | undefined;
    if (typeof change?.key !== "string") return;
    if (change.action === "delete") {
      removeEntry(change.key);
      updateStatus();
    } else await refreshKey(change.key);
  }

  function upsert(key: string, value: string, etag: string): void {
    let entry = entries.get(key);
    const isNew = entry === undefined;
    if (entry === undefined) {
      entry = { value, etag, row: keyRow(key) };
      entries.set(key, entry);
      insertSorted(entry.row, key);
    } else if (entry.etag === etag && entry.value === value) return;
    entry.value = value;
    entry.etag = etag;
    const [, valueCell, etagCell] = entry.row.cells;
    if (valueCell) replaceChildren(valueCell, h("code", { title: value }, valuePreview(value)));
    if (etagCell) etagCell.textContent = etag;
    // Highlight changes, not the first load.
    if (!isNew || initialLoadDone) flash(entry.row);
    const editor = editors.get(key);
    if (editor !== undefined && editor.etag !== etag) {
      note(editor, `Changed elsewhere meanwhile (now ETag ${etag}); saving your edit will report a conflict.`, "conflict");
    }
  }

  function removeEntry(key: string): void {
    const entry = entries.get(key);
    if (entry === undefined) return;
    entries.delete(key);
    entry.row.remove();
    const editor = editors.get(key);
    if (editor !== undefined) note(editor, "Deleted elsewhere meanwhile; saving your edit will report a conflict.", "conflict");
  }

  function insertSorted(row: HTMLTableRowElement, key: string): void {
    for (const other of body.querySelectorAll<HTMLTableRowElement>("tr.state-row")) {
      if ((other.dataset["key"] ?? "") > key) {
        other.before(row);
        return;
      }
    }
    body.append(row);
  }

  function keyRow(key: string): HTMLTableRowElement {
    const edit = h("button", { type: "button", class: "edit small secondary" }, "Edit");
    const del = h("button", { type: "button", class: "delete small danger-outline" }, "Delete");
    // Deleting asks once, in place ("Delete?" with Yes / Keep), until answered.
    const yes = h("button", { type: "button", class: "confirm-delete small danger" }, "Yes, delete");
    const keep = h("button", { type: "button", class: "keep small secondary" }, "Keep");
    const ask = h("span", { class: "ask", hidden: true }, "Delete? ", yes, keep);
    const row = h(
      "tr",
      { class: "state-row", "data-key": key },
      h("td", { class: "key" }, key),
      h("td", { class: "value" }),
      h("td", { class: "etag" }),
      h("td", { class: "actions" }, edit, del, ask),
    );
    edit.addEventListener("click", () => openEditor(key));
    const asking = (on: boolean) => {
      ask.hidden = !on;
      edit.hidden = on;
      del.hidden = on;
    };
    del.addEventListener("click", () => asking(true));
    keep.addEventListener("click", () => asking(false));
    yes.addEventListener("click", () => {
      asking(false);
      void deleteKey(key);
    });
    return row;
  }

  async function deleteKey(key: string): Promise<void> {
    const entry = entries.get(key);
    if (entry === undefined) return;
    try {
      await state.deleteState({ service, key, etag: entry.etag });
      removeEntry(key);
      closeEditor(key);
      updateStatus();
      say(`Deleted ${key}.`, "ok");
    } catch (err) {
      if (isCode(err, Code.Aborted)) {
        say(`Conflict: ${key} changed since it was shown (ETag ${entry.etag}); it was not deleted. The row now shows the current value.`, "conflict");
        await refreshKey(key);
      } else say(`Could not delete ${key}: ${describeError(err)}`, "error");
    }
  }

  function openEditor(key: string): void {
    const entry = entries.get(key);
    if (entry === undefined || editors.has(key)) {
      editors.get(key)?.textarea.focus();
      return;
    }
    const textarea = h("textarea", { class: "editor-value", rows: Math.min(12, Math.max(3, entry.value.split("\n").length + 1)), spellcheck: "false" });
    textarea.value = entry.value;
    const msg = h("div", { class: "message", hidden: true });
    const save = h("button", { type: "button", class: "save" }, "Save");
    const cancel = h("button", { type: "button", class: "cancel secondary" }, "Cancel");
    const actions = h("div", { class: "editor-actions" }, save, cancel, h("span", { class: "muted based-on" }, `based on ETag ${entry.etag}`));
    const row = h("tr", { class: "state-editor", "data-key": key }, h("td", { colspan: 4 }, textarea, actions, msg));
    const editor: Editor = { etag: entry.etag, row, textarea, message: msg, actions };
    editors.set(key, editor);
    entry.row.after(row);
    entry.row.classList.add("editing");
    save.addEventListener("click", () => void saveEdit(key, editor, editor.etag));
    cancel.addEventListener("click", () => closeEditor(key));
    textarea.focus();
  }

  function closeEditor(key: string): void {
    const editor = editors.get(key);
    if (editor === undefined) return;
    editors.delete(key);
    editor.row.remove();
    entries.get(key)?.row.classList.remove("editing");
  }

  async function saveEdit(key: string, editor: Editor, etag: string): Promise<void> {
    try {
      await state.saveState({ service, key, value: editor.textarea.value, etag });
      closeEditor(key);
      say(`Saved ${key}.`, "ok");
      await refreshKey(key);
    } catch (err) {
      if (!isCode(err, Code.Aborted)) {
        note(editor, `Not saved: ${describeError(err)}`, "error");
        return;
      }
      // Someone else wrote (or deleted) the key since the edit began: show theirs, keep ours.
      const current = await state.getState({ service, key }).catch(() => undefined);
      const theirs = current === undefined ? "could not be read" : current.found ? `now ETag ${current.etag}: ${valuePreview(current.value, 120)}` : "it has been deleted";
      note(editor, `Conflict: ${key} changed since you opened it (ETag ${etag}); your edit was not saved. Current value ${theirs}.`, "conflict");
      if (current?.found === true) {
        const overwrite = h("button", { type: "button", class: "overwrite danger-outline" }, `Overwrite ETag ${current.etag} with mine`);
        overwrite.addEventListener("click", () => {
          overwrite.remove();
          editor.etag = current.etag;
          void saveEdit(key, editor, current.etag);
        });
        editor.message.append(" ", overwrite);
      }
    }
  }

  function note(editor: Editor, text: string, kind: "error" | "conflict"): void {
    editor.message.hidden = false;
    editor.message.className = `message ${kind}`;
    editor.message.textContent = text;
  }

  loadForm.addEventListener("submit", (e) => {
    e.preventDefault();
    load(serviceInput.value.trim());
  });

  addForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const key = newKey.value.trim();
    if (entries.has(key)) {
      say(`${key} exists already: use its Edit button (a save from here would overwrite it without an ETag).`, "error");
      return;
    }
    void (async () => {
      try {
        await state.saveState({ service, key, value: newValue.value });
        newKey.value = "";
        newValue.value = "";
        say(`Saved ${key}.`, "ok");
        await refreshKey(key);
      } catch (err) {
        say(`Could not save ${key}: ${describeError(err)}`, "error");
      }
    })();
  });

  function load(name: string): void {
    if (name === "") return;
    service = name;
    serviceInput.value = name;
    localStorage.setItem(LAST_SERVICE_KEY, name);
    options.onService(name);
    for (const key of [...editors.keys()]) closeEditor(key);
    entries.clear();
    initialLoadDone = false;
    body.replaceChildren();
    message.hidden = true;
    addForm.hidden = false;
    updateStatus();
    stream.restart();
  }

  const last = localStorage.getItem(LAST_SERVICE_KEY);
  if (last !== null) serviceInput.value = last;

  return { element, load };
}

/** Highlights a changed row briefly (not while its tab is hidden: the animation would replay when shown). */
function flash(row: HTMLTableRowElement): void {
  row.classList.remove("changed");
  if (row.offsetParent === null) return;
  void row.offsetWidth; // restart the animation
  row.classList.add("changed");
  setTimeout(() => row.classList.remove("changed"), 1700);
}
