import type { ColumnType, Insertable, Selectable } from 'kysely'
import { isSigningAlg } from '../../tokens/algorithms.js'
import type {
  LoginKind,
  LoginRecord,
  RefreshTokenRecord,
  SigningKeyRecord,
  UserRecord,
} from '../contract.js'

/**
 * Epoch milliseconds in a `bigint` column. SQLite hands back a number; Postgres returns
 * int8 as a string (it may exceed 2^53), so every read goes through `Number()`.
 */
export type Millis = ColumnType<number | string, number, number>

/** A nullable {@link Millis}. */
export type NullableMillis = ColumnType<number | string | null, number | null, number | null>

export interface UsersTable {
  id: string
  email: string
  email_normalized: string
  password_hash: string
  token_version: number
  created_at: Millis
  updated_at: Millis
}

export interface LoginsTable {
  id: string
  user_id: string
  kind: string
  /** SHA-256 of the secret, base64url without padding: one text type on every dialect. */
  secret_hash: string | null
  created_at: Millis
  last_seen_at: Millis
  idle_expires_at: Millis
  absolute_expires_at: Millis
  ip: string | null
  user_agent: string | null
  revoked_at: NullableMillis
}

export interface RateLimitsTable {
  key: string
  count: number
  reset_at: Millis
}

export interface SigningKeysTable {
  kid: string
  alg: string
  public_jwk: string | null
  /** Encrypted under a key derived from the master secret; never plaintext. */
  encrypted_private_key: string
  created_at: Millis
  activates_at: Millis
  retired_at: NullableMillis
  expires_at: NullableMillis
}

export interface DeniedTokensTable {
  jti: string
  expires_at: Millis
}

export interface RefreshTokensTable {
  id: string
  family_id: string
  user_id: string
  /** SHA-256 of the secret, base64url, like `logins.secret_hash`. */
  secret_hash: string
  created_at: Millis
  spent_at: NullableMillis
  child_id: string | null
}

/** The tables of the SQL stores, as Kysely sees them. */
export interface Database {
  users: UsersTable
  logins: LoginsTable
  rate_limits: RateLimitsTable
  signing_keys: SigningKeysTable
  denied_tokens: DeniedTokensTable
  refresh_tokens: RefreshTokensTable
}

/** A signing key as a row of `signing_keys`. */
export function toSigningKeyRow(record: SigningKeyRecord): Insertable<SigningKeysTable> {
  return {
    kid: record.kid,
    alg: record.alg,
    public_jwk: record.publicJwk,
    encrypted_private_key: record.encryptedPrivateKey,
    created_at: record.createdAt,
    activates_at: record.activatesAt,
    retired_at: record.retiredAt,
    expires_at: record.expiresAt,
  }
}

/** A row of `signing_keys` as a record; an unknown alg is refused, never guessed. */
export function toSigningKey(row: Selectable<SigningKeysTable>): SigningKeyRecord {
  if (!isSigningAlg(row.alg)) {
    throw new TypeError(`Unknown signing algorithm in the store: ${JSON.stringify(row.alg)}`)
  }
  return {
    kid: row.kid,
    alg: row.alg,
    publicJwk: row.public_jwk,
    encryptedPrivateKey: row.encrypted_private_key,
    createdAt: Number(row.created_at),
    activatesAt: Number(row.activates_at),
    retiredAt: row.retired_at === null ? null : Number(row.retired_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  }
}

/** A user as a row of `users`. */
export function toUserRow(user: UserRecord): Insertable<UsersTable> {
  return {
    id: user.id,
    email: user.email,
    email_normalized: user.emailNormalized,
    password_hash: user.passwordHash,
    token_version: user.tokenVersion,
    created_at: user.createdAt,
    updated_at: user.updatedAt,
  }
}

/** A row of `users` as a record; int8 columns may arrive as strings (Postgres). */
export function toUser(row: Selectable<UsersTable>): UserRecord {
  return {
    id: row.id,
    email: row.email,
    emailNormalized: row.email_normalized,
    passwordHash: row.password_hash,
    tokenVersion: Number(row.token_version),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  }
}

/** A login as a row of `logins`, its hash in base64url. */
export function toLoginRow(login: LoginRecord): Insertable<LoginsTable> {
  return {
    id: login.id,
    user_id: login.userId,
    kind: login.kind,
    secret_hash:
      login.secretHash === null ? null : Buffer.from(login.secretHash).toString('base64url'),
    created_at: login.createdAt,
    last_seen_at: login.lastSeenAt,
    idle_expires_at: login.idleExpiresAt,
    absolute_expires_at: login.absoluteExpiresAt,
    ip: login.ip,
    user_agent: login.userAgent,
    revoked_at: login.revokedAt,
  }
}

/** A row of `logins` as a record, the hash back in bytes. */
export function toLogin(row: Selectable<LoginsTable>): LoginRecord {
  return {
    id: row.id,
    userId: row.user_id,
    kind: toKind(row.kind),
    secretHash:
      row.secret_hash === null ? null : new Uint8Array(Buffer.from(row.secret_hash, 'base64url')),
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    idleExpiresAt: Number(row.idle_expires_at),
    absoluteExpiresAt: Number(row.absolute_expires_at),
    ip: row.ip,
    userAgent: row.user_agent,
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  }
}

function toKind(kind: string): LoginKind {
  if (kind === 'session' || kind === 'token') return kind
  throw new TypeError(`Unknown login kind in the store: ${JSON.stringify(kind)}`)
}

/** A refresh token as a row of `refresh_tokens`. */
export function toRefreshTokenRow(token: RefreshTokenRecord): Insertable<RefreshTokensTable> {
  return {
    id: token.id,
    family_id: token.familyId,
    user_id: token.userId,
    secret_hash: Buffer.from(token.secretHash).toString('base64url'),
    created_at: token.createdAt,
    spent_at: token.spentAt,
    child_id: token.childId,
  }
}

/** A row of `refresh_tokens` as a record. */
export function toRefreshToken(row: Selectable<RefreshTokensTable>): RefreshTokenRecord {
  return {
    id: row.id,
    familyId: row.family_id,
    userId: row.user_id,
    secretHash: new Uint8Array(Buffer.from(row.secret_hash, 'base64url')),
    createdAt: Number(row.created_at),
    spentAt: row.spent_at === null ? null : Number(row.spent_at),
    childId: row.child_id,
  }
}
