/**
 * The resilience layer every Dapr call goes through: one opossum circuit breaker per operation
 * name, a per-attempt timeout that really cancels the call (through an AbortSignal), and retries
 * with exponential backoff for transient errors only.
 *
 * Layering, as Dapr's own resiliency policies do it (retry ⟶ circuit breaker ⟶ timeout ⟶ call):
 * the breaker wraps each ATTEMPT, not the whole retry loop. So every failed attempt is evidence
 * for the breaker, and once the breaker opens the retry loop stops at once instead of sleeping
 * and retrying against a backend known to be down.
 *
 * Error classes:
 * - transient: retried (if the call allows it) and counted by the breaker: Unavailable, a
 *   per-attempt timeout, Internal from a store/broker outage (Dapr reports a Redis outage as
 *   INTERNAL), Unknown or Aborted caused by the network (connect-node reports ECONNRESET as
 *   ABORTED), and Node network errors.
 * - permanent: returned at once, never retried, and not counted by the breaker (opossum's
 *   `errorFilter`, which counts them as successes): the caller's mistakes such as an ETag
 *   mismatch (ABORTED) or NOT_FOUND, limits (RESOURCE_EXHAUSTED), and anything that is neither a
 *   ConnectError nor a network error (rethrown as it is).
 *
 * The caller's own signal (Connect aborts ctx.signal at the deadline or on cancel) is honoured
 * everywhere: no attempt starts after it aborted, backoff sleeps end with it, and the in-flight
 * Dapr call is aborted with it. When the caller's deadline expires during an attempt the attempt
 * counts as a breaker failure (the backend did not answer in time: with a hung sidecar and client
 * deadlines shorter than the attempt timeout this is the only evidence the breaker gets); a
 * caller's cancel does not count, except when it cancels the half-open probe, which then counts as
 * a failure so the breaker never closes on no evidence.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import CircuitBreaker from "opossum";
import { BackendUnavailableError, NotReadyError } from "../errors.js";

export type ErrorClass = "transient" | "permanent";

export interface RetryPolicy {
  /** Retries after the first attempt; default 3 (4 attempts in all). */
  readonly retries: number;
  /** Backoff of the first retry (the cap doubles from here); default 100 ms. */
  readonly baseDelayMs: number;
  /** Upper bound of any backoff; default 2000 ms. */
  readonly maxDelayMs: number;
}

export interface BreakerSettings {
  /** Attempts within the rolling window before the breaker may open at all; default 5. */
  readonly volumeThreshold: number;
  /** The breaker opens when MORE than this percentage of attempts failed; default 50. */
  readonly errorThresholdPercentage: number;
  /** How long the breaker stays open before one probe is let through; default 5000 ms. */
  readonly resetTimeoutMs: number;
  /** The statistical window (10 buckets); default 10000 ms. */
  readonly rollingCountTimeoutMs: number;
}

export type BreakerState = "closed" | "open" | "halfOpen";

export interface ResilienceOptions {
  /** Default {@link DEFAULT_RETRY_POLICY}. */
  retry?: Partial<RetryPolicy>;
  /** Default {@link DEFAULT_BREAKER_SETTINGS}. */
  breaker?: Partial<BreakerSettings>;
  /** Each attempt's own timeout; its signal aborts the Dapr call. Default 5000 ms. */
  attemptTimeoutMs?: number;
  /** Called when an operation's breaker opens, goes half-open (one probe allowed) or closes. */
  onStateChange?: (operation: string, state: BreakerState) => void;
  /** Called before each retry; `attempt` is the 1-based number of the attempt that just failed. */
  onRetry?: (operation: string, attempt: number, err: unknown) => void;
  /** Called when a call ends, with its whole duration (every attempt and backoff) and outcome. */
  onCallEnd?: (operation: string, durationMs: number, outcome: "ok" | "error") => void;
  /** Waits between attempts; must end early (it may reject) when `signal` aborts. Default: setTimeout. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Source of jitter in [0, 1); default Math.random. */
  random?: () => number;
}

