/** Pure helpers of the dashboard: payload display, rates, back-off, Prometheus text, form parsing. */

const utf8 = new TextDecoder("utf-8", { fatal: true });

export interface DecodedPayload {
  /** The payload as text, or base64 when it is not UTF-8. */
  readonly text: string;
  readonly isJson: boolean;
  readonly json?: unknown;
  readonly binary: boolean;
}

export function decodePayload(bytes: Uint8Array): DecodedPayload {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { text: toBase64(bytes), isJson: false, binary: true };
  }
  try {
    return { text, isJson: true, json: JSON.parse(text) as unknown, binary: false };
  } catch {
    return { text, isJson: false, binary: false };
  }
}

/** One line, at most `max` characters: compact JSON, or the text with whitespace folded. */
export function payloadPreview(bytes: Uint8Array, max = 160): string {
  if (bytes.length === 0) return "(empty)";
  const p = decodePayload(bytes);
  const line = p.binary ? `base64 ${p.text}` : p.isJson ? JSON.stringify(p.json) : p.text.replace(/\s+/g, " ");
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The full payload for the expanded view: JSON indented by two spaces, else the text as is. */
export function payloadPretty(bytes: Uint8Array): string {
  const p = decodePayload(bytes);
  if (p.binary) return `(${bytes.length} bytes, not UTF-8; base64)\n${p.text}`;
  return p.isJson ? JSON.stringify(p.json, null, 2) : p.text;
}

/** A state value for display: JSON compacted, text as is, cut to `max` characters. */
export function valuePreview(value: string, max = 200): string {
  let line = value;
  try {
    line = JSON.stringify(JSON.parse(value));
  } catch {
    line = value.replace(/\s+/g, " ");
  }
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** "14:03:07.123" in local time, or the input when it is not a date. */
export function clockTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Events per second over a sliding window. */
export class RateMeter {
  private readonly times: number[] = [];
  constructor(private readonly windowMs = 5000) {}

  record(now: number): void {
    this.times.push(now);
    this.prune(now);
  }

  perSecond(now: number): number {
    this.prune(now);
    return this.times.length / (this.windowMs / 1000);
  }

  private prune(now: number): void {
    let drop = 0;
    while (drop < this.times.length && (this.times[drop] ?? 0) <= now - this.windowMs) drop++;
    if (drop > 0) this.times.splice(0, drop);
  }
}

export function formatRate(perSecond: number): string {
  if (perSecond === 0) return "0 ev/s";
  return perSecond < 10 ? `${perSecond.toFixed(1)} ev/s` : `${Math.round(perSecond)} ev/s`;
}

/** Delay before reconnect attempt `attempt` (0-based): doubling from 250 ms to 3 s, with jitter in [50 %, 100 %]. */
export function backoffMs(attempt: number, random: number): number {
  const ceiling = Math.min(3000, 250 * 2 ** Math.min(attempt, 10));
  return Math.round(ceiling * (0.5 + random / 2));
}

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of a Prometheus text exposition (comments and malformed lines are skipped). */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ""] = (l[2] ?? "").replace(/\\(.)/g, "$1");
    samples.push({ name: m[1] ?? "", labels, value: Number(m[3]) });
  }
  return samples;
}

/** "a, b ,,c" -> ["a", "b", "c"]. */
export function splitList(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** "name=value" lines (blank lines ignored) -> entries; throws naming the first bad line. */
export function parseMetadataLines(text: string): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "") continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new Error(`metadata line ${i + 1}: expected name=value, got "${line}"`);
    entries[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return entries;
}
