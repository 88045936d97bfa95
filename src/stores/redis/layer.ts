/**
 * Redis beside the store: copies of the hot reads (logins, users, "this jti is not
 * denied") and the rate-limit counters. The wrapped store stays the source of truth, so a
 * Redis that is down, slow or restarted empty costs speed, never a login or a revocation.
 *
 * Reads are cache-aside: a miss reads the store and fills with `SET NX`. Every write goes
 * to the store first, then overwrites the copy it made stale with a tombstone that lives
 * `ttlMs`; a reader that read the store before the write and fills after it finds the
 * tombstone and cannot resurrect the old record. A reader that meets a tombstone asks the
 * store and fills nothing.
 *
 * When Redis fails, reads fall back to the store and writes still succeed. A tombstone
 * that could not be written is retried, in order, before this layer reads that key from
 * Redis again; until then the key is read from the store. What remains: another node
 * may read such a copy until it expires, at most `ttlMs` after it was filled (the
 * per-node caches above have their own bound, and the revocation bus reaches them), and
 * the same holds when a write fails after the store applied it or the process ends with
 * tombstones still pending. A copy of a login that `deleteExpired` removed may also be
 * served until it expires; it is past its own expiry, so no caller accepts it.
 *
 * A denied jti is always checked in the store: the store does not say until when a denial
 * holds, and a denied token comes back rarely. While Redis is down the store counts rate
 * limits, so a window that spans the outage starts over on each side of it.
 */
import { decorate } from '../decorate.js'
import { ConfigError } from '../../errors.js'
import type { LoginRecord, Store, UserRecord } from '../contract.js'
import {
  TOMBSTONE,
  cacheKeys,
  decodeClearDenial,
  decodeLogin,
  decodeUser,
  encodeClearDenial,
  encodeLogin,
  encodeUser,
} from './codec.js'
import { connectRedis, type RedisClient } from './connection.js'
import { PendingInvalidations } from './invalidations.js'
import { deleteEndedRateLimits, hitRedisRateLimit } from './rate-limit.js'

/** How {@link redisLayer} reaches Redis and how long its copies live. */
export interface RedisLayerOptions {
  /** A connection (closed by its owner), or a URL for a connection the layer owns. */
  redis: RedisClient | string
  /** Put before every key, so that deployments can share a Redis. Default `latchkey:`. */
  prefix?: string
  /** How long a copy or a tombstone lives in Redis, in ms. Default 60 000. */
  ttlMs?: number
}

