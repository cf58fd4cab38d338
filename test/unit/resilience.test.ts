import { afterEach, beforeEach, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";
import * as FakeTimers from "@sinonjs/fake-timers";
import fc from "fast-check";
import {
  DEFAULT_RETRY_POLICY,
  OUTCOME_UNKNOWN_PREFIX,
  Resilience,
  backoffDelay,
  classifyDaprError,
  provesNotSent,
  type BreakerState,
  type ResilienceOptions,
} from "../../src/dapr/resilience.js";
import { BackendUnavailableError, NotReadyError, toConnectError } from "../../src/errors.js";

// ---------------------------------------------------------------------------------------------
// Helpers

/** fake-timers 15 ships its own typings, which do not name the installed clock's type. */
type Clock = ReturnType<typeof FakeTimers.install>;

type NodeError = Error & { code: string };

function nodeError(code: string, message = `connect ${code} 127.0.0.1:50001`): NodeError {
  return Object.assign(new Error(message), { code });
}

/** A ConnectError the way connect-node builds one from a Node error (code chosen by it, cause kept). */
function fromNode(code: Code, cause: Error): ConnectError {
  return new ConnectError(cause.message, code, undefined, undefined, cause);
}

const unavailable = (): ConnectError => new ConnectError("upstream connect error", Code.Unavailable);
const stateGetOutage = (): ConnectError =>
  new ConnectError("fail to get k1 from state store statestore: ERR_STATE_GET dial tcp 127.0.0.1:6379: connect: connection refused", Code.Internal);

/** fn that fails with the scripted errors in order, then returns "ok"; counts calls and keeps each signal. */
function scripted(...failures: unknown[]) {
  const signals: AbortSignal[] = [];
  const fn = async (signal: AbortSignal): Promise<string> => {
    signals.push(signal);
    const next = failures[signals.length - 1];
    if (next !== undefined) throw next;
    return "ok";
  };
  return { fn, signals, get calls() { return signals.length; } };
}

/** fn that always fails with a fresh error from make(). */
function failing(make: () => unknown) {
  let calls = 0;
  const fn = async (_signal: AbortSignal): Promise<string> => {
    calls++;
    throw make();
  };
  return { fn, get calls() { return calls; } };
}

/** fn whose attempts never settle by themselves; keeps each signal. */
function hanging() {
  const signals: AbortSignal[] = [];
  const fn = (signal: AbortSignal): Promise<string> => {
    signals.push(signal);
    return new Promise<string>(() => {});
  };
  return { fn, signals, get calls() { return signals.length; } };
}

/** fn whose attempts settle when the test says so. */
function controlled() {
  const pending: Array<{ resolve: (v: string) => void; reject: (e: unknown) => void; signal: AbortSignal }> = [];
  const fn = (signal: AbortSignal): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      pending.push({ resolve, reject, signal });
    });
  return { fn, pending, get calls() { return pending.length; } };
}

/** An instant sleep that records the delays it was asked for (and honours an aborted signal). */
function recordingSleep() {
  const delays: number[] = [];
  const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => {
    delays.push(ms);
    if (signal?.aborted) throw signal.reason;
  };
  return { sleep, delays };
}

function recorder() {
  const changes: Array<[string, BreakerState]> = [];
  const retries: Array<[string, number, unknown]> = [];
  return {
    changes,
    retries,
    onStateChange: (op: string, state: BreakerState) => changes.push([op, state]),
    onRetry: (op: string, attempt: number, err: unknown) => retries.push([op, attempt, err]),
  };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail("expected the call to reject");
}

const OP = "dapr.saveState";
const deadline = (): ConnectError => new ConnectError("the operation timed out", Code.DeadlineExceeded);

// ---------------------------------------------------------------------------------------------

describe("backoffDelay (equal jitter)", () => {
  const policy = DEFAULT_RETRY_POLICY;

  it("lies in [cap/2, cap] with cap = min(max, base * 2^n)", () => {
    const expected: Array<[number, number]> = [
      [50, 100],
      [100, 200],
      [200, 400],
      [400, 800],
      [800, 1600],
      [1000, 2000],
      [1000, 2000],
    ];
    expected.forEach(([low, high], n) => {
      assert.equal(backoffDelay(n, policy, () => 0), low, `lower bound of attempt ${n}`);
      assert.equal(backoffDelay(n, policy, () => 1), high, `upper bound of attempt ${n}`);
    });
    assert.equal(backoffDelay(40, policy, () => 1), 2000, "2^40 is capped");
  });

  it("never leaves the bounds and the ranges of consecutive attempts never overlap (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 0, max: 100_000 }),
        (n, r1, r2, base, extra) => {
          const p = { retries: 3, baseDelayMs: base, maxDelayMs: base + extra };
          const cap = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** n);
          const d = backoffDelay(n, p, () => r1);
          assert.ok(d >= cap / 2 && d <= cap, `${d} within [${cap / 2}, ${cap}]`);
          // Until the cap is reached, any delay of attempt n+1 is at least any delay of attempt n.
          if (p.baseDelayMs * 2 ** (n + 1) <= p.maxDelayMs) assert.ok(backoffDelay(n + 1, p, () => r2) >= d);
        },
      ),
    );
  });

  it("clamps a random source that strays outside [0, 1]", () => {
    assert.equal(backoffDelay(0, policy, () => -3), 50);
    assert.equal(backoffDelay(0, policy, () => 7), 100);
  });
});

