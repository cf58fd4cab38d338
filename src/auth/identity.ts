/**
 * Who is calling: a bearer token from configuration (stored as its SHA-256, compared in constant
 * time) or a JWT signed with a configured key, whose subject is the service name. With no
 * credentials configured the gateway runs open (parseAuthConfig returns undefined).
 */
import { createHash, createPublicKey, timingSafeEqual, type KeyObject } from "node:crypto";
import { errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { clip, isRecord, rejectUnknownKeys } from "./raw.js";

export interface Identity {
  /** The service the caller proved to be (in open mode: the service it named). */
  readonly service: string;
  /** May act as any service and read every service's state. */
  readonly admin: boolean;
  readonly via: "token" | "jwt" | "open";
}

export interface TokenEntry {
  readonly service: string;
  /** Lower-case hex of the token's SHA-256 (see hashToken). */
  readonly sha256: string;
  /** Default false. */
  readonly admin?: boolean;
}

export interface JwtConfig {
  /** HS256 shared secret (at least 32 bytes). */
  readonly secret?: string;
  /** RS256 (RSA) or ES256 (P-256) public key, PEM "PUBLIC KEY" (SPKI). */
  readonly publicKeyPem?: string;
  /** Required `aud`. */
  readonly audience: string;
  /** Required `iss` when set. */
  readonly issuer?: string;
  /** Allowed clock skew for exp/nbf, in seconds. Default 30. */
  readonly clockToleranceSec?: number;
  /** A token whose `roles` claim contains this role is admin. Default: no role makes admin. */
  readonly adminRole?: string;
  /** When set, the JWT header must carry this `kid`. */
  readonly kid?: string;
}

export interface AuthConfig {
  readonly tokens: readonly TokenEntry[];
  readonly jwt?: JwtConfig;
}

/** The caller could not prove who it is: maps to UNAUTHENTICATED. */
export class AuthError extends Error {
  override readonly name = "AuthError";
  readonly code = "unauthenticated" as const;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export class AuthConfigError extends Error {
  override readonly name = "AuthConfigError";
}

export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;
const MIN_SECRET_BYTES = 32;
const SERVICE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** RFC 6750 b64token. */
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;
/** Three base64url parts (the last may be empty, as in `alg: none`). */
const LOOKS_LIKE_JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Lower-case hex SHA-256 of a token, the form tokens are stored in. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** The identity of a caller in open mode: whoever it says it is, with every right. */
export function openIdentity(service: string): Identity {
  return { service, admin: true, via: "open" };
}

/**
 * Validates the `auth` section of the configuration. Returns undefined (open mode) when it is
 * absent or configures neither tokens nor a JWT key.
 *
 * ```json
 * { "tokens": [{ "service": "workmanager", "sha256": "<hex>", "admin": false }],
 *   "jwt": { "publicKeyPem": "-----BEGIN PUBLIC KEY-----...", "audience": "virtufin-api",
 *            "issuer": "https://auth.example", "clockToleranceSec": 30, "adminRole": "admin" } }
 * ```
 */
export function parseAuthConfig(raw: unknown): AuthConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const fail = (why: string) => new AuthConfigError(`auth config: ${why}`);
  if (!isRecord(raw)) throw fail("expected an object with tokens and/or jwt");
  rejectUnknownKeys(raw, ["tokens", "jwt"], "auth", fail);

  const rawTokens = raw["tokens"] ?? [];
  if (!Array.isArray(rawTokens)) throw fail("tokens must be a list");
  const seen = new Set<string>();
  const tokens: TokenEntry[] = [];
  for (const [i, t] of rawTokens.entries()) {
    const at = `tokens[${i}]`;
    if (!isRecord(t)) throw fail(`${at} is not an object`);
    if ("token" in t) throw fail(`${at} holds a plain token; store its SHA-256 hex as "sha256" instead`);
    rejectUnknownKeys(t, ["service", "sha256", "admin"], at, fail);
    const service = t["service"];
    if (typeof service !== "string" || !SERVICE_NAME.test(service)) {
      throw fail(`${at}.service must match ${SERVICE_NAME.source}`);
    }
    const sha = t["sha256"];
    if (typeof sha !== "string" || !SHA256_HEX.test(sha.toLowerCase())) {
      throw fail(`${at}.sha256 must be the 64 hex digits of the token's SHA-256`);
    }
    const sha256 = sha.toLowerCase();
    if (seen.has(sha256)) throw fail(`${at}: the same token hash is configured twice`);
    seen.add(sha256);
    const admin = t["admin"] ?? false;
    if (typeof admin !== "boolean") throw fail(`${at}.admin must be true or false`);
    tokens.push(admin ? { service, sha256, admin } : { service, sha256 });
  }

  const rawJwt = raw["jwt"];
  let jwt: JwtConfig | undefined;
  if (rawJwt !== undefined && rawJwt !== null) {
    if (!isRecord(rawJwt)) throw fail("jwt must be an object");
    rejectUnknownKeys(rawJwt, ["secret", "publicKeyPem", "audience", "issuer", "clockToleranceSec", "adminRole", "kid"], "jwt", fail);
    const optionalString = (field: string): string | undefined => {
      const v = rawJwt[field];
      if (v === undefined) return undefined;
      if (typeof v !== "string" || v === "") throw fail(`jwt.${field} must be a non-empty string`);
      return v;
    };
    const secret = optionalString("secret");
    const publicKeyPem = optionalString("publicKeyPem");
    const audience = optionalString("audience");
    const issuer = optionalString("issuer");
    const adminRole = optionalString("adminRole");
    const kid = optionalString("kid");
    if (secret === undefined && publicKeyPem === undefined) throw fail("jwt needs a secret (HS256) or a publicKeyPem (RS256/ES256)");
    if (secret !== undefined && Buffer.byteLength(secret, "utf8") < MIN_SECRET_BYTES) {
      throw fail(`jwt.secret must be at least ${MIN_SECRET_BYTES} bytes`);
    }
    if (publicKeyPem !== undefined) publicKeyAlgorithm(publicKeyPem, fail);
    if (audience === undefined) throw fail("jwt.audience is required");
    const tolerance = rawJwt["clockToleranceSec"];
    if (tolerance !== undefined && (typeof tolerance !== "number" || !Number.isInteger(tolerance) || tolerance < 0 || tolerance > 3600)) {
      throw fail("jwt.clockToleranceSec must be an integer from 0 to 3600");
    }
    jwt = {
      audience,
      ...(secret === undefined ? {} : { secret }),
      ...(publicKeyPem === undefined ? {} : { publicKeyPem }),
      ...(issuer === undefined ? {} : { issuer }),
      ...(adminRole === undefined ? {} : { adminRole }),
      ...(kid === undefined ? {} : { kid }),
      ...(tolerance === undefined ? {} : { clockToleranceSec: tolerance as number }),
    };
  }
  if (tokens.length === 0 && jwt === undefined) return undefined;
  return jwt === undefined ? { tokens } : { tokens, jwt };
}

export type Authenticator = (authorizationHeader: string | null | undefined, now?: Date) => Promise<Identity>;

/**
 * Prepares the keys and token hashes once and returns the function that authenticates one call.
 * Throws AuthConfigError for a key it cannot use.
 */
export function createAuthenticator(config: AuthConfig): Authenticator {
  const hashes = config.tokens.map((t) => ({ entry: t, digest: Buffer.from(t.sha256, "hex") }));
  const jwt = config.jwt === undefined ? undefined : prepareJwt(config.jwt);

  return async (header, now) => {
    const token = bearerToken(header);
    if (jwt !== undefined && LOOKS_LIKE_JWT.test(token)) return verifyJwt(jwt, token, now);
    // Constant time per entry, and every entry is compared: no early exit, no string ===.
    const presented = createHash("sha256").update(token, "utf8").digest();
    let found: TokenEntry | undefined;
    for (const { entry, digest } of hashes) {
      if (timingSafeEqual(presented, digest) && found === undefined) found = entry;
    }
    if (found === undefined) throw new AuthError("unknown bearer token");
    return { service: found.service, admin: found.admin === true, via: "token" };
  };
}

/** Authenticates one call: the identity, or AuthError (UNAUTHENTICATED). */
export async function authenticate(config: AuthConfig, authorizationHeader: string | null | undefined, now?: Date): Promise<Identity> {
  return createAuthenticator(config)(authorizationHeader, now);
}

function bearerToken(header: string | null | undefined): string {
  if (header === null || header === undefined || header === "") {
    throw new AuthError('missing authorization header: send "authorization: Bearer <token>"');
  }
  const m = BEARER.exec(header);
  if (m === null || m[1] === undefined) {
    throw new AuthError('malformed authorization header: expected "Bearer <token>"');
  }
  return m[1];
}

type JwtAlgorithm = "HS256" | "RS256" | "ES256";

interface PreparedJwt {
  readonly config: JwtConfig;
  readonly secret: Uint8Array | undefined;
  readonly publicKey: { readonly key: KeyObject; readonly alg: JwtAlgorithm } | undefined;
  readonly algorithms: JwtAlgorithm[];
}

function prepareJwt(config: JwtConfig): PreparedJwt {
  const fail = (why: string) => new AuthConfigError(`auth config: ${why}`);
  const secret = config.secret === undefined ? undefined : new TextEncoder().encode(config.secret);
  const publicKey =
    config.publicKeyPem === undefined
      ? undefined
      : { key: createPublicKey(config.publicKeyPem), alg: publicKeyAlgorithm(config.publicKeyPem, fail) };
  const algorithms: JwtAlgorithm[] = [];
  if (secret !== undefined) algorithms.push("HS256");
  if (publicKey !== undefined) algorithms.push(publicKey.alg);
  return { config, secret, publicKey, algorithms };
}

function publicKeyAlgorithm(pem: string, fail: (why: string) => Error): JwtAlgorithm {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw fail(`jwt.publicKeyPem is not a PEM public key (${(err as Error).message})`);
  }
  if (key.asymmetricKeyType === "rsa") {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw fail("jwt.publicKeyPem: RSA keys must be at least 2048 bits");
    return "RS256";
  }
  if (key.asymmetricKeyType === "ec" && key.asymmetricKeyDetails?.namedCurve === "prime256v1") return "ES256";
  throw fail("jwt.publicKeyPem must be an RSA (RS256) or P-256 (ES256) public key");
}

