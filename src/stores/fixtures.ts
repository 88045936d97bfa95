import { randomBytes, randomUUID } from 'node:crypto'
import type { LoginRecord, UserRecord } from './contract.js'

/** Records for store tests; times are fixed, ids and emails fresh, so suites may share a database. */
export const T0 = 1_700_000_000_000
export const MINUTE = 60_000
export const HOUR = 60 * MINUTE

/** A user with fresh ids; `fields` override. */
export function aUser(fields: Partial<UserRecord> = {}): UserRecord {
  const id = randomUUID()
  return {
    id,
    email: `Someone.${id}@Example.COM`,
    emailNormalized: `someone.${id}@example.com`,
    passwordHash: `$argon2id$v=19$m=19456,t=2,p=1$${id}`,
    tokenVersion: 1,
    createdAt: T0,
    updatedAt: T0,
    ...fields,
  }
}

/** A live cookie-session login of `userId`; `fields` override. */
export function aLogin(userId: string, fields: Partial<LoginRecord> = {}): LoginRecord {
  return {
    id: randomUUID(),
    userId,
    kind: 'session',
    secretHash: new Uint8Array(randomBytes(32)),
    createdAt: T0,
    lastSeenAt: T0,
    idleExpiresAt: T0 + 30 * MINUTE,
    absoluteExpiresAt: T0 + 12 * HOUR,
    ip: '203.0.113.7',
    userAgent: 'conformance/1.0',
    revokedAt: null,
    ...fields,
  }
}