export interface CallOptions {
  /** The caller's signal (Connect aborts it at the deadline or on cancel). */
  readonly signal?: AbortSignal;
  /** false for a conditional write whose outcome would be unknown after a failure: never retried once sent. */
  readonly retry: boolean;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({ retries: 3, baseDelayMs: 100, maxDelayMs: 2000 });

export const DEFAULT_BREAKER_SETTINGS: BreakerSettings = Object.freeze({
  volumeThreshold: 5,
  errorThresholdPercentage: 50,
  resetTimeoutMs: 5000,
  rollingCountTimeoutMs: 10_000,
});

export const DEFAULT_ATTEMPT_TIMEOUT_MS = 5000;

/** The start of the message of an error whose write may or may not have been applied. */
export const OUTCOME_UNKNOWN_PREFIX = "outcome unknown:";

/**
 * Backoff before retry number `attempt + 1` (attempt is 0-based: 0 is the wait after the first
 * failure), with "equal jitter": with cap = min(maxDelayMs, baseDelayMs * 2^attempt) the delay is
 * cap/2 + random * cap/2, so it lies in [cap/2, cap] (cap itself only if random returns 1).
 *
 * Equal rather than full jitter because the ranges of consecutive attempts do not overlap
 * ([50,100], [100,200], [200,400] ms with the defaults) until the cap is reached: every gap is at
 * least as long as the one before, yet concurrent callers are still spread out.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt));
  const r = Math.min(1, Math.max(0, random()));
  return cap / 2 + (r * cap) / 2;
}

/** Node error codes of a failed or broken connection (the sidecar, or the network to it). */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_SOCKET_CLOSED",
  "ERR_SOCKET_CONNECTION_TIMEOUT",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_INVALID_STREAM",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_STREAM_ERROR",
  "ERR_HTTP2_ERROR",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Node codes that prove the request never left this process (nothing was sent). */
const NEVER_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN"]);

/**
 * Messages of a connection, store or broker outage, in Node's words and in Go's (Dapr passes its
 * components' errors through, e.g. INTERNAL "ERR_STATE_GET ... dial tcp ...: connect: connection
 * refused", "... i/o timeout", "EOF").
 */
const OUTAGE_MESSAGE =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|socket hang up|connection (?:refused|reset|closed|aborted|lost)|broken pipe|i\/o timeout|\bEOF\b|dial tcp|no such host|network is unreachable|no route to host|timed? ?out|deadline exceeded|transport is closing|server closed|use of closed network connection|GOAWAY|REFUSED_STREAM|\bLOADING\b|\bTRYAGAIN\b|\bCLUSTERDOWN\b|\bMASTERDOWN\b|\bREADONLY\b|no servers available|nats: (?:connection closed|no responders|timeout)/i;

/** Messages that show an INTERNAL is the request's fault: retrying the same request cannot help. */
const REQUEST_PROBLEM_MESSAGE =
  /ERR_MALFORMED_REQUEST|ERR_PUBSUB_CLOUD_EVENTS_SER|ERR_PUBSUB_EVENTS_SER|maximum payload|payload (?:is )?too (?:large|big)|message (?:is )?too (?:large|big)|exceeds (?:the )?(?:max|limit)|max(?:imum)? (?:message|payload|request) size|malformed|(?:cannot|failed to|unable to) (?:un)?marshal|invalid (?:argument|request|key|etag|json|character|utf-?8|content[- ]type)|unsupported|not supported/i;

/** The errors of `err` and its causes (also AggregateError members), outermost first. */
function errorChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  const queue: unknown[] = [err];
  while (queue.length > 0 && chain.length < 32) {
    const e = queue.shift();
    if (e === undefined || e === null || chain.includes(e)) continue;
    chain.push(e);
    if (e instanceof AggregateError) queue.push(...e.errors);
    if (e instanceof Error && "cause" in e) queue.push(e.cause);
  }
  return chain;
}

