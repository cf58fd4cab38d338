import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { SignJWT, UnsecuredJWT, type JWTPayload } from "jose";
import {
  AuthConfigError,
  AuthError,
  authenticate,
  createAuthenticator,
  hashToken,
  openIdentity,
  parseAuthConfig,
  type AuthConfig,
} from "../../src/auth/identity.js";

const SECRET = "a-test-secret-that-is-at-least-32-bytes-long";
const OTHER_SECRET = "another-secret-that-is-at-least-32-bytes-long";
const AUDIENCE = "virtufin-api";
const ISSUER = "https://auth.test";

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const otherRsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const pem = (k: KeyObject): string => k.export({ type: "spki", format: "pem" }).toString();
const RSA_PEM = pem(rsa.publicKey);
const EC_PEM = pem(ec.publicKey);

const WORKER_TOKEN = "worker-opaque-token-0123456789";
const ADMIN_TOKEN = "admin-opaque-token-9876543210";
const DOTTED_TOKEN = "abc.def.ghi";

const TOKENS_ONLY: AuthConfig = {
  tokens: [
    { service: "workmanager", sha256: hashToken(WORKER_TOKEN) },
    { service: "state", sha256: hashToken(ADMIN_TOKEN), admin: true },
    { service: "websocketmanager", sha256: hashToken(DOTTED_TOKEN) },
  ],
};
const HS: AuthConfig = { tokens: TOKENS_ONLY.tokens, jwt: { secret: SECRET, audience: AUDIENCE, issuer: ISSUER, adminRole: "admin" } };
const RS: AuthConfig = { tokens: [], jwt: { publicKeyPem: RSA_PEM, audience: AUDIENCE } };
const ES: AuthConfig = { tokens: [], jwt: { publicKeyPem: EC_PEM, audience: AUDIENCE } };
const KID: AuthConfig = { tokens: [], jwt: { publicKeyPem: RSA_PEM, audience: AUDIENCE, kid: "key-1" } };

const NOW_S = Math.floor(Date.now() / 1000);
const HOUR = 3600;

interface Mint {
  readonly alg?: "HS256" | "RS256" | "ES256";
  readonly key?: Uint8Array | KeyObject;
  readonly claims?: JWTPayload;
  readonly sub?: string | null;
  readonly aud?: string | null;
  readonly iss?: string | null;
  readonly exp?: number | null;
  readonly nbf?: number;
  readonly kid?: string;
}

async function mint(m: Mint = {}): Promise<string> {
  const alg = m.alg ?? "HS256";
  const jwt = new SignJWT(m.claims ?? {}).setProtectedHeader({ alg, ...(m.kid === undefined ? {} : { kid: m.kid }) }).setIssuedAt(NOW_S - 60);
  if (m.sub !== null) jwt.setSubject(m.sub ?? "workmanager");
  if (m.aud !== null) jwt.setAudience(m.aud ?? AUDIENCE);
  if (m.iss !== null) jwt.setIssuer(m.iss ?? ISSUER);
  if (m.exp !== null) jwt.setExpirationTime(m.exp ?? NOW_S + HOUR);
  if (m.nbf !== undefined) jwt.setNotBefore(m.nbf);
  const key = m.key ?? (alg === "HS256" ? new TextEncoder().encode(SECRET) : alg === "RS256" ? rsa.privateKey : ec.privateKey);
  return jwt.sign(key);
}

async function rejected(config: AuthConfig, header: string | null, message: RegExp, now?: Date): Promise<void> {
  await assert.rejects(authenticate(config, header, now), (e: unknown) => {
    assert.ok(e instanceof AuthError, `expected AuthError, got ${String(e)}`);
    assert.equal(e.name, "AuthError");
    assert.equal(e.code, "unauthenticated");
    assert.match(e.message, message);
    return true;
  });
}

describe("hashToken", () => {
  it("is the lower-case hex SHA-256 of the token", () => {
    assert.equal(hashToken("abc"), createHash("sha256").update("abc").digest("hex"));
    assert.match(hashToken("x"), /^[0-9a-f]{64}$/);
  });
});

describe("openIdentity", () => {
  it("is the service named, with every right", () => assert.deepEqual(openIdentity("workmanager"), { service: "workmanager", admin: true, via: "open" }));
});

