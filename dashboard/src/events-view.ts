/**
 * Live events: one Gateway.Subscribe stream with the chosen filters, shown newest first. Pause
 * freezes the table (arriving events are held and shown on resume); the rate counts every event
 * that arrives, paused or not.
 */
import type { StreamEvent } from "../../gen/virtufin/api/v1/common_pb.js";
import { gateway } from "./api.js";
import { h, replaceChildren } from "./dom.js";
import { clockTime, formatRate, payloadPretty, payloadPreview, RateMeter, splitList } from "./format.js";
import { LiveStream, type StreamStatus } from "./live-stream.js";

const MAX_ROWS = 500;
const EVENT_TYPES = ["state", "pubsub", "system"] as const;

export interface EventsView {
  readonly element: HTMLElement;
  start(): void;
}

export function createEventsView(options: { onStatus(status: StreamStatus): void; onService(name: string): void }): EventsView {
  const servicesInput = h("input", { id: "filter-services", type: "text", placeholder: "all services", title: "comma-separated service names", list: "known-services", autocomplete: "off" });
  const topicsInput = h("input", { id: "filter-topics", type: "text", placeholder: "pinned topics", title: "comma-separated; without any, the topics pinned in services.json and state-changes", autocomplete: "off", size: 34 });
  const typeBoxes = EVENT_TYPES.map((t) => h("input", { id: `filter-type-${t}`, type: "checkbox", value: t, checked: true }));
  const pauseButton = h("button", { id: "events-pause", type: "button", class: "secondary" }, "Pause");
  const clearButton = h("button", { id: "events-clear", type: "button", class: "secondary" }, "Clear");
  const rate = h("span", { id: "events-rate", class: "stat", title: "events per second over the last 5 s" }, "0 ev/s");
  const count = h("span", { id: "events-count", class: "stat" }, "0 shown");
  const held = h("span", { id: "events-held", class: "stat held", hidden: true });
  const body = h("tbody", { id: "events-body" });
  const empty = h("tr", { class: "empty" }, h("td", { colspan: 6 }, "Waiting for events…"));
  body.append(empty);

  const form = h(
    "form",
    { id: "event-filters", class: "filters" },
    h("label", {}, "Services", servicesInput),
    h("label", {}, "Topics", topicsInput),
    h(
      "fieldset",
      { class: "types" },
      h("legend", {}, "Types"),
      ...typeBoxes.map((box) => h("label", { class: "check" }, box, box.value)),
    ),
    h("button", { type: "submit" }, "Apply"),
  );

  const element = h(
    "section",
    { id: "events", class: "panel" },
    form,
    h("div", { class: "toolbar" }, pauseButton, clearButton, h("span", { class: "spacer" }), held, count, rate),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "events-table", class: "grid events" },
        h(
          "thead",
          {},
          h("tr", {}, h("th", { class: "col-time" }, "Time"), h("th", {}, "Service"), h("th", {}, "Topic"), h("th", {}, "Type"), h("th", {}, "Id"), h("th", {}, "Payload")),
        ),
        body,
      ),
    ),
  );

  const meter = new RateMeter();
  let paused = false;
  let shown = 0;
  let heldEvents: StreamEvent[] = [];
  let pending: StreamEvent[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | undefined;

  const updateCounts = () => {
    count.textContent = `${shown} shown`;
    held.hidden = !paused;
    held.textContent = `${heldEvents.length} held while paused`;
  };

  // Rows are added in batches so a burst of events costs one layout, not one per event.
  const flush = () => {
    flushTimer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 0) return;
    empty.remove();
    const fragment = document.createDocumentFragment();
    for (let i = batch.length - 1; i >= 0; i--) fragment.append(eventRow(batch[i] as StreamEvent));
    body.prepend(fragment);
    shown += batch.length;
    while (shown > MAX_ROWS) {
      const last = body.querySelector<HTMLTableRowElement>("tr.event:last-of-type");
      if (last === null) break;
      if (last.nextElementSibling?.classList.contains("event-detail")) last.nextElementSibling.remove();
      last.remove();
      shown--;
    }
    updateCounts();
  };

  const show = (event: StreamEvent) => {
    pending.push(event);
    if (pending.length > MAX_ROWS) pending.splice(0, pending.length - MAX_ROWS);
    flushTimer ??= setTimeout(flush, 40);
  };

  const stream = new LiveStream<StreamEvent>({
    open: (signal, onHeader) => gateway.subscribe(currentFilters(), { signal, onHeader }),
    onMessage: (event) => {
      meter.record(performance.now());
      options.onService(event.service);
      if (paused) {
        heldEvents.push(event);
        if (heldEvents.length > MAX_ROWS) heldEvents.splice(0, heldEvents.length - MAX_ROWS);
        updateCounts();
      } else show(event);
    },
    onStatus: options.onStatus,
  });

  function currentFilters() {
    return {
      services: splitList(servicesInput.value),
      topics: splitList(topicsInput.value),
      eventTypes: typeBoxes.every((b) => b.checked) ? [] : typeBoxes.filter((b) => b.checked).map((b) => b.value),
    };
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    stream.restart();
  });
  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.classList.toggle("active", paused);
    if (!paused) {
      for (const e of heldEvents) show(e);
      heldEvents = [];
    }
    updateCounts();
  });
  clearButton.addEventListener("click", () => {
    pending = [];
    heldEvents = [];
    shown = 0;
    replaceChildren(body, empty);
    updateCounts();
  });
  body.addEventListener("click", (e) => {
    const row = (e.target as Element).closest("tr.event");
    if (row instanceof HTMLTableRowElement) toggleDetail(row);
  });

  setInterval(() => {
    rate.textContent = formatRate(meter.perSecond(performance.now()));
  }, 500);

  return { element, start: () => stream.restart() };
}

