/**
 * A Fetch `Headers` kept as one array of lower-case names and values, for the headers of calls on
 * the fast paths. Every call has three (request headers, response headers, response trailers) and
 * an idle Subscribe stream keeps them for its whole life: undici's Headers is an object, a list
 * object, a Map with its hash table and an object per field (about 250-300 bytes for one field);
 * this is an object and an array.
 *
 * Behaviour is the Fetch standard's, as undici implements it (test/unit/compact-headers.test.ts
 * compares the two operation by operation): names are case-insensitive HTTP tokens, values are
 * trimmed of HTTP whitespace and may not hold NUL, CR or LF (both throw TypeError), get() joins
 * the values of a name with ", ", and iteration is sorted by name with the values of a name
 * combined, except set-cookie, whose values come one by one.
 */

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const FORBIDDEN_IN_VALUE = /[\0\r\n]/;

type HeadersInitLike = Headers | Iterable<readonly string[]> | Readonly<Record<string, string | readonly string[]>>;

function fieldName(name: string): string {
  const text = String(name);
  if (!TOKEN.test(text)) throw new TypeError(`Headers: "${text}" is not a valid header name`);
  return text.toLowerCase();
}

function fieldValue(value: string): string {
  const text = String(value).replace(EDGE_WHITESPACE, "");
  if (FORBIDDEN_IN_VALUE.test(text)) throw new TypeError(`Headers: the value "${text}" holds a forbidden character`);
  return text;
}

export class CompactHeaders implements Headers {
  /** name, value, name, value, ... in insertion order; names in lower case. */
  private fields: string[] = [];

  constructor(init?: HeadersInitLike) {
    if (init === undefined) return;
    this.fill(init);
    // Pushing grows an array to 17 slots; an idle stream keeps three of these for its whole life.
    if (this.fields.length > 0) this.fields = this.fields.slice();
  }

  private fill(init: HeadersInitLike): void {
    if (typeof (init as Iterable<unknown>)[Symbol.iterator] === "function") {
      for (const pair of init as Iterable<readonly string[]>) {
        if (pair.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
        this.append(pair[0] as string, pair[1] as string);
      }
      return;
    }
    const record = init as Readonly<Record<string, string | readonly string[]>>;
    for (const name of Object.keys(record)) {
      const value = record[name] as string | readonly string[];
      // A list becomes one value joined with "," (its string form), as undici does.
      this.append(name, String(value));
    }
  }

  /**
   * Headers as Node parsed them from the wire (names already lower case and valid; pseudo-headers
   * such as :path left out); no validation, as Node's parser did it.
   */
  static fromNode(raw: Readonly<Record<string, string | string[] | undefined>>): CompactHeaders {
    const headers = new CompactHeaders();
    const fields = headers.fields;
    for (const name in raw) {
      if (name.charCodeAt(0) === 58 /* ":" */) continue;
      const value = raw[name];
      if (typeof value === "string") fields.push(name, value);
      else if (Array.isArray(value)) for (const v of value) fields.push(name, v);
    }
    headers.fields = fields.slice(); // exactly as long as it needs to be (see the constructor)
    return headers;
  }

  append(name: string, value: string): void {
    this.fields.push(fieldName(name), fieldValue(value));
  }

  delete(name: string): void {
    this.removeFrom(0, fieldName(name));
  }

  get(name: string): string | null {
    const key = fieldName(name);
    const fields = this.fields;
    let value: string | null = null;
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === key) value = value === null ? (fields[i + 1] as string) : `${value}, ${fields[i + 1] as string}`;
    }
    return value;
  }

  getSetCookie(): string[] {
    const fields = this.fields;
    const cookies: string[] = [];
    for (let i = 0; i < fields.length; i += 2) if (fields[i] === "set-cookie") cookies.push(fields[i + 1] as string);
    return cookies;
  }

  has(name: string): boolean {
    const key = fieldName(name);
    const fields = this.fields;
    for (let i = 0; i < fields.length; i += 2) if (fields[i] === key) return true;
    return false;
  }

  set(name: string, value: string): void {
    const key = fieldName(name);
    const text = fieldValue(value);
    const fields = this.fields;
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] !== key) continue;
      fields[i + 1] = text;
      this.removeFrom(i + 2, key);
      return;
    }
    fields.push(key, text);
  }

  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [name, value] of this.sorted()) callback.call(thisArg, value, name, this);
  }

  entries(): IterableIterator<[string, string]> {
    return this.sorted()[Symbol.iterator]();
  }

  keys(): IterableIterator<string> {
    return this.sorted()
      .map(([name]) => name)
      [Symbol.iterator]();
  }

  values(): IterableIterator<string> {
    return this.sorted()
      .map(([, value]) => value)
      [Symbol.iterator]();
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return "Headers";
  }

  /** Drops the fields named `key` at or after position `start`, keeping the order of the rest. */
  private removeFrom(start: number, key: string): void {
    const fields = this.fields;
    let kept = start;
    for (let i = start; i < fields.length; i += 2) {
      if (fields[i] === key) continue;
      fields[kept++] = fields[i] as string;
      fields[kept++] = fields[i + 1] as string;
    }
    fields.length = kept;
  }

  /** The Fetch standard's "sort and combine": by name, the values of a name joined, set-cookie one by one. */
  private sorted(): Array<[string, string]> {
    const fields = this.fields;
    const names: string[] = [];
    for (let i = 0; i < fields.length; i += 2) if (!names.includes(fields[i] as string)) names.push(fields[i] as string);
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out: Array<[string, string]> = [];
    for (const name of names) {
      if (name === "set-cookie") for (const cookie of this.getSetCookie()) out.push([name, cookie]);
      else out.push([name, this.get(name) as string]);
    }
    return out;
  }
}