describe("parseAuthConfig", () => {
  const open: ReadonlyArray<readonly [string, unknown]> = [
    ["absent", undefined],
    ["null", null],
    ["empty object", {}],
    ["no tokens and no jwt", { tokens: [] }],
  ];
  for (const [name, raw] of open) {
    it(`is open mode (undefined) when ${name}`, () => assert.equal(parseAuthConfig(raw), undefined));
  }

  it("accepts tokens and a JWT key, normalising the hash to lower case", () => {
    const sha = hashToken("t");
    assert.deepEqual(
      parseAuthConfig({
        tokens: [{ service: "workmanager", sha256: sha.toUpperCase() }, { service: "state", sha256: hashToken("u"), admin: true }],
        jwt: { secret: SECRET, audience: AUDIENCE, issuer: ISSUER, clockToleranceSec: 5, adminRole: "admin" },
      }),
      {
        tokens: [{ service: "workmanager", sha256: sha }, { service: "state", sha256: hashToken("u"), admin: true }],
        jwt: { secret: SECRET, audience: AUDIENCE, issuer: ISSUER, clockToleranceSec: 5, adminRole: "admin" },
      },
    );
    assert.deepEqual(parseAuthConfig({ jwt: { publicKeyPem: EC_PEM, audience: AUDIENCE } }), { tokens: [], jwt: { publicKeyPem: EC_PEM, audience: AUDIENCE } });
  });

  const bad: ReadonlyArray<readonly [string, unknown, RegExp]> = [
    ["not an object", "tokens", /expected an object/],
    ["an unknown field", { token: [] }, /auth: unknown field "token"/],
    ["tokens not a list", { tokens: {} }, /tokens must be a list/],
    ["a token entry not an object", { tokens: ["x"] }, /tokens\[0\] is not an object/],
    ["a plain-text token", { tokens: [{ service: "a", token: "secret" }] }, /tokens\[0\] holds a plain token; store its SHA-256/],
    ["a bad service name", { tokens: [{ service: "Work Manager", sha256: hashToken("x") }] }, /tokens\[0\]\.service must match/],
    ["a hash that is not 64 hex digits", { tokens: [{ service: "a", sha256: "abc" }] }, /tokens\[0\]\.sha256 must be the 64 hex digits/],
    ["the same hash twice", { tokens: [{ service: "a", sha256: hashToken("x") }, { service: "b", sha256: hashToken("x") }] }, /tokens\[1\]: the same token hash is configured twice/],
    ["admin not a boolean", { tokens: [{ service: "a", sha256: hashToken("x"), admin: 1 }] }, /tokens\[0\]\.admin must be true or false/],
    ["jwt not an object", { jwt: "x" }, /jwt must be an object/],
    ["jwt unknown field", { jwt: { secret: SECRET, audience: AUDIENCE, aud: "x" } }, /jwt: unknown field "aud"/],
    ["jwt without a key", { jwt: { audience: AUDIENCE } }, /jwt needs a secret \(HS256\) or a publicKeyPem/],
    ["jwt with a short secret", { jwt: { secret: "short", audience: AUDIENCE } }, /jwt\.secret must be at least 32 bytes/],
    ["jwt without audience", { jwt: { secret: SECRET } }, /jwt\.audience is required/],
    ["jwt with an empty issuer", { jwt: { secret: SECRET, audience: AUDIENCE, issuer: "" } }, /jwt\.issuer must be a non-empty string/],
    ["jwt with a bad PEM", { jwt: { publicKeyPem: "not a key", audience: AUDIENCE } }, /jwt\.publicKeyPem is not a PEM public key/],
    [
      "jwt with a P-384 key",
      { jwt: { publicKeyPem: pem(generateKeyPairSync("ec", { namedCurve: "P-384" }).publicKey), audience: AUDIENCE } },
      /RSA \(RS256\) or P-256 \(ES256\)/,
    ],
    [
      "jwt with a short RSA key",
      { jwt: { publicKeyPem: pem(generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey), audience: AUDIENCE } },
      /at least 2048 bits/,
    ],
    ["a negative clock tolerance", { jwt: { secret: SECRET, audience: AUDIENCE, clockToleranceSec: -1 } }, /clockToleranceSec must be an integer/],
  ];
  for (const [name, raw, re] of bad) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => parseAuthConfig(raw),
        (e: unknown) => e instanceof AuthConfigError && e.name === "AuthConfigError" && re.test(e.message),
      );
    });
  }
});

