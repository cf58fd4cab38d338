/**
 * The JSON log sink: lines gathered within the flush delay leave in one write, in order; a full
 * buffer is written at once; nothing pending is lost when the process exits first.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { createRootLogger } from "../../src/observability/logger.js";
import { BufferedLineSink, LOG_FLUSH_DELAY_MS } from "../../src/observability/log-sink.js";

const turn = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("BufferedLineSink", () => {
  it("writes the lines of the flush delay in one write, in order, once the delay is over", async () => {
    const writes: string[] = [];
    const sink = new BufferedLineSink({ write: (text: string) => writes.push(text) }, 30);
    sink.write("a\n");
    await turn();
    sink.write("b\n");
    sink.write("c\n");
    assert.deepEqual(writes, [], "nothing is written before the delay is over");
    await sleep(80);
    assert.deepEqual(writes, ["a\nb\nc\n"]);
    sink.write("d\n");
    await sleep(80);
    assert.deepEqual(writes, ["a\nb\nc\n", "d\n"], "a later line is a write of its own");
  });

  it("writes at once when 1,024 lines are waiting, whatever the delay", () => {
    const writes: string[] = [];
    const sink = new BufferedLineSink({ write: (text: string) => writes.push(text) }, 60_000);
    for (let i = 0; i < 1024; i++) sink.write(`${i}\n`);
    assert.equal(writes.length, 1);
    assert.equal(writes[0]!.split("\n").length - 1, 1024);
    sink.write("next\n");
    sink.flush();
    assert.deepEqual(writes.slice(1), ["next\n"]);
  });

  it("flush() writes at once, calls back, and leaves nothing for the end of the turn", async () => {
    const writes: string[] = [];
    const sink = new BufferedLineSink({ write: (text: string) => writes.push(text) });
    sink.write("x\n");
    let called = 0;
    sink.flush(() => called++);
    assert.deepEqual(writes, ["x\n"]);
    assert.equal(called, 1);
    await turn();
    assert.deepEqual(writes, ["x\n"]);
    sink.flush(() => called++);
    assert.equal(called, 2, "an empty flush still calls back");
  });

  it("is what the JSON logger writes through: one pino line per call, whole and parseable", async () => {
    const writes: string[] = [];
    const logger = createRootLogger("info", { write: (text: string) => (writes.push(text), true) } as unknown as NodeJS.WritableStream);
    logger.info({ n: 1 }, "first");
    logger.info({ n: 2 }, "second");
    logger.debug("below the level");
    await sleep(LOG_FLUSH_DELAY_MS + 50);
    assert.equal(writes.length, 1);
    const lines = writes[0]!.trimEnd().split("\n").map((l) => JSON.parse(l) as { msg: string; n: number });
    assert.deepEqual(lines.map((l) => [l.msg, l.n]), [["first", 1], ["second", 2]]);
  });

  it("writes what is pending when the process exits within the turn (process.exit, an uncaught exception)", () => {
    const logger = fileURLToPath(new URL("../../src/observability/logger.ts", import.meta.url));
    for (const ending of ["process.exit(3)", "throw new Error('boom')"]) {
      const script = `import { createRootLogger } from ${JSON.stringify(logger)};
        const log = createRootLogger("info", process.stdout);
        for (let i = 0; i < 3; i++) log.info({ i }, "line");
        ${ending};`;
      const child = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
      const lines = child.stdout.trimEnd().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as { i: number });
      assert.deepEqual(lines.map((l) => l.i), [0, 1, 2], `${ending}: stdout was ${JSON.stringify(child.stdout)}, stderr ${child.stderr.slice(0, 500)}`);
      assert.notEqual(child.status, 0);
    }
  });
});