async function verifyJwt(prepared: PreparedJwt, token: string, now: Date | undefined): Promise<Identity> {
  const { config } = prepared;
  let payload: JWTPayload;
  try {
    const result = await jwtVerify(
      token,
      (header) => {
        if (config.kid !== undefined && header.kid !== config.kid) {
          throw new AuthError(`JWT key id ${header.kid === undefined ? "is missing" : `"${clip(header.kid)}" is unknown`}`);
        }
        // Each algorithm has exactly one key: an HS256 token is checked with the secret only,
        // never with the public key's bytes (algorithm confusion).
        if (header.alg === "HS256" && prepared.secret !== undefined) return prepared.secret;
        if (prepared.publicKey !== undefined && header.alg === prepared.publicKey.alg) return prepared.publicKey.key;
        throw new joseErrors.JOSEAlgNotAllowed(`"alg" (Algorithm) Header Parameter value not allowed`);
      },
      {
        algorithms: prepared.algorithms,
        audience: config.audience,
        ...(config.issuer === undefined ? {} : { issuer: config.issuer }),
        clockTolerance: config.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
        requiredClaims: ["exp", "sub"],
        ...(now === undefined ? {} : { currentDate: now }),
      },
    );
    payload = result.payload;
  } catch (err) {
    if (err instanceof AuthError) throw err;
    throw new AuthError(jwtProblem(err), { cause: err });
  }
  const sub = payload.sub;
  if (sub === undefined || !SERVICE_NAME.test(sub)) throw new AuthError("JWT subject is not a service name");
  const roles = payload["roles"];
  const roleList = Array.isArray(roles) ? roles : typeof roles === "string" ? roles.split(" ") : [];
  const admin = config.adminRole !== undefined && roleList.includes(config.adminRole);
  return { service: sub, admin, via: "jwt" };
}

/** A message that says what is wrong with a JWT without echoing it. */
function jwtProblem(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "JWT has expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case "nbf":
        return "JWT is not yet valid (nbf is in the future)";
      case "iat":
        return "JWT is issued in the future";
      case "aud":
        return "JWT audience does not match";
      case "iss":
        return "JWT issuer does not match";
      default:
        return `JWT claim "${clip(err.claim)}" is missing or invalid`;
    }
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return "JWT algorithm is not allowed";
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "JWT signature is invalid";
  return "JWT is malformed";
}