/** Wraps `store` with Redis copies of its hot reads and Redis rate-limit counters. */
export function redisLayer(store: Store, options: RedisLayerOptions): Store {
  const ttlMs = options.ttlMs ?? 60_000
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new ConfigError('The Redis cache TTL must be a positive whole number of ms.')
  }
  const owned = typeof options.redis === 'string'
  const redis = typeof options.redis === 'string' ? connectRedis(options.redis) : options.redis
  // Outages are handled command by command; the event would otherwise only be logged.
  if (owned) redis.on('error', () => {})
  const keys = cacheKeys(options.prefix ?? 'latchkey:')
  const bury = (key: string) => redis.set(key, TOMBSTONE, 'PX', ttlMs)
  const pending = new PendingInvalidations(bury)

  /** Tombstones the copies a write made stale; a failure waits in `pending`. */
  async function invalidate(stale: readonly string[]): Promise<void> {
    await Promise.all(
      stale.map(async (key) => {
        try {
          await bury(key)
          pending.settled(key)
        } catch {
          pending.add(key)
        }
      }),
    )
  }

  /** The store's write, then the tombstones; also when the write failed, as it may have landed. */
  async function writing<T>(
    write: Promise<T>,
    stale: (result: T) => readonly string[],
    staleOnError: readonly string[],
  ): Promise<T> {
    let result: T
    try {
      result = await write
    } catch (error) {
      await invalidate(staleOnError)
      throw error
    }
    await invalidate(stale(result))
    return result
  }

  async function cached<T>(
    key: string,
    decode: (value: string) => T | undefined,
    load: () => Promise<T>,
    encode: (result: T) => string | undefined,
  ): Promise<T> {
    if (pending.has(key)) {
      await pending.flush()
      if (pending.has(key)) return load()
    } else if (pending.size > 0) {
      void pending.flush()
    }
    let value: string | null
    try {
      value = await redis.get(key)
    } catch {
      return load()
    }
    if (value !== null) return decode(value) ?? load()
    const result = await load()
    const fill = encode(result)
    // A tombstone that failed since the load began means the loaded value may be stale.
    if (fill !== undefined && !pending.has(key)) {
      await redis.set(key, fill, 'PX', ttlMs, 'NX').catch(() => undefined)
    }
    return result
  }

  const loginKeys = (ids: readonly string[]) => ids.map((id) => keys.login(id))
  const overrides: Partial<Store> = {
    getLogin: (id) =>
      cached<LoginRecord | null>(
        keys.login(id),
        decodeLogin,
        () => store.getLogin(id),
        (login) => (login === null ? undefined : encodeLogin(login)),
      ),
    getUserById: (id) =>
      cached<UserRecord | null>(
        keys.user(id),
        decodeUser,
        () => store.getUserById(id),
        (user) => (user === null ? undefined : encodeUser(user)),
      ),
    isTokenDenied: (jti, now) =>
      cached<boolean>(
        keys.denial(jti),
        (value) => {
          const since = decodeClearDenial(value)
          return since !== undefined && since <= now ? false : undefined
        },
        () => store.isTokenDenied(jti, now),
        (denied) => (denied ? undefined : encodeClearDenial(now)),
      ),
    async hitRateLimit(key, windowMs, now) {
      try {
        return await hitRedisRateLimit(redis, keys.rateLimit(key), windowMs, now)
      } catch {
        return store.hitRateLimit(key, windowMs, now)
      }
    },

    touchLogin: (id, lastSeenAt, idleExpiresAt) =>
      writing(
        store.touchLogin(id, lastSeenAt, idleExpiresAt),
        (touched) => (touched ? [keys.login(id)] : []),
        [keys.login(id)],
      ),
    revokeLogin: (userId, loginId, now) =>
      writing(
        store.revokeLogin(userId, loginId, now),
        (revoked) => (revoked ? [keys.login(loginId)] : []),
        [keys.login(loginId)],
      ),
    revokeUserLogins: (userId, exceptLoginId, now) =>
      writing(store.revokeUserLogins(userId, exceptLoginId, now), loginKeys, []),
    changePassword: (userId, passwordHash, keepLoginId, now) =>
      writing(
        store.changePassword(userId, passwordHash, keepLoginId, now),
        (changed) =>
          changed === null ? [] : [keys.user(userId), ...loginKeys(changed.revokedLoginIds)],
        [keys.user(userId)],
      ),
    bumpTokenVersion: (userId, now) =>
      writing(
        store.bumpTokenVersion(userId, now),
        (version) => (version === null ? [] : [keys.user(userId)]),
        [keys.user(userId)],
      ),
    updatePasswordHash: (userId, passwordHash, now) =>
      writing(store.updatePasswordHash(userId, passwordHash, now), () => [keys.user(userId)], [
        keys.user(userId),
      ]),
    // The store renews the family login now and then; the copy goes when it did. Should
    // the write fail, which login it may have renewed is unknown here: its copy then keeps
    // the activity before this rotation, an earlier idle expiry, until it expires (it can
    // refuse early, never accept late).
    rotateRefreshToken: (rotation) =>
      writing(
        store.rotateRefreshToken(rotation),
        (rotated) => (rotated?.renewed && rotated.login ? [keys.login(rotated.login.id)] : []),
        [],
      ),
    denyToken: (jti, expiresAt) =>
      writing(store.denyToken(jti, expiresAt), () => [keys.denial(jti)], [keys.denial(jti)]),

    // Copies of deleted rows need no work here (see above); the counters do, as their
    // windows end on the caller's clock, not on Redis's.
    async deleteExpired(now) {
      const deleted = await store.deleteExpired(now)
      try {
        return deleted + (await deleteEndedRateLimits(redis, keys.rateLimit(''), now))
      } catch {
        // Redis still reclaims them as they expire.
        return deleted
      }
    },

    // Redis being down is not the store being down.
    ping: () => store.ping(),
    async close() {
      try {
        if (owned) await redis.quit().catch(() => redis.disconnect())
      } finally {
        await store.close()
      }
    },
  }
  return decorate(store, overrides)
}