describe("classifyDaprError", () => {
  const transient: Array<[string, unknown]> = [
    ["UNAVAILABLE", unavailable()],
    ["DEADLINE_EXCEEDED from the sidecar", new ConnectError("context deadline exceeded", Code.DeadlineExceeded)],
    ["INTERNAL ERR_STATE_GET connection refused", stateGetOutage()],
    ["INTERNAL ERR_STATE_SAVE i/o timeout", new ConnectError("ERR_STATE_SAVE: read tcp 127.0.0.1:51234->127.0.0.1:6379: i/o timeout", Code.Internal)],
    ["INTERNAL EOF", new ConnectError("failed saving state in state store statestore: EOF", Code.Internal)],
    ["INTERNAL ERR_PUBSUB_PUBLISH_MESSAGE", new ConnectError("error when publish to topic t in pubsub p: ERR_PUBSUB_PUBLISH_MESSAGE", Code.Internal)],
    ["INTERNAL of unknown cause", new ConnectError("something broke", Code.Internal)],
    ["INTERNAL from an HTTP/2 reset (connect-node)", new ConnectError("http/2 stream closed with error code INTERNAL_ERROR (0x2)", Code.Internal)],
    ["UNKNOWN with a network cause", fromNode(Code.Unknown, nodeError("EPIPE", "write EPIPE"))],
    ["ABORTED made by connect-node from ECONNRESET", fromNode(Code.Aborted, nodeError("ECONNRESET", "read ECONNRESET"))],
    ["ECONNREFUSED", nodeError("ECONNREFUSED")],
    ["ECONNRESET", nodeError("ECONNRESET", "read ECONNRESET")],
    ["EPIPE", nodeError("EPIPE", "write EPIPE")],
    ["ETIMEDOUT", nodeError("ETIMEDOUT", "connect ETIMEDOUT")],
    ["socket hang up", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })],
    ["socket hang up (no code)", new Error("socket hang up")],
    ["ECONNREFUSED inside an AggregateError (dual-stack connect)", new AggregateError([nodeError("ECONNREFUSED"), nodeError("ECONNREFUSED")], "connect failed")],
    ["wrapped network error", new Error("request failed", { cause: nodeError("ECONNRESET") })],
  ];
  for (const [name, err] of transient) {
    it(`transient: ${name}`, () => assert.equal(classifyDaprError(err), "transient"));
  }

  const permanentCodes = [
    Code.Aborted,
    Code.InvalidArgument,
    Code.NotFound,
    Code.AlreadyExists,
    Code.PermissionDenied,
    Code.Unauthenticated,
    Code.FailedPrecondition,
    Code.OutOfRange,
    Code.Unimplemented,
    Code.Canceled,
    Code.ResourceExhausted,
  ];
  for (const code of permanentCodes) {
    it(`permanent: ${Code[code]}`, () => assert.equal(classifyDaprError(new ConnectError("no", code)), "permanent"));
  }

  const permanent: Array<[string, unknown]> = [
    ["ABORTED etag mismatch from Dapr", new ConnectError("failed saving state in state store statestore: possible etag mismatch", Code.Aborted)],
    ["INTERNAL over the broker's payload limit", new ConnectError("ERR_PUBSUB_PUBLISH_MESSAGE: nats: maximum payload exceeded", Code.Internal)],
    ["INTERNAL cloudevent serialisation", new ConnectError("ERR_PUBSUB_CLOUD_EVENTS_SER: error when marshalling cloud event envelope", Code.Internal)],
    ["UNKNOWN without a network cause", new ConnectError("huh", Code.Unknown)],
    ["a plain Error", new TypeError("cannot read properties of undefined")],
    ["a string", "boom"],
    ["undefined", undefined],
  ];
  for (const [name, err] of permanent) {
    it(`permanent: ${name}`, () => assert.equal(classifyDaprError(err), "permanent"));
  }
});