describe("authenticate: the authorization header", () => {
  const rows: ReadonlyArray<readonly [string, string | null, RegExp]> = [
    ["missing", null, /missing authorization header/],
    ["empty", "", /missing authorization header/],
    ["another scheme", `Basic ${Buffer.from("a:b").toString("base64")}`, /malformed authorization header/],
    ["scheme without a token", "Bearer", /malformed/],
    ["scheme and a space only", "Bearer ", /malformed/],
    ["two spaces", `Bearer  ${WORKER_TOKEN}`, /malformed/],
    ["a token with a space", "Bearer a b", /malformed/],
    ["a token with a comma", "Bearer a,b", /malformed/],
    ["the token alone", WORKER_TOKEN, /malformed/],
    ["a trailing newline", `Bearer ${WORKER_TOKEN}\n`, /malformed/],
  ];
  for (const [name, header, re] of rows) {
    it(`rejects a ${name} header`, () => rejected(TOKENS_ONLY, header, re));
    it(`rejects a ${name} header with JWT configured`, () => rejected(HS, header, re));
  }

  it("accepts the scheme in any case (RFC 7235)", async () => {
    assert.equal((await authenticate(TOKENS_ONLY, `bearer ${WORKER_TOKEN}`)).service, "workmanager");
    assert.equal((await authenticate(TOKENS_ONLY, `BEARER ${WORKER_TOKEN}`)).service, "workmanager");
  });
});

describe("authenticate: opaque tokens", () => {
  it("maps a configured token to its service", async () => {
    assert.deepEqual(await authenticate(TOKENS_ONLY, `Bearer ${WORKER_TOKEN}`), { service: "workmanager", admin: false, via: "token" });
  });
  it("carries the admin flag", async () => {
    assert.deepEqual(await authenticate(TOKENS_ONLY, `Bearer ${ADMIN_TOKEN}`), { service: "state", admin: true, via: "token" });
  });
  it("rejects an unknown token", () => rejected(TOKENS_ONLY, "Bearer not-a-configured-token", /unknown bearer token/));
  it("rejects a configured token's hash presented as the token", () => rejected(TOKENS_ONLY, `Bearer ${hashToken(WORKER_TOKEN)}`, /unknown bearer token/));
  it("rejects a prefix of a configured token", () => rejected(TOKENS_ONLY, `Bearer ${WORKER_TOKEN.slice(0, -1)}`, /unknown bearer token/));
  it("looks a JWT-shaped token up as opaque when no JWT key is configured", async () => {
    assert.equal((await authenticate(TOKENS_ONLY, `Bearer ${DOTTED_TOKEN}`)).service, "websocketmanager");
    await rejected(TOKENS_ONLY, `Bearer ${await mint()}`, /unknown bearer token/);
  });
  it("verifies a JWT-shaped token as a JWT when a JWT key is configured", () => rejected(HS, `Bearer ${DOTTED_TOKEN}`, /JWT/));
  it("still accepts opaque tokens beside a JWT key", async () => {
    assert.equal((await authenticate(HS, `Bearer ${WORKER_TOKEN}`)).service, "workmanager");
  });
  it("createAuthenticator prepares once and serves many calls", async () => {
    const auth = createAuthenticator(HS);
    assert.equal((await auth(`Bearer ${WORKER_TOKEN}`)).service, "workmanager");
    assert.equal((await auth(`Bearer ${await mint()}`)).service, "workmanager");
  });
});