function nodeCode(e: unknown): string | undefined {
  if (typeof e !== "object" || e === null || !("code" in e)) return undefined;
  const code = (e as { code: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

function messageOf(e: unknown): string {
  if (e instanceof ConnectError) return e.rawMessage;
  if (e instanceof Error) return e.message;
  return typeof e === "string" ? e : "";
}

/** True if `err` or one of its causes is a Node network error (by code, or "socket hang up"). */
function hasNetworkCause(err: unknown): boolean {
  return errorChain(err).some((e) => {
    const code = nodeCode(e);
    if (code !== undefined && NETWORK_CODES.has(code)) return true;
    return !(e instanceof ConnectError) && e instanceof Error && /socket hang up/i.test(e.message);
  });
}

function showsOutage(err: unknown): boolean {
  return hasNetworkCause(err) || errorChain(err).some((e) => OUTAGE_MESSAGE.test(messageOf(e)));
}

/**
 * Classifies an error from a Dapr call (a ConnectError from a Connect client, or a Node error)
 * on its own. It cannot tell whose deadline a DEADLINE_EXCEEDED was: as an error from the sidecar
 * it is one attempt's deadline (transient); `Resilience.call` looks at the caller's signal to
 * recognise the caller's own deadline, which is never retried.
 */
export function classifyDaprError(err: unknown): ErrorClass {
  if (err instanceof ConnectError) {
    switch (err.code) {
      case Code.Unavailable:
      case Code.DeadlineExceeded:
        return "transient";
      case Code.Internal:
        // Dapr reports a store or broker outage as INTERNAL: transient unless it is clearly the
        // request's fault (and an outage marker wins over that).
        if (showsOutage(err)) return "transient";
        return errorChain(err).some((e) => REQUEST_PROBLEM_MESSAGE.test(messageOf(e))) ? "permanent" : "transient";
      case Code.Unknown:
        return showsOutage(err) ? "transient" : "permanent";
      case Code.Aborted:
        // An ETag mismatch, unless connect-node made it from a broken connection (it maps
        // ECONNRESET, ERR_STREAM_DESTROYED and ERR_HTTP2_INVALID_STREAM to ABORTED).
        return hasNetworkCause(err) ? "transient" : "permanent";
      default:
        // InvalidArgument, NotFound, AlreadyExists, PermissionDenied, Unauthenticated,
        // FailedPrecondition, OutOfRange, Unimplemented, Canceled, ResourceExhausted (a limit,
        // retrying the same request cannot help), DataLoss.
        return "permanent";
    }
  }
  return hasNetworkCause(err) ? "transient" : "permanent";
}

/**
 * True if the error proves the request never left this process, so even a conditional write may
 * be sent again: ECONNREFUSED (or a failed DNS lookup) from our own client, an HTTP/2
 * REFUSED_STREAM (the server guarantees it did not process the stream), or an UNAVAILABLE whose
 * message says the connection was refused. An INTERNAL "connection refused" is NOT proof: it is
 * Dapr's store client failing to dial, possibly after an earlier try of the same write was sent.
 */
export function provesNotSent(err: unknown): boolean {
  if (err instanceof ConnectError && err.code !== Code.Unavailable) return false;
  if (errorChain(err).some((e) => NEVER_SENT_CODES.has(nodeCode(e) ?? ""))) return true;
  return err instanceof ConnectError && /ECONNREFUSED|connection refused|REFUSED_STREAM/i.test(err.rawMessage);
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Why an attempt failed, decided inside the breaker's action so the errorFilter can use it. */
type Verdict =
  | "permanent" // a caller's mistake or a limit: not retried, not counted
  | "transient" // retried if allowed, counted
  | "attemptTimeout" // our per-attempt timeout fired: transient, counted, outcome unknown
  | "callerDeadline" // the caller's deadline expired mid-attempt: not retried, counted
  | "callerCanceled"; // the caller went away mid-attempt: not retried, counted only as a probe

/** The breaker action's rejection: the original error plus the verdict. Never leaves this module. */
class AttemptFailure extends Error {
  override readonly name = "AttemptFailure";
  constructor(
    readonly error: unknown,
    readonly verdict: Verdict,
    /** Whether the breaker counts it as a failure (errorFilter passes the others). */
    readonly counted: boolean,
  ) {
    super("a Dapr call attempt failed");
  }
}

type Attempt = () => Promise<unknown>;

function isOpossumError(err: unknown, code: "EOPENBREAKER" | "ESHUTDOWN"): boolean {
  return err instanceof Error && !(err instanceof AttemptFailure) && nodeCode(err) === code && CircuitBreaker.isOurError(err);
}

/** The caller's deadline, as Connect (a ConnectError DEADLINE_EXCEEDED) or AbortSignal.timeout() give it. */
function isDeadlineReason(reason: unknown): boolean {
  if (reason instanceof ConnectError) return reason.code === Code.DeadlineExceeded;
  return reason instanceof Error && reason.name === "TimeoutError";
}

function callerAbortError(operation: string, signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  return isDeadlineReason(reason)
    ? new ConnectError(`${operation}: the deadline expired`, Code.DeadlineExceeded, undefined, undefined, reason)
    : new ConnectError(`${operation}: the call was cancelled`, Code.Canceled, undefined, undefined, reason);
}

function positive(name: string, value: number, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(`resilience: ${name} must be a ${allowZero ? "non-negative" : "positive"} finite number, got ${value}`);
  }
  return value;
}

export class Resilience {
  private readonly policy: RetryPolicy;
  private readonly settings: BreakerSettings;
  private readonly attemptTimeoutMs: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly breakers = new Map<string, CircuitBreaker<[Attempt], unknown>>();
  /** Aborted by shutdown(): ends backoff sleeps so no retry loop outlives the adapter. */
  private readonly stopping = new AbortController();

  constructor(private readonly options: ResilienceOptions = {}) {
    const policy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    if (!Number.isInteger(policy.retries) || policy.retries < 0) {
      throw new RangeError(`resilience: retries must be a non-negative integer, got ${policy.retries}`);
    }
    positive("baseDelayMs", policy.baseDelayMs, true);
    positive("maxDelayMs", policy.maxDelayMs, true);
    this.policy = policy;

    const settings = { ...DEFAULT_BREAKER_SETTINGS, ...options.breaker };
    if (!Number.isInteger(settings.volumeThreshold) || settings.volumeThreshold < 0) {
      throw new RangeError(`resilience: volumeThreshold must be a non-negative integer, got ${settings.volumeThreshold}`);
    }
    if (!(settings.errorThresholdPercentage >= 0 && settings.errorThresholdPercentage <= 100)) {
      throw new RangeError(`resilience: errorThresholdPercentage must be within [0, 100], got ${settings.errorThresholdPercentage}`);
    }
    positive("resetTimeoutMs", settings.resetTimeoutMs);
    positive("rollingCountTimeoutMs", settings.rollingCountTimeoutMs);
    this.settings = settings;

    this.attemptTimeoutMs = positive("attemptTimeoutMs", options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS);
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
  }

  /**
   * Runs fn through the operation's breaker with retries. fn gets an AbortSignal that fires on the
   * caller's signal OR the per-attempt timeout, and must pass it to the Dapr call.
   *
   * Rejects with: the permanent error as it is; a ConnectError DEADLINE_EXCEEDED or CANCELED when
   * the caller's signal aborted; BackendUnavailableError when the breaker is open; a ConnectError
   * UNAVAILABLE "outcome unknown: ..." when a `retry: false` call failed after it may have been
   * applied; a ConnectError UNAVAILABLE (cause: the last error) when the retries ran out; a
   * NotReadyError after shutdown().
   */
  async call<T>(operation: string, fn: (signal: AbortSignal) => Promise<T>, options: CallOptions): Promise<T> {
    const onCallEnd = this.options.onCallEnd;
    if (onCallEnd === undefined) return this.callWithRetries(operation, fn, options);
    const started = performance.now();
    let outcome: "ok" | "error" = "error";
    try {
      const result = await this.callWithRetries(operation, fn, options);
      outcome = "ok";
      return result;
    } finally {
      this.notify(() => onCallEnd(operation, performance.now() - started, outcome));
    }
  }

  private async callWithRetries<T>(operation: string, fn: (signal: AbortSignal) => Promise<T>, options: CallOptions): Promise<T> {
    const caller = options.signal;
    let lastError: unknown;
    for (let attempt = 1; ; attempt++) {
      // Nothing starts after the caller gave up or the layer shut down.
      if (caller?.aborted) throw callerAbortError(operation, caller);
      if (this.stopping.signal.aborted) throw this.notReady(operation, lastError);
      const breaker = this.breaker(operation);
      if (rejects(breaker)) throw this.circuitOpen(operation, lastError);

      let failure: AttemptFailure;
      try {
        const probe = breaker.halfOpen;
        return (await breaker.fire(() => this.attempt(fn, caller, probe))) as T;
      } catch (err) {
        if (isOpossumError(err, "EOPENBREAKER")) throw this.circuitOpen(operation, lastError);
        if (isOpossumError(err, "ESHUTDOWN")) throw this.notReady(operation, lastError);
        if (!(err instanceof AttemptFailure)) throw err;
        failure = err;
      }
      lastError = failure.error;

      switch (failure.verdict) {
        case "permanent":
          throw failure.error;
        case "callerDeadline":
        case "callerCanceled":
          throw callerAbortError(operation, caller ?? AbortSignal.abort());
        case "transient":
        case "attemptTimeout":
          break;
      }
      const mayResend = options.retry || (failure.verdict === "transient" && provesNotSent(failure.error));
      if (!mayResend) {
        throw new ConnectError(
          `${OUTCOME_UNKNOWN_PREFIX} ${operation} failed after the request was sent; it may or may not have been applied`,
          Code.Unavailable,
          undefined,
          undefined,
          failure.error,
        );
      }
      if (attempt > this.policy.retries) {
        throw new ConnectError(
          `${operation}: the Dapr sidecar is unavailable (${attempt} attempt${attempt === 1 ? "" : "s"} failed)`,
          Code.Unavailable,
          undefined,
          undefined,
          failure.error,
        );
      }
      // The failure may just have opened the breaker: fail fast rather than sleep.
      if (rejects(breaker)) throw this.circuitOpen(operation, lastError);
      this.notify(() => this.options.onRetry?.(operation, attempt, failure.error));
      await this.backoff(backoffDelay(attempt - 1, this.policy, this.random), caller);
    }
  }

  /** The state of each operation's breaker that has been used so far. */
  states(): Record<string, BreakerState> {
    const out: Record<string, BreakerState> = {};
    for (const [operation, breaker] of this.breakers) out[operation] = stateOf(breaker);
    return out;
  }

  /**
   * Shuts every breaker down (clearing their timers) and ends every backoff sleep; calls made
   * afterwards, and retries still pending, reject with NotReadyError. Attempts in flight run to
   * their end (each is bounded by the attempt timeout). Idempotent.
   */
  shutdown(): void {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort(new NotReadyError("the Dapr resilience layer is shut down"));
    for (const breaker of this.breakers.values()) breaker.shutdown();
    this.breakers.clear();
  }

  /** The operation's breaker, created on first use. */
  private breaker(operation: string): CircuitBreaker<[Attempt], unknown> {
    let breaker = this.breakers.get(operation);
    if (breaker !== undefined) return breaker;
    const s = this.settings;
    breaker = new CircuitBreaker<[Attempt], unknown>((run: Attempt) => run(), {
      name: operation,
      // opossum's own timeout does not cancel the call; attempt() has a real one.
      timeout: false,
      volumeThreshold: s.volumeThreshold,
      errorThresholdPercentage: s.errorThresholdPercentage,
      resetTimeout: s.resetTimeoutMs,
      rollingCountTimeout: s.rollingCountTimeoutMs,
      // Filtered errors count as successes in opossum: the caller's mistakes must not trip it.
      errorFilter: (err: unknown) => err instanceof AttemptFailure && !err.counted,
      allowWarmUp: false,
    });
    // No fallback: a fallback turns an open breaker into a success.
    const onStateChange = this.options.onStateChange;
    if (onStateChange !== undefined) {
      breaker.on("open", () => this.notify(() => onStateChange(operation, "open")));
      breaker.on("halfOpen", () => this.notify(() => onStateChange(operation, "halfOpen")));
      breaker.on("close", () => this.notify(() => onStateChange(operation, "closed")));
    }
    this.breakers.set(operation, breaker);
    return breaker;
  }

  /**
   * One attempt: fn with a signal linked to the caller's and to the attempt timeout. The attempt
   * settles as soon as that signal aborts, even if fn ignores it. Failures are judged here, where
   * it is known which signal fired, and thrown as an AttemptFailure for the breaker to filter.
   */
  private attempt<T>(fn: (signal: AbortSignal) => Promise<T>, caller: AbortSignal | undefined, probe: boolean): Promise<T> {
    const controller = new AbortController();
    let abortedBy: "timeout" | "caller" | undefined;
    return new Promise<T>((resolve, reject) => {
      const fail = (err: unknown): void => {
        clearTimeout(timer);
        caller?.removeEventListener("abort", onCallerAbort);
        reject(judge(err, abortedBy, caller, probe));
      };
      // Only these two abort the controller, so each settles the attempt itself, before fn's own
      // abort handling runs (no listener on the attempt's signal: one fewer per call).
      const abort = (by: "timeout" | "caller", reason: unknown): void => {
        if (abortedBy !== undefined) return;
        abortedBy = by;
        fail(reason);
        controller.abort(reason);
      };
      const timer = setTimeout(() => abort("timeout", new ConnectError(`the attempt timed out after ${this.attemptTimeoutMs}ms`, Code.DeadlineExceeded)), this.attemptTimeoutMs);
      const onCallerAbort = (): void => abort("caller", caller?.reason);
      if (caller?.aborted) return onCallerAbort();
      caller?.addEventListener("abort", onCallerAbort, { once: true });
      let running: Promise<T>;
      try {
        running = fn(controller.signal);
      } catch (err) {
        return fail(err);
      }
      running.then(
        (value) => {
          if (abortedBy !== undefined) return;
          clearTimeout(timer);
          caller?.removeEventListener("abort", onCallerAbort);
          resolve(value);
        },
        (err: unknown) => {
          if (abortedBy === undefined) fail(err);
        },
      );
    });
  }

  private async backoff(ms: number, caller: AbortSignal | undefined): Promise<void> {
    const linked = new AbortController();
    const signals = [caller, this.stopping.signal].filter((s): s is AbortSignal => s !== undefined);
    const onAbort = (): void => linked.abort();
    for (const s of signals) {
      if (s.aborted) return;
      s.addEventListener("abort", onAbort, { once: true });
    }
    try {
      await this.sleep(ms, linked.signal);
    } catch {
      // An aborted sleep: the loop's checks say why.
    } finally {
      for (const s of signals) s.removeEventListener("abort", onAbort);
    }
  }

  private circuitOpen(operation: string, lastError: unknown): BackendUnavailableError {
    return new BackendUnavailableError(`circuit open for ${operation}; retry later`, lastError === undefined ? undefined : { cause: lastError });
  }

  private notReady(operation: string, lastError: unknown): NotReadyError {
    return new NotReadyError(`${operation}: the Dapr adapter is shut down`, lastError === undefined ? undefined : { cause: lastError });
  }

  /** Runs an observer; an observer's exception must never change a call's outcome. */
  private notify(f: () => void): void {
    try {
      f();
    } catch {
      // ignored on purpose
    }
  }
}

function judge(err: unknown, abortedBy: "timeout" | "caller" | undefined, caller: AbortSignal | undefined, probe: boolean): AttemptFailure {
  if (abortedBy === "timeout") return new AttemptFailure(err, "attemptTimeout", true);
  if (abortedBy === "caller" || caller?.aborted) {
    // The backend did not answer within the caller's deadline: evidence against it. A cancel is
    // not, unless it cancelled the half-open probe (a probe must not close the breaker unanswered).
    return isDeadlineReason(caller?.reason) ? new AttemptFailure(err, "callerDeadline", true) : new AttemptFailure(err, "callerCanceled", probe);
  }
  const verdict = classifyDaprError(err);
  return new AttemptFailure(err, verdict, verdict === "transient");
}

/**
 * Whether the breaker turns a call away. Checked before fire() because opossum 9 counts a
 * rejected fire() in its `fires` statistic: hundreds of rejections while open would dilute the
 * error percentage so much that, once closed again, the breaker could not reopen until the rolling
 * window has forgotten them. Half-open with the probe already taken rejects too.
 */
function rejects(breaker: CircuitBreaker<[Attempt], unknown>): boolean {
  return breaker.opened || (breaker.halfOpen && !breaker.pendingClose);
}

function stateOf(breaker: CircuitBreaker<[Attempt], unknown>): BreakerState {
  if (breaker.opened) return "open";
  if (breaker.halfOpen) return "halfOpen";
  return "closed";
}
