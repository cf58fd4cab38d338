/** The benchmark regression guard and the SVG plots. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { evaluateGuard, parseGuardFile } from "../../bench/lib/guard.js";
import { compactNumber, escapeXml, lineChart, linearTicks, percentileToX } from "../../bench/lib/svg.js";

describe("regression guard", () => {
  const rules = [
    { ratio: "W1 N=1000 gateway/grpc-js msgs/s", min: 0.3 },
    { ratio: "W5 fan-out connect/grpc msgs/s", min: 0.3 },
  ];
  it("passes when every ratio is at or above its threshold", () => {
    const d = evaluateGuard(rules, new Map([["W1 N=1000 gateway/grpc-js msgs/s", 1.2], ["W5 fan-out connect/grpc msgs/s", 0.3]]));
    assert.equal(d.ok, true);
    assert.equal(d.failures.length, 0);
    assert.equal(d.checked.length, 2);
  });
  it("fails naming the ratio that fell below (a 3x regression from the goal)", () => {
    const d = evaluateGuard(rules, new Map([["W1 N=1000 gateway/grpc-js msgs/s", 0.29], ["W5 fan-out connect/grpc msgs/s", 0.9]]));
    assert.equal(d.ok, false);
    assert.equal(d.failures.length, 1);
    assert.match(d.failures[0]!.message, /W1 N=1000 gateway\/grpc-js msgs\/s = 0\.290 is below the threshold 0\.3/);
  });
  it("fails when a guarded ratio was not measured (NaN or missing)", () => {
    const d = evaluateGuard(rules, new Map([["W1 N=1000 gateway/grpc-js msgs/s", Number.NaN]]));
    assert.equal(d.ok, false);
    assert.deepEqual(d.failures.map((f) => f.value === undefined || Number.isNaN(f.value)), [true, true]);
    assert.match(d.failures[1]!.message, /not measured/);
  });
  it("the shipped bench/guard.json parses and keeps thresholds well under the goals", () => {
    const file = parseGuardFile(JSON.parse(readFileSync(new URL("../../bench/guard.json", import.meta.url), "utf8")));
    assert.ok(file.rules.length >= 4);
    for (const r of file.rules) assert.ok(r.min <= 0.4, `${r.ratio}: threshold ${r.min} is not well under its goal`);
  });
  it("rejects malformed guard files", () => {
    assert.throws(() => parseGuardFile({}), /rules/);
    assert.throws(() => parseGuardFile({ rules: [{ ratio: "x", min: 0 }] }), /positive/);
    assert.throws(() => parseGuardFile({ rules: [{ min: 1 }] }), /ratio/);
  });
});

/** A small well-formedness check: every tag closes in order, attributes are quoted, no stray '<' or '&'. */
function assertWellFormedXml(xml: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (const m of xml.matchAll(tag)) {
    const between = xml.slice(last, m.index);
    assert.ok(!/[<>]/.test(between), `stray bracket in text: ${between.slice(0, 80)}`);
    assert.ok(!/&(?!(lt|gt|amp|quot|apos);)/.test(between), `unescaped & in: ${between.slice(0, 80)}`);
    last = (m.index ?? 0) + m[0].length;
    const [, closing, name, , selfClosing] = m;
    if (closing === "/") assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else if (selfClosing !== "/") stack.push(name as string);
  }
  assert.equal(xml.slice(last).trim(), "");
  assert.deepEqual(stack, [], "unclosed elements");
}

describe("SVG line charts", () => {
  it("are well-formed SVG with one polyline per series and escaped labels", () => {
    const svg = lineChart({
      title: "Throughput <&> \"quoted\"",
      x: { label: "subscribers", log: true },
      y: { label: "msgs/s", log: true },
      series: [
        { name: "gateway & co", points: [[100, 30_000], [1000, 35_000], [10_000, 20_000]] },
        { name: "raw", points: [[100, 1_000_000], [1000, 2_000_000], [10_000, 1_500_000]] },
      ],
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assertWellFormedXml(svg);
    assert.equal(svg.match(/<polyline/g)?.length, 2);
    assert.match(svg, /gateway &amp; co/);
    assert.match(svg, /Throughput &lt;&amp;&gt; &quot;quoted&quot;/);
  });
  it("leaves out points a log axis cannot show and still renders empty series", () => {
    const svg = lineChart({ title: "t", x: { label: "x", log: true }, y: { label: "y" }, series: [{ name: "a", points: [[0, 1], [10, Number.NaN], [100, 2]] }, { name: "empty", points: [] }] });
    assertWellFormedXml(svg);
    assert.equal(svg.match(/<circle/g)?.length, 1);
    assert.doesNotMatch(svg, /NaN|Infinity/);
  });
  it("helpers", () => {
    assert.equal(compactNumber(1234), "1.2k");
    assert.equal(compactNumber(2_500_000), "2.5M");
    assert.equal(compactNumber(1000), "1k");
    assert.deepEqual(linearTicks(0, 10), [0, 2, 4, 6, 8, 10]);
    assert.ok(Math.abs(percentileToX(99) - 100) < 1e-9);
    assert.equal(escapeXml("<a&b>"), "&lt;a&amp;b&gt;");
  });
});
