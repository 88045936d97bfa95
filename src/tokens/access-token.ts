import type { KeyObject } from 'node:crypto'
import { ConfigError } from '../errors.js'
import { randomId } from '../crypto/opaque-token.js'
import type { SigningAlg } from './algorithms.js'
import type { AccessTokenClaims } from './claims.js'
import { signBytes } from './signature.js'

/** The key a token is signed with; produced by the keyring, never built by hand. */
export interface SigningKey {
  kid: string
  alg: SigningAlg
  privateKey: KeyObject
}

/** What the caller decides about a token; the times and the `jti` are filled in here. */
export interface AccessTokenInput {
  iss: string
  sub: string
  aud: string | string[]
  sid: string
  ver: number
  scope?: string
  roles?: readonly string[]
}

/** When the token is issued (epoch ms) and how long it lives. */
export interface AccessTokenOptions {
  now: number
  /** Lifetime in seconds (default 600). Must not exceed the keyring's `maxTokenTtlSeconds`. */
  ttlSeconds?: number
}

/** A signed token with the claims it carries. */
export interface SignedAccessToken {
  token: string
  claims: AccessTokenClaims
  /** Seconds until `exp`, for the `expires_in` of a token response. */
  expiresIn: number
}

/** RFC 9068 access tokens live 10 minutes unless configured otherwise. */
export const DEFAULT_ACCESS_TOKEN_TTL_SECONDS = 600

/** The JWS `typ` of an access token (RFC 9068 §2.1). */
export const ACCESS_TOKEN_TYPE = 'at+jwt'

/** Signs an RFC 9068 access token (`typ: at+jwt`) with the given keyring key. */
export function signAccessToken(
  key: SigningKey,
  input: AccessTokenInput,
  options: AccessTokenOptions,
): SignedAccessToken {
  const ttl = options.ttlSeconds ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS
  if (!Number.isSafeInteger(ttl) || ttl <= 0) {
    throw new ConfigError('The access-token TTL must be a positive whole number of seconds')
  }
  const iat = Math.floor(options.now / 1000)
  const claims: AccessTokenClaims = {
    iss: input.iss,
    sub: input.sub,
    aud: typeof input.aud === 'string' ? input.aud : [...input.aud],
    exp: iat + ttl,
    iat,
    jti: randomId(),
    sid: input.sid,
    ver: input.ver,
  }
  if (input.scope !== undefined) claims.scope = input.scope
  if (input.roles !== undefined) claims.roles = [...input.roles]

  const header = { alg: key.alg, typ: ACCESS_TOKEN_TYPE, kid: key.kid }
  const signingInput = `${encodeJson(header)}.${encodeJson(claims)}`
  const signature = signBytes(key.alg, key.privateKey, Buffer.from(signingInput, 'utf8'))
  return { token: `${signingInput}.${signature.toString('base64url')}`, claims, expiresIn: ttl }
}

function encodeJson(value: object): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')
}
