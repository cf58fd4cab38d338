/**
 * Subject patterns in the style of NATS authorization, as pure functions.
 *
 * A subject is dot-separated tokens. In a pattern, the token `*` matches exactly one token and
 * the token `>` matches one or more trailing tokens (only as the last token); every other token,
 * including a `>` that is not last, is literal. Configuration may also use the token `{self}`,
 * replaced by the service's own name (expandSelf) before matching.
 */
import { MAX_TOPIC_LENGTH } from "../topics/topics.js";

export const SELF_TOKEN = "{self}";
export const ONE_TOKEN = "*";
export const TAIL_TOKEN = ">";

const LITERAL_TOKEN = /^[a-z0-9_-]+$/;

/**
 * Whether `subject` is matched by `pattern`. A subject with an empty token (leading, trailing or
 * double dot, or the empty string) is malformed and matches nothing: validate topics first.
 */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  if (s.some((t) => t === "")) return false;
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === TAIL_TOKEN && i === p.length - 1) return s.length > i;
    if (i >= s.length) return false;
    if (token !== ONE_TOKEN && token !== s[i]) return false;
  }
  return p.length === s.length;
}

/**
 * Why a configured pattern is malformed, or undefined. Tokens are `[a-z0-9_-]+`, `*`, `>` (last
 * only), the reserved scenario id `LIVE`, or `{self}`.
 */
export function patternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return "pattern is empty";
  if (pattern.length > MAX_TOPIC_LENGTH) {
    return `pattern is ${pattern.length} characters long; the limit is ${MAX_TOPIC_LENGTH}`;
  }
  const tokens = pattern.split(".");
  for (const [i, token] of tokens.entries()) {
    if (token === "") return `pattern "${pattern}" has an empty token (leading, trailing or double dot)`;
    if (token === TAIL_TOKEN) {
      if (i !== tokens.length - 1) return `pattern "${pattern}": ">" may only be the last token`;
      continue;
    }
    if (token === ONE_TOKEN || token === SELF_TOKEN || token === "LIVE" || LITERAL_TOKEN.test(token)) continue;
    return `pattern "${pattern}": token "${token}" is not [a-z0-9_-]+, "*", ">", "LIVE" or "{self}"`;
  }
  return undefined;
}

/** Replaces every `{self}` token of a pattern with the service name. */
export function expandSelf(pattern: string, service: string): string {
  return pattern
    .split(".")
    .map((t) => (t === SELF_TOKEN ? service : t))
    .join(".");
}

/** Whether a (literal) subject uses wildcard tokens, i.e. is a pattern rather than one subject. */
export function hasWildcard(subject: string): boolean {
  return subject.split(".").some((t) => t === ONE_TOKEN || t === TAIL_TOKEN);
}

/**
 * Whether every subject matched by `specific` is also matched by `general` (pattern containment),
 * for subscriptions that themselves use wildcards. Both are expanded patterns (no `{self}`).
 */
export function patternCovers(general: string, specific: string): boolean {
  const g = general.split(".");
  const s = specific.split(".");
  for (let i = 0; i < g.length; i++) {
    const gt = g[i];
    const isTail = gt === TAIL_TOKEN && i === g.length - 1;
    if (isTail) return s.length > i;
    if (i >= s.length) return false;
    const st = s[i];
    const stIsTail = st === TAIL_TOKEN && i === s.length - 1;
    if (stIsTail) return false; // specific reaches any number of tokens; general does not
    if (gt === ONE_TOKEN) continue;
    if (st === ONE_TOKEN || st !== gt) return false;
  }
  return g.length === s.length;
}