describe("provesNotSent", () => {
  it("is true only for proof that nothing was sent", () => {
    assert.equal(provesNotSent(nodeError("ECONNREFUSED")), true);
    assert.equal(provesNotSent(fromNode(Code.Unavailable, nodeError("ECONNREFUSED"))), true);
    assert.equal(provesNotSent(new ConnectError("connect ECONNREFUSED 127.0.0.1:50001", Code.Unavailable)), true);
    assert.equal(provesNotSent(new ConnectError("dial tcp 127.0.0.1:50001: connect: connection refused", Code.Unavailable)), true);
    assert.equal(provesNotSent(new ConnectError("http/2 stream closed with error code REFUSED_STREAM (0x7)", Code.Unavailable)), true);

    assert.equal(provesNotSent(unavailable()), false);
    assert.equal(provesNotSent(fromNode(Code.Unavailable, nodeError("ETIMEDOUT", "connect ETIMEDOUT"))), false);
    assert.equal(provesNotSent(fromNode(Code.Aborted, nodeError("ECONNRESET"))), false);
    assert.equal(provesNotSent(nodeError("ECONNRESET")), false);
    // Dapr's store client failed to dial Redis: maybe after an earlier try of the same write went out.
    assert.equal(provesNotSent(stateGetOutage()), false);
  });
});

// ---------------------------------------------------------------------------------------------

describe("Resilience: retries", () => {
  it("transient ×2 then OK: OK after exactly 3 attempts, with growing backoff bounds", async () => {
    for (const [r, expected] of [
      [0, [50, 100]],
      [0.999999, [99.99995, 199.9999]],
    ] as const) {
      const { sleep, delays } = recordingSleep();
      const rec = recorder();
      const res = new Resilience({ sleep, random: () => r, onRetry: rec.onRetry });
      const f = scripted(unavailable(), unavailable());
      assert.equal(await res.call("dapr.publishEvent", f.fn, { retry: true }), "ok");
      assert.equal(f.calls, 3);
      assert.equal(delays.length, 2);
      delays.forEach((d, i) => assert.ok(Math.abs(d - (expected[i] ?? NaN)) < 1e-6, `delay ${i}: ${d}`));
      assert.deepEqual(
        rec.retries.map(([op, n]) => [op, n]),
        [
          ["dapr.publishEvent", 1],
          ["dapr.publishEvent", 2],
        ],
      );
      assert.deepEqual(res.states(), { "dapr.publishEvent": "closed" });
      res.shutdown();
    }
  });

  it("transient forever: 4 attempts, then UNAVAILABLE naming the operation, with the last error as cause", async () => {
    const { sleep, delays } = recordingSleep();
    const errors: ConnectError[] = [];
    const f = failing(() => {
      const e = unavailable();
      errors.push(e);
      return e;
    });
    const res = new Resilience({ sleep, random: () => 0 });
    const err = await rejection(res.call(OP, f.fn, { retry: true }));
    assert.equal(f.calls, 4);
    assert.deepEqual(delays, [50, 100, 200]);
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.rawMessage, /dapr\.saveState.*4 attempts/);
    assert.equal(err.cause, errors[3]);
    res.shutdown();
  });

  it("honours a custom retry count", async () => {
    const { sleep } = recordingSleep();
    const f = failing(unavailable);
    const res = new Resilience({ sleep, retry: { retries: 1 } });
    await rejection(res.call(OP, f.fn, { retry: true }));
    assert.equal(f.calls, 2);
    const g = failing(unavailable);
    const none = new Resilience({ sleep, retry: { retries: 0 } });
    await rejection(none.call(OP, g.fn, { retry: true }));
    assert.equal(g.calls, 1);
    res.shutdown();
    none.shutdown();
  });

  it("INTERNAL \"ERR_STATE_GET ... connection refused\" ×2 then OK: OK after 3 attempts", async () => {
    const { sleep } = recordingSleep();
    const res = new Resilience({ sleep });
    const f = scripted(stateGetOutage(), stateGetOutage());
    assert.equal(await res.call("dapr.getState", f.fn, { retry: true }), "ok");
    assert.equal(f.calls, 3);
    res.shutdown();
  });

  it("Node network errors (also thrown synchronously by fn) are retried", async () => {
    const { sleep } = recordingSleep();
    const res = new Resilience({ sleep });
    let calls = 0;
    const value = await res.call(
      OP,
      (_signal) => {
        calls++;
        if (calls === 1) throw nodeError("ECONNRESET", "socket hang up");
        if (calls === 2) return Promise.reject(nodeError("EPIPE", "write EPIPE"));
        return Promise.resolve(42);
      },
      { retry: true },
    );
    assert.equal(value, 42);
    assert.equal(calls, 3);
    res.shutdown();
  });

  const permanentCodes = [
    Code.Aborted,
    Code.InvalidArgument,
    Code.NotFound,
    Code.AlreadyExists,
    Code.PermissionDenied,
    Code.Unauthenticated,
    Code.FailedPrecondition,
    Code.OutOfRange,
    Code.Unimplemented,
    Code.Canceled,
    Code.ResourceExhausted,
  ];
  for (const code of permanentCodes) {
    it(`${Code[code]}: exactly 1 attempt, passed through, and the breaker stays closed after 200 of them`, async () => {
      const { sleep, delays } = recordingSleep();
      const rec = recorder();
      const res = new Resilience({ sleep, ...rec });
      let calls = 0;
      for (let i = 0; i < 200; i++) {
        const thrown = new ConnectError(`refused ${i}`, code);
        const before = calls;
        const err = await rejection(
          res.call(
            OP,
            async () => {
              calls++;
              throw thrown;
            },
            { retry: true },
          ),
        );
        assert.equal(err, thrown, "the very same error");
        assert.equal(calls - before, 1);
      }
      assert.equal(calls, 200);
      assert.deepEqual(delays, []);
      assert.deepEqual(rec.retries, []);
      assert.deepEqual(rec.changes, []);
      assert.deepEqual(res.states(), { [OP]: "closed" });
      res.shutdown();
    });
  }

  it("an error that is neither a ConnectError nor a network error is rethrown as is, once, without tripping the breaker", async () => {
    const { sleep } = recordingSleep();
    const rec = recorder();
    const res = new Resilience({ sleep, ...rec });
    let calls = 0;
    for (let i = 0; i < 200; i++) {
      const thrown = new TypeError(`bug ${i}`);
      const err = await rejection(
        res.call(
          OP,
          async () => {
            calls++;
            throw thrown;
          },
          { retry: true },
        ),
      );
      assert.equal(err, thrown);
    }
    assert.equal(calls, 200);
    assert.deepEqual(rec.changes, []);
    assert.deepEqual(res.states(), { [OP]: "closed" });
    res.shutdown();
  });

  it("an INTERNAL that is the request's fault (over the broker's payload limit) is not retried", async () => {
    const { sleep } = recordingSleep();
    const res = new Resilience({ sleep });
    const tooBig = new ConnectError("ERR_PUBSUB_PUBLISH_MESSAGE: nats: maximum payload exceeded", Code.Internal);
    const f = scripted(tooBig);
    assert.equal(await rejection(res.call("dapr.publishEvent", f.fn, { retry: true })), tooBig);
    assert.equal(f.calls, 1);
    res.shutdown();
  });

  it("an observer that throws does not change the outcome", async () => {
    const { sleep } = recordingSleep();
    const res = new Resilience({
      sleep,
      retry: { retries: 1 },
      breaker: { volumeThreshold: 1 },
      onRetry: () => {
        throw new Error("observer bug");
      },
      onStateChange: () => {
        throw new Error("observer bug");
      },
    });
    const f = scripted(unavailable());
    // First attempt fails and opens the breaker (threshold 1): the call fails fast, not with the observer's error.
    const err = await rejection(res.call(OP, f.fn, { retry: true }));
    assert.ok(err instanceof BackendUnavailableError);
    res.shutdown();
  });

  it("onCallEnd times each whole call once (retries and backoff included) with its outcome", async () => {
    const ended: Array<[string, number, string]> = [];
    // The sleep takes real time, so the call's duration must cover it.
    const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.min(ms, 20)));
    const res = new Resilience({ sleep, random: () => 0, onCallEnd: (op, ms, outcome) => ended.push([op, ms, outcome]) });
    assert.equal(await res.call("dapr.getState", scripted(unavailable()).fn, { retry: true }), "ok");
    await rejection(res.call("dapr.saveState", scripted(new ConnectError("etag mismatch", Code.Aborted)).fn, { retry: true }));
    assert.deepEqual(
      ended.map(([op, , outcome]) => [op, outcome]),
      [
        ["dapr.getState", "ok"],
        ["dapr.saveState", "error"],
      ],
    );
    assert.ok((ended[0]?.[1] ?? 0) >= 19, `the retried call's duration includes its backoff: ${ended[0]?.[1]} ms`);
    res.shutdown();
  });
});