describe("authenticate: JWT", () => {
  it("accepts an HS256 token: the subject is the service", async () => {
    assert.deepEqual(await authenticate(HS, `Bearer ${await mint()}`), { service: "workmanager", admin: false, via: "jwt" });
  });
  it("accepts an RS256 token", async () => {
    assert.equal((await authenticate(RS, `Bearer ${await mint({ alg: "RS256", iss: null })}`)).service, "workmanager");
  });
  it("accepts an ES256 token", async () => {
    assert.equal((await authenticate(ES, `Bearer ${await mint({ alg: "ES256" })}`)).service, "workmanager");
  });
  it("makes a token with the admin role admin", async () => {
    const identity = await authenticate(HS, `Bearer ${await mint({ claims: { roles: ["reader", "admin"] } })}`);
    assert.equal(identity.admin, true);
    const plain = await authenticate(HS, `Bearer ${await mint({ claims: { roles: ["reader"] } })}`);
    assert.equal(plain.admin, false);
    const noRoleConfigured = await authenticate(RS, `Bearer ${await mint({ alg: "RS256", claims: { roles: ["admin"] } })}`);
    assert.equal(noRoleConfigured.admin, false, "no adminRole configured: no role makes admin");
  });
  it("accepts a token with the configured kid", async () => {
    assert.equal((await authenticate(KID, `Bearer ${await mint({ alg: "RS256", kid: "key-1" })}`)).service, "workmanager");
  });

  const bad: ReadonlyArray<readonly [string, AuthConfig, () => Promise<string>, RegExp]> = [
    ["expired", HS, () => mint({ exp: NOW_S - HOUR }), /JWT has expired/],
    ["not yet valid (nbf in the future)", HS, () => mint({ nbf: NOW_S + HOUR }), /JWT is not yet valid/],
    ["wrong audience", HS, () => mint({ aud: "someone-else" }), /JWT audience does not match/],
    ["no audience", HS, () => mint({ aud: null }), /JWT (audience does not match|claim "aud")/],
    ["wrong issuer", HS, () => mint({ iss: "https://evil.test" }), /JWT issuer does not match/],
    ["no expiry", HS, () => mint({ exp: null }), /JWT claim "exp" is missing or invalid/],
    ["no subject", HS, () => mint({ sub: null }), /JWT claim "sub" is missing or invalid/],
    ["a subject that is not a service name", HS, () => mint({ sub: "Not A Service" }), /JWT subject is not a service name/],
    ["wrongly signed (another secret)", HS, () => mint({ key: new TextEncoder().encode(OTHER_SECRET) }), /JWT signature is invalid/],
    ["wrongly signed (another RSA key)", RS, () => mint({ alg: "RS256", key: otherRsa.privateKey }), /JWT signature is invalid/],
    ["alg: none", HS, async () => new UnsecuredJWT({ sub: "workmanager", aud: AUDIENCE, iss: ISSUER }).setExpirationTime(NOW_S + HOUR).encode(), /JWT algorithm is not allowed/],
    ["alg: none against a public key", RS, async () => new UnsecuredJWT({ sub: "workmanager", aud: AUDIENCE }).setExpirationTime(NOW_S + HOUR).encode(), /JWT algorithm is not allowed/],
    ["HS256 signed with the RSA public key (algorithm confusion)", RS, () => mint({ key: new TextEncoder().encode(RSA_PEM) }), /JWT algorithm is not allowed/],
    ["HS256 signed with the EC public key (algorithm confusion)", ES, () => mint({ key: new TextEncoder().encode(EC_PEM) }), /JWT algorithm is not allowed/],
    ["RS256 when only a secret is configured", HS, () => mint({ alg: "RS256" }), /JWT algorithm is not allowed/],
    ["ES256 when an RSA key is configured", RS, () => mint({ alg: "ES256" }), /JWT algorithm is not allowed/],
    ["an unknown kid", KID, () => mint({ alg: "RS256", kid: "key-2" }), /JWT key id "key-2" is unknown/],
    ["a missing kid when one is required", KID, () => mint({ alg: "RS256" }), /JWT key id is missing/],
    ["a tampered payload", HS, async () => {
      const [h, , s] = (await mint()).split(".");
      const forged = Buffer.from(JSON.stringify({ sub: "state", aud: AUDIENCE, iss: ISSUER, exp: NOW_S + HOUR })).toString("base64url");
      return `${h}.${forged}.${s}`;
    }, /JWT signature is invalid/],
    ["garbage in JWT shape", HS, async () => "aaaa.bbbb.cccc", /JWT is malformed/],
  ];
  for (const [name, config, token, re] of bad) {
    it(`rejects a token that is ${name}`, async () => rejected(config, `Bearer ${await token()}`, re));
  }

  describe("time, against an injected now", () => {
    const now = new Date(Date.UTC(2030, 0, 1, 12, 0, 0));
    const t = Math.floor(now.getTime() / 1000);
    const rows: ReadonlyArray<readonly [string, { exp?: number; nbf?: number }, boolean]> = [
      ["valid around now", { exp: t + 60, nbf: t - 60 }, true],
      ["expired 1 s ago, within the 30 s default tolerance", { exp: t - 1 }, true],
      ["expired 31 s ago", { exp: t - 31 }, false],
      ["nbf 29 s ahead, within tolerance", { nbf: t + 29, exp: t + HOUR }, true],
      ["nbf 31 s ahead", { nbf: t + 31, exp: t + HOUR }, false],
    ];
    for (const [name, times, accepted] of rows) {
      it(`${name}: ${accepted ? "accepted" : "rejected"}`, async () => {
        const token = await mint({ exp: times.exp ?? t + HOUR, ...(times.nbf === undefined ? {} : { nbf: times.nbf }) });
        if (accepted) assert.equal((await authenticate(HS, `Bearer ${token}`, now)).service, "workmanager");
        else await rejected(HS, `Bearer ${token}`, times.nbf === undefined ? /expired/ : /not yet valid/, now);
      });
    }
    it("a zero tolerance rejects a token expired 1 s ago", async () => {
      const strict: AuthConfig = { tokens: [], jwt: { secret: SECRET, audience: AUDIENCE, clockToleranceSec: 0 } };
      await rejected(strict, `Bearer ${await mint({ exp: t - 1 })}`, /expired/, now);
    });
  });
});
