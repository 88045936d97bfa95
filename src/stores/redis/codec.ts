/**
 * How cached records look in Redis. Every value is JSON of a known shape; anything else
 * found under one of our keys (a tombstone, a value of another version, garbage) decodes
 * to `undefined`, and the reader then asks the store instead.
 */
import type { LoginRecord, UserRecord } from '../contract.js'

/** The value written over a copy that a write made stale; never a valid record. */
export const TOMBSTONE = '!'

/** The Redis keys of one layer, all under `prefix` and a format version. */
export interface CacheKeys {
  login(id: string): string
  user(id: string): string
  denial(jti: string): string
  rateLimit(key: string): string
}

/** Builds the key names; the version segment lets a new format ignore old copies. */
export function cacheKeys(prefix: string): CacheKeys {
  const base = `${prefix}v1:`
  return {
    login: (id) => `${base}login:${id}`,
    user: (id) => `${base}user:${id}`,
    denial: (jti) => `${base}denial:${jti}`,
    rateLimit: (key) => `${base}rate:${key}`,
  }
}

/** A login as JSON; the hash bytes travel as base64. */
export function encodeLogin(login: LoginRecord): string {
  const secretHash = login.secretHash && Buffer.from(login.secretHash).toString('base64')
  return JSON.stringify({ ...login, secretHash })
}

/** The login in `value`, or `undefined` when `value` is not one. */
export function decodeLogin(value: string): LoginRecord | undefined {
  const data = parseObject(value)
  if (data === undefined) return undefined
  const { secretHash, kind } = data
  if (kind !== 'session' && kind !== 'token') return undefined
  if (secretHash !== null && typeof secretHash !== 'string') return undefined
  if (!strings(data, 'id', 'userId') || !numbers(data, 'createdAt', 'lastSeenAt')) return undefined
  if (!numbers(data, 'idleExpiresAt', 'absoluteExpiresAt')) return undefined
  if (!nullable(data, 'string', 'ip', 'userAgent') || !nullable(data, 'number', 'revokedAt')) {
    return undefined
  }
  return {
    id: data['id'] as string,
    userId: data['userId'] as string,
    kind,
    secretHash: secretHash === null ? null : new Uint8Array(Buffer.from(secretHash, 'base64')),
    createdAt: data['createdAt'] as number,
    lastSeenAt: data['lastSeenAt'] as number,
    idleExpiresAt: data['idleExpiresAt'] as number,
    absoluteExpiresAt: data['absoluteExpiresAt'] as number,
    ip: data['ip'] as string | null,
    userAgent: data['userAgent'] as string | null,
    revokedAt: data['revokedAt'] as number | null,
  }
}

/** A user as JSON. */
export function encodeUser(user: UserRecord): string {
  return JSON.stringify(user)
}

/** The user in `value`, or `undefined` when `value` is not one. */
export function decodeUser(value: string): UserRecord | undefined {
  const data = parseObject(value)
  if (data === undefined) return undefined
  if (!strings(data, 'id', 'email', 'emailNormalized', 'passwordHash')) return undefined
  if (!numbers(data, 'tokenVersion', 'createdAt', 'updatedAt')) return undefined
  return {
    id: data['id'] as string,
    email: data['email'] as string,
    emailNormalized: data['emailNormalized'] as string,
    passwordHash: data['passwordHash'] as string,
    tokenVersion: data['tokenVersion'] as number,
    createdAt: data['createdAt'] as number,
    updatedAt: data['updatedAt'] as number,
  }
}

/**
 * "Not denied from `since` on": a jti that the store did not deny at `since` stays
 * undenied at every later time until a denial, which overwrites this value. A denial is
 * never cached, as the store does not say until when it holds.
 */
export function encodeClearDenial(since: number): string {
  return JSON.stringify({ clearSince: since })
}

/** The time from which the jti is known to be undenied, or `undefined`. */
export function decodeClearDenial(value: string): number | undefined {
  const data = parseObject(value)
  return data !== undefined && numbers(data, 'clearSince')
    ? (data['clearSince'] as number)
    : undefined
}

type Json = Record<string, unknown>

function parseObject(value: string): Json | undefined {
  if (!value.startsWith('{')) return undefined
  try {
    const data: unknown = JSON.parse(value)
    return typeof data === 'object' && data !== null ? (data as Json) : undefined
  } catch {
    return undefined
  }
}

const strings = (data: Json, ...names: string[]) =>
  names.every((name) => typeof data[name] === 'string')
const numbers = (data: Json, ...names: string[]) =>
  names.every((name) => typeof data[name] === 'number')
const nullable = (data: Json, type: 'string' | 'number', ...names: string[]) =>
  names.every((name) => data[name] === null || typeof data[name] === type)