describe("Resilience: conditional writes (retry: false)", () => {
  let clock: Clock;
  beforeEach(() => {
    clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  });
  afterEach(() => clock.uninstall());

  it("UNAVAILABLE from a timeout: 1 attempt, then UNAVAILABLE \"outcome unknown\"", async () => {
    const res = new Resilience({ random: () => 0 });
    const timedOut = fromNode(Code.Unavailable, nodeError("ETIMEDOUT", "connect ETIMEDOUT 127.0.0.1:50001"));
    const f = scripted(timedOut);
    const err = await rejection(res.call(OP, f.fn, { retry: false }));
    assert.equal(f.calls, 1);
    assert.ok(err instanceof ConnectError);
    assert.equal(err.code, Code.Unavailable);
    assert.ok(err.rawMessage.startsWith(OUTCOME_UNKNOWN_PREFIX), err.rawMessage);
    assert.equal(err.cause, timedOut);
    res.shutdown();
  });

  it("the per-attempt timeout: 1 attempt (aborted), then \"outcome unknown\"", async () => {
    const res = new Resilience({ attemptTimeoutMs: 1000 });
    const f = hanging();
    const p = rejection(res.call(OP, f.fn, { retry: false }));
    await clock.tickAsync(999);
    assert.equal(f.signals[0]?.aborted, false);
    await clock.tickAsync(1);
    const err = await p;
    assert.equal(f.calls, 1);
    assert.equal(f.signals[0]?.aborted, true);
    assert.equal(ConnectError.from(err).code, Code.Unavailable);
    assert.ok(ConnectError.from(err).rawMessage.startsWith(OUTCOME_UNKNOWN_PREFIX));
    await clock.tickAsync(60_000);
    assert.equal(f.calls, 1, "never retried");
    res.shutdown();
  });

  it("a connection reset after sending (connect-node reports it as ABORTED): \"outcome unknown\", not an ETag mismatch", async () => {
    const res = new Resilience();
    const f = scripted(fromNode(Code.Aborted, nodeError("ECONNRESET", "read ECONNRESET")));
    const err = ConnectError.from(await rejection(res.call(OP, f.fn, { retry: false })));
    assert.equal(f.calls, 1);
    assert.equal(err.code, Code.Unavailable);
    assert.ok(err.rawMessage.startsWith(OUTCOME_UNKNOWN_PREFIX));
    res.shutdown();
  });

  it("a store outage reported by Dapr mentioning \"connection refused\" is no proof: \"outcome unknown\"", async () => {
    const res = new Resilience();
    const f = scripted(new ConnectError("ERR_STATE_SAVE: dial tcp 127.0.0.1:6379: connect: connection refused", Code.Internal));
    const err = ConnectError.from(await rejection(res.call(OP, f.fn, { retry: false })));
    assert.equal(f.calls, 1);
    assert.ok(err.rawMessage.startsWith(OUTCOME_UNKNOWN_PREFIX));
    res.shutdown();
  });

  it("ECONNREFUSED (the request never left) is retried", async () => {
    const res = new Resilience({ random: () => 0 });
    const f = scripted(nodeError("ECONNREFUSED"), fromNode(Code.Unavailable, nodeError("ECONNREFUSED")));
    const p = res.call(OP, f.fn, { retry: false });
    await clock.tickAsync(1000);
    assert.equal(await p, "ok");
    assert.equal(f.calls, 3);
    res.shutdown();
  });

  it("ECONNREFUSED forever: 4 attempts, then plain UNAVAILABLE (nothing was sent, so the outcome is known)", async () => {
    const res = new Resilience({ random: () => 0 });
    const f = failing(() => fromNode(Code.Unavailable, nodeError("ECONNREFUSED")));
    const p = rejection(res.call(OP, f.fn, { retry: false }));
    await clock.tickAsync(10_000);
    const err = ConnectError.from(await p);
    assert.equal(f.calls, 4);
    assert.equal(err.code, Code.Unavailable);
    assert.ok(!err.rawMessage.startsWith(OUTCOME_UNKNOWN_PREFIX));
    res.shutdown();
  });

  it("refused first, then a timeout: the timeout makes the outcome unknown", async () => {
    const res = new Resilience({ random: () => 0 });
    const f = scripted(nodeError("ECONNREFUSED"), fromNode(Code.Unavailable, nodeError("ETIMEDOUT", "connect ETIMEDOUT")));
    const p = rejection(res.call(OP, f.fn, { retry: false }));
    await clock.tickAsync(1000);
    const err = ConnectError.from(await p);
    assert.equal(f.calls, 2);
    assert.ok(err.rawMessage.startsWith(OUTCOME_UNKNOWN_PREFIX));
    res.shutdown();
  });

  it("an ETag mismatch (ABORTED) passes through after 1 attempt", async () => {
    const res = new Resilience();
    const mismatch = new ConnectError("possible etag mismatch", Code.Aborted);
    const f = scripted(mismatch);
    assert.equal(await rejection(res.call(OP, f.fn, { retry: false })), mismatch);
    assert.equal(f.calls, 1);
    res.shutdown();
  });
});