/** The payload of each row, kept for its expanded view without a copy in the DOM until needed. */
const rowEvents = new WeakMap<HTMLTableRowElement, StreamEvent>();

function eventRow(event: StreamEvent): HTMLTableRowElement {
  const row = h(
    "tr",
    { class: "event", "data-id": event.messageId, "data-topic": event.topic, title: "click for the full payload and attributes" },
    h("td", { class: "time", title: event.timestamp }, clockTime(event.timestamp)),
    h("td", { class: "service" }, event.service),
    h("td", { class: "topic" }, event.topic),
    h("td", { class: "type" }, h("span", { class: `badge type-${event.eventType}` }, event.eventType)),
    h("td", { class: "id", title: event.messageId }, event.messageId.length > 13 ? `${event.messageId.slice(0, 12)}…` : event.messageId),
    h("td", { class: "payload" }, h("span", { class: "caret" }), h("code", {}, payloadPreview(event.data))),
  );
  rowEvents.set(row, event);
  return row;
}

function toggleDetail(row: HTMLTableRowElement): void {
  const next = row.nextElementSibling;
  if (next?.classList.contains("event-detail")) {
    next.remove();
    row.classList.remove("expanded");
    return;
  }
  const event = rowEvents.get(row);
  if (event === undefined) return;
  const attributes = Object.entries(event.metadata).sort(([a], [b]) => a.localeCompare(b));
  const detail = h(
    "tr",
    { class: "event-detail" },
    h(
      "td",
      { colspan: 6 },
      h(
        "div",
        { class: "detail" },
        h("div", {}, h("h4", {}, "Payload"), h("pre", { class: "payload-pretty" }, payloadPretty(event.data))),
        h(
          "div",
          {},
          h("h4", {}, "Attributes"),
          h("dl", { class: "attributes" }, ...attributes.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
        ),
      ),
    ),
  );
  row.after(detail);
  row.classList.add("expanded");
}
