/**
 * The CI regression guard: a decision on ratios measured in one run (gateway against a baseline
 * measured back to back on the same machine), never on absolute times. Thresholds sit well under
 * the goals, so noise on a shared runner cannot fail a build while a several-fold regression does.
 */

export interface GuardRule {
  /** The ratio's name as the workloads report it, e.g. "W1 N=1000 gateway/grpc-js msgs/s". */
  readonly ratio: string;
  /** The ratio must be at least this. */
  readonly min: number;
  /** Why this threshold (shown when it fails). */
  readonly why?: string;
}

export interface GuardFile {
  readonly rules: readonly GuardRule[];
}

export interface GuardFailure {
  readonly ratio: string;
  readonly min: number;
  /** undefined: the ratio was not measured in this run (which also fails: a guard that silently checks nothing is no guard). */
  readonly value: number | undefined;
  readonly message: string;
}

export interface GuardDecision {
  readonly ok: boolean;
  readonly checked: readonly { ratio: string; min: number; value: number | undefined; ok: boolean }[];
  readonly failures: readonly GuardFailure[];
}

/** Validates the parsed bench/guard.json. */
export function parseGuardFile(json: unknown): GuardFile {
  if (typeof json !== "object" || json === null || !Array.isArray((json as { rules?: unknown }).rules)) {
    throw new Error('guard file: expected {"rules": [{"ratio": "...", "min": 0.1}, ...]}');
  }
  const rules = (json as { rules: unknown[] }).rules.map((r, i) => {
    const rule = r as Partial<GuardRule>;
    if (typeof rule.ratio !== "string" || rule.ratio === "") throw new Error(`guard file: rules[${i}].ratio must be a non-empty string`);
    if (typeof rule.min !== "number" || !Number.isFinite(rule.min) || rule.min <= 0) {
      throw new Error(`guard file: rules[${i}].min must be a positive number`);
    }
    return { ratio: rule.ratio, min: rule.min, ...(typeof rule.why === "string" ? { why: rule.why } : {}) };
  });
  return { rules };
}

/** Checks every rule against the measured ratios. */
export function evaluateGuard(rules: readonly GuardRule[], ratios: ReadonlyMap<string, number>): GuardDecision {
  const checked = rules.map((rule) => {
    const value = ratios.get(rule.ratio);
    const ok = value !== undefined && Number.isFinite(value) && value >= rule.min;
    return { ratio: rule.ratio, min: rule.min, value, ok, why: rule.why };
  });
  const failures = checked
    .filter((c) => !c.ok)
    .map((c) => ({
      ratio: c.ratio,
      min: c.min,
      value: c.value,
      message:
        c.value === undefined || !Number.isFinite(c.value)
          ? `${c.ratio}: not measured in this run (the guard needs it)`
          : `${c.ratio} = ${c.value.toFixed(3)} is below the threshold ${c.min}${c.why ? ` (${c.why})` : ""}`,
    }));
  return { ok: failures.length === 0, checked: checked.map(({ why: _why, ...c }) => c), failures };
}