describe("Resilience: the caller's signal and the attempt timeout", () => {
  let clock: Clock;
  beforeEach(() => {
    clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  });
  afterEach(() => clock.uninstall());

  it("the per-attempt timeout aborts fn's signal (a DEADLINE_EXCEEDED reason) and the attempt is retried", async () => {
    const res = new Resilience({ attemptTimeoutMs: 300, random: () => 0 });
    const f = hanging();
    const p = rejection(res.call(OP, f.fn, { retry: true }));
    await clock.tickAsync(299);
    assert.equal(f.calls, 1);
    assert.equal(f.signals[0]?.aborted, false);
    await clock.tickAsync(1);
    assert.equal(f.signals[0]?.aborted, true);
    assert.equal(ConnectError.from(f.signals[0]?.reason).code, Code.DeadlineExceeded);
    await clock.tickAsync(10_000);
    const err = ConnectError.from(await p);
    assert.equal(f.calls, 4);
    assert.ok(f.signals.every((s) => s.aborted));
    assert.equal(err.code, Code.Unavailable);
    res.shutdown();
  });

  it("an attempt that answers in time clears its timer", async () => {
    const res = new Resilience({ attemptTimeoutMs: 300 });
    const f = scripted();
    assert.equal(await res.call(OP, f.fn, { retry: true }), "ok");
    await clock.tickAsync(1000);
    assert.equal(f.signals[0]?.aborted, false);
    res.shutdown();
  });

  it("a signal aborted before the call: no attempt; DEADLINE_EXCEEDED for a deadline, CANCELED otherwise", async () => {
    const res = new Resilience();
    const f = scripted();
    const cases: Array<[unknown, Code]> = [
      [deadline(), Code.DeadlineExceeded],
      [new DOMException("timed out", "TimeoutError"), Code.DeadlineExceeded],
      [undefined, Code.Canceled],
      [new ConnectError("client cancelled", Code.Canceled), Code.Canceled],
    ];
    for (const [reason, code] of cases) {
      const ac = new AbortController();
      ac.abort(reason);
      const err = await rejection(res.call(OP, f.fn, { retry: true, signal: ac.signal }));
      assert.equal(ConnectError.from(err).code, code);
    }
    assert.equal(f.calls, 0);
    res.shutdown();
  });

  it("the caller's deadline during an attempt: DEADLINE_EXCEEDED at once, fn's signal aborted, no retry", async () => {
    const res = new Resilience({ attemptTimeoutMs: 5000 });
    const f = hanging();
    const ac = new AbortController();
    const p = rejection(res.call(OP, f.fn, { retry: true, signal: ac.signal }));
    await clock.tickAsync(200);
    const reason = deadline();
    ac.abort(reason);
    const err = ConnectError.from(await p);
    assert.equal(err.code, Code.DeadlineExceeded);
    assert.equal(f.signals[0]?.aborted, true);
    assert.equal(f.signals[0]?.reason, reason, "the in-flight call is aborted with the caller's reason");
    await clock.tickAsync(60_000);
    assert.equal(f.calls, 1, "no attempt after the deadline");
    res.shutdown();
  });

  it("the caller's signal aborted during the backoff: the sleep ends and no further attempt starts", async () => {
    const res = new Resilience({ random: () => 0 });
    const f = failing(unavailable);
    const ac = new AbortController();
    const p = rejection(res.call(OP, f.fn, { retry: true, signal: ac.signal }));
    await clock.tickAsync(10); // first attempt failed; now sleeping 50 ms
    assert.equal(f.calls, 1);
    ac.abort(deadline());
    const err = ConnectError.from(await p); // settles without the clock moving
    assert.equal(err.code, Code.DeadlineExceeded);
    await clock.tickAsync(60_000);
    assert.equal(f.calls, 1);
    res.shutdown();
  });

  it("even a sleep that ignores the signal cannot start an attempt after the caller aborted", async () => {
    const ac = new AbortController();
    const res = new Resilience({
      sleep: async () => {
        ac.abort();
      },
    });
    const f = failing(unavailable);
    const err = ConnectError.from(await rejection(res.call(OP, f.fn, { retry: true, signal: ac.signal })));
    assert.equal(err.code, Code.Canceled);
    assert.equal(f.calls, 1);
    res.shutdown();
  });

  it("a fn that ignores its signal still cannot hold the caller past its deadline", async () => {
    const res = new Resilience();
    const ac = new AbortController();
    const p = rejection(res.call(OP, () => new Promise<never>(() => {}), { retry: true, signal: ac.signal }));
    await clock.tickAsync(50);
    ac.abort(deadline());
    assert.equal(ConnectError.from(await p).code, Code.DeadlineExceeded);
    res.shutdown();
  });

  it("caller deadlines during attempts count as breaker failures; caller cancels do not", async () => {
    const rec = recorder();
    const res = new Resilience({ retry: { retries: 0 }, ...rec });
    for (let i = 0; i < 200; i++) {
      const ac = new AbortController();
      const p = rejection(res.call("dapr.getState", hanging().fn, { retry: true, signal: ac.signal }));
      await clock.tickAsync(1);
      ac.abort();
      assert.equal(ConnectError.from(await p).code, Code.Canceled);
    }
    assert.deepEqual(res.states(), { "dapr.getState": "closed" });

    for (let i = 0; i < 5; i++) {
      const ac = new AbortController();
      const p = rejection(res.call(OP, hanging().fn, { retry: true, signal: ac.signal }));
      await clock.tickAsync(1);
      ac.abort(deadline());
      assert.equal(ConnectError.from(await p).code, Code.DeadlineExceeded);
    }
    assert.equal(res.states()[OP], "open");
    assert.deepEqual(rec.changes, [[OP, "open"]]);
    res.shutdown();
  });
});

