/** Publish form: one PublishEvent with the payload as UTF-8 and CloudEvents attributes as `ce-*` metadata. */
import { describeError, pubsub } from "./api.js";
import { h } from "./dom.js";
import { parseMetadataLines } from "./format.js";

const ATTRIBUTES = [
  { name: "ce-type", placeholder: "default com.virtufin.<service>.<topic>" },
  { name: "ce-source", placeholder: "default urn:com.virtufin.<service>" },
  { name: "ce-subject", placeholder: "optional" },
  { name: "ce-id", placeholder: "default a new UUID" },
  { name: "ce-datacontenttype", placeholder: "default application/json when the payload is JSON" },
] as const;

export function createPublishView(options: { onService(name: string): void }): HTMLElement {
  const service = h("input", { id: "publish-service", type: "text", list: "known-services", placeholder: "workmanager", required: true, autocomplete: "off" });
  const topic = h("input", { id: "publish-topic", type: "text", placeholder: "workmanager.workerstatus", required: true, autocomplete: "off" });
  const payload = h("textarea", { id: "publish-payload", rows: 8, spellcheck: "false" });
  payload.value = '{\n  "worker_id": "w1",\n  "status": "started"\n}';
  const attributes = ATTRIBUTES.map((a) => ({ name: a.name, input: h("input", { id: `publish-${a.name}`, type: "text", placeholder: a.placeholder, autocomplete: "off" }) }));
  const extra = h("textarea", { id: "publish-extra", rows: 3, spellcheck: "false", placeholder: "x-correlation-id=abc\n(one name=value per line: ce-*, x-*, traceparent)" });
  const result = h("div", { id: "publish-result", class: "message", hidden: true, role: "status" });
  const submit = h("button", { type: "submit" }, "Publish");

  const form = h(
    "form",
    { id: "publish-form", class: "publish" },
    h(
      "div",
      { class: "column" },
      h("div", { class: "row" }, h("label", {}, "Service", service), h("label", { class: "grow" }, "Topic", topic)),
      h("label", {}, "Payload (sent as UTF-8 bytes)", payload),
      h("div", { class: "row" }, submit),
      result,
    ),
    h(
      "fieldset",
      { class: "column attributes-form" },
      h("legend", {}, "CloudEvents attributes"),
      ...attributes.map((a) => h("label", {}, a.name, a.input)),
      h("label", {}, "Other metadata", extra),
    ),
  );

  const show = (text: string, kind: "ok" | "error") => {
    result.hidden = false;
    result.className = `message ${kind}`;
    result.textContent = text;
  };

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    let metadata: Record<string, string>;
    try {
      metadata = parseMetadataLines(extra.value);
    } catch (err) {
      show((err as Error).message, "error");
      return;
    }
    for (const a of attributes) if (a.input.value.trim() !== "") metadata[a.name] = a.input.value.trim();
    submit.disabled = true;
    void pubsub
      .publishEvent({ service: service.value.trim(), topic: topic.value.trim(), data: new TextEncoder().encode(payload.value), metadata })
      .then(
        (res) => {
          options.onService(service.value.trim());
          show(`Published on ${topic.value.trim()}: message id ${res.messageId}`, "ok");
          result.dataset["messageId"] = res.messageId;
        },
        (err: unknown) => show(`Not published: ${describeError(err)}`, "error"),
      )
      .finally(() => (submit.disabled = false));
  });

  return h(
    "section",
    { id: "publish", class: "panel" },
    h(
      "p",
      { class: "muted intro" },
      "Attributes left empty are filled by the gateway. A subscription without a topic filter sees the topics pinned in services.json and state-changes; name other topics in the Live events filter to see them.",
    ),
    form,
  );
}