describe("Resilience: circuit breaker", () => {
  let clock: Clock;
  beforeEach(() => {
    clock = FakeTimers.install({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
  });
  afterEach(() => clock.uninstall());

  /** Opens OP's breaker with 5 failing single-attempt calls; returns the fn call count. */
  async function open(res: Resilience, op = OP): Promise<number> {
    const f = failing(unavailable);
    for (let i = 0; i < 5; i++) {
      let settled = false;
      const p = rejection(res.call(op, f.fn, { retry: true })).finally(() => (settled = true));
      await clock.tickAsync(0);
      while (!settled) await clock.tickAsync(10); // through any backoff sleeps, no further
      await p;
    }
    assert.equal(res.states()[op], "open");
    return f.calls;
  }

  function make(extra: ResilienceOptions = {}) {
    const rec = recorder();
    const res = new Resilience({ retry: { retries: 0 }, random: () => 0, ...rec, ...extra });
    return { res, rec };
  }

  it("stays closed below the volume threshold, opens at it, then rejects at once without calling fn", async () => {
    const { res, rec } = make();
    const f = failing(unavailable);
    for (let i = 0; i < 4; i++) await rejection(res.call(OP, f.fn, { retry: true }));
    assert.equal(res.states()[OP], "closed", "4 failures < volumeThreshold 5");
    await rejection(res.call(OP, f.fn, { retry: true }));
    assert.equal(res.states()[OP], "open");
    assert.deepEqual(rec.changes, [[OP, "open"]]);
    assert.equal(f.calls, 5);

    for (let i = 0; i < 20; i++) {
      const err = await rejection(res.call(OP, f.fn, { retry: true }));
      assert.ok(err instanceof BackendUnavailableError);
      assert.equal(err.message, "circuit open for dapr.saveState; retry later");
      assert.equal(toConnectError(err).code, Code.Unavailable);
    }
    assert.equal(f.calls, 5, "no fn call while open");
    res.shutdown();
  });

  it("wraps each attempt: a breaker that opens mid-retry stops the retry loop", async () => {
    const { sleep, delays } = recordingSleep();
    const res = new Resilience({ sleep });
    const f = failing(unavailable);
    const first = ConnectError.from(await rejection(res.call(OP, f.fn, { retry: true })));
    assert.equal(first.code, Code.Unavailable);
    assert.equal(f.calls, 4);
    assert.equal(res.states()[OP], "closed", "4 failed attempts < volumeThreshold 5");
    const second = await rejection(res.call(OP, f.fn, { retry: true }));
    assert.ok(second instanceof BackendUnavailableError, "the 5th failed attempt opened it");
    assert.ok(second.cause instanceof ConnectError, "the last Dapr error is kept as the cause");
    assert.equal(f.calls, 5);
    assert.equal(delays.length, 3, "no sleep once the breaker is open");
    res.shutdown();
  });

  it("after resetTimeout exactly one probe goes through; its success closes the breaker", async () => {
    const { res, rec } = make();
    await open(res);
    await clock.tickAsync(4999);
    assert.equal(res.states()[OP], "open");
    await clock.tickAsync(1);
    assert.equal(res.states()[OP], "halfOpen");

    const c = controlled();
    const calls = Array.from({ length: 5 }, () => res.call(OP, c.fn, { retry: true }).then((v) => v, (e: unknown) => e));
    await clock.tickAsync(0);
    assert.equal(c.calls, 1, "exactly one probe");
    const turnedAway = await Promise.all(calls.slice(1));
    assert.ok(turnedAway.every((e) => e instanceof BackendUnavailableError));

    c.pending[0]?.resolve("probe ok");
    assert.equal(await calls[0], "probe ok");
    assert.equal(res.states()[OP], "closed");
    assert.deepEqual(rec.changes, [
      [OP, "open"],
      [OP, "halfOpen"],
      [OP, "closed"],
    ]);
    const after = scripted();
    assert.equal(await res.call(OP, after.fn, { retry: true }), "ok");
    assert.equal(after.calls, 1, "traffic resumes");
    res.shutdown();
  });

  it("a failed probe opens the breaker again, the probing call is not retried, and a new probe follows resetTimeout", async () => {
    const rec = recorder();
    const { sleep, delays } = recordingSleep();
    const res = new Resilience({ sleep, ...rec });
    const f = failing(unavailable);
    await rejection(res.call(OP, f.fn, { retry: true })); // 4 failures
    await rejection(res.call(OP, f.fn, { retry: true })); // 5th opens
    assert.equal(res.states()[OP], "open");
    const before = f.calls;
    const delaysBefore = delays.length;

    await clock.tickAsync(5000);
    assert.equal(res.states()[OP], "halfOpen");
    const err = await rejection(res.call(OP, f.fn, { retry: true }));
    assert.ok(err instanceof BackendUnavailableError);
    assert.equal(f.calls - before, 1, "one probe attempt, no retry against an open breaker");
    assert.equal(delays.length, delaysBefore);
    assert.equal(res.states()[OP], "open");

    await clock.tickAsync(5000);
    assert.equal(res.states()[OP], "halfOpen");
    assert.deepEqual(rec.changes, [
      [OP, "open"],
      [OP, "halfOpen"],
      [OP, "open"],
      [OP, "halfOpen"],
    ]);
    res.shutdown();
  });

  it("a probe answered with a caller's mistake (NOT_FOUND) closes it: the backend answered", async () => {
    const { res } = make();
    await open(res);
    await clock.tickAsync(5000);
    const notFound = new ConnectError("no such key", Code.NotFound);
    assert.equal(await rejection(res.call(OP, scripted(notFound).fn, { retry: true })), notFound);
    assert.equal(res.states()[OP], "closed");
    res.shutdown();
  });

  it("a probe cancelled by its caller opens the breaker again (no verdict is no evidence)", async () => {
    const { res } = make();
    await open(res);
    await clock.tickAsync(5000);
    const ac = new AbortController();
    const p = rejection(res.call(OP, hanging().fn, { retry: true, signal: ac.signal }));
    await clock.tickAsync(1);
    ac.abort();
    assert.equal(ConnectError.from(await p).code, Code.Canceled);
    assert.equal(res.states()[OP], "open");
    res.shutdown();
  });

  it("a probe that hangs is ended by the attempt timeout, so the breaker cannot stay half-open forever", async () => {
    const { res } = make({ attemptTimeoutMs: 1000 });
    await open(res);
    await clock.tickAsync(5000);
    const p = rejection(res.call(OP, hanging().fn, { retry: true }));
    await clock.tickAsync(1000);
    assert.equal(ConnectError.from(await p).code, Code.Unavailable);
    assert.equal(res.states()[OP], "open");
    res.shutdown();
  });

  it("calls turned away while open do not dilute the error rate: after closing, new failures reopen it promptly", async () => {
    const { res } = make();
    await open(res);
    for (let i = 0; i < 200; i++) await rejection(res.call(OP, scripted().fn, { retry: true }));
    await clock.tickAsync(5000);
    assert.equal(await res.call(OP, scripted().fn, { retry: true }), "ok");
    assert.equal(res.states()[OP], "closed");
    const f = failing(unavailable);
    for (let i = 0; i < 5 && res.states()[OP] === "closed"; i++) await rejection(res.call(OP, f.fn, { retry: true }));
    assert.equal(res.states()[OP], "open", "opossum would count the 200 rejections as fires and stay closed");
    res.shutdown();
  });

  it("one breaker per operation: states() reports each", async () => {
    const { res } = make();
    assert.deepEqual(res.states(), {});
    await res.call("dapr.getState", scripted().fn, { retry: true });
    await open(res, "dapr.publishEvent");
    assert.deepEqual(res.states(), { "dapr.getState": "closed", "dapr.publishEvent": "open" });
    assert.equal(await res.call("dapr.getState", scripted().fn, { retry: true }), "ok", "the other operation is unaffected");
    await clock.tickAsync(5000);
    assert.deepEqual(res.states(), { "dapr.getState": "closed", "dapr.publishEvent": "halfOpen" });
    res.shutdown();
  });

  it("shutdown(): clears every breaker timer, ends pending backoffs, and later calls reject with NotReadyError", async () => {
    const { res } = make({ retry: { retries: 3 } });
    await open(res, "dapr.publishEvent"); // open: a reset timer is pending
    const f = failing(unavailable);
    const pending = rejection(res.call(OP, f.fn, { retry: true }));
    await clock.tickAsync(10); // first attempt failed; sleeping
    assert.ok(clock.countTimers() > 0);

    res.shutdown();
    assert.ok((await pending) instanceof NotReadyError, "the sleeping retry ends without the clock moving");
    assert.equal(f.calls, 1);
    assert.equal(clock.countTimers(), 0, "no opossum interval or reset timer survives");
    assert.deepEqual(res.states(), {});

    const g = scripted();
    assert.ok((await rejection(res.call(OP, g.fn, { retry: true }))) instanceof NotReadyError);
    assert.equal(g.calls, 0);
    res.shutdown(); // idempotent
  });
});

describe("Resilience: options", () => {
  it("rejects nonsense settings", () => {
    assert.throws(() => new Resilience({ retry: { retries: -1 } }), RangeError);
    assert.throws(() => new Resilience({ retry: { retries: 1.5 } }), RangeError);
    assert.throws(() => new Resilience({ retry: { baseDelayMs: Number.NaN } }), RangeError);
    assert.throws(() => new Resilience({ attemptTimeoutMs: 0 }), RangeError);
    assert.throws(() => new Resilience({ breaker: { errorThresholdPercentage: 101 } }), RangeError);
    assert.throws(() => new Resilience({ breaker: { resetTimeoutMs: 0 } }), RangeError);
    assert.throws(() => new Resilience({ breaker: { volumeThreshold: 2.5 } }), RangeError);
    new Resilience({ retry: { retries: 0, baseDelayMs: 0, maxDelayMs: 0 } }).shutdown();
  });
});
