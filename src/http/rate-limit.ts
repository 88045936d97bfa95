import type { Clock } from '../clock.js'
import type { RateLimitRule } from '../config.js'
import { hmac } from '../crypto/keys.js'
import { AuthError } from '../errors.js'
import type { Store } from '../stores/contract.js'

/** Counts attempts in the store, so that every node shares one budget. */
export interface RateLimiter {
  /** Counts one attempt against each key; `rate_limited` with Retry-After past a limit. */
  hit(checks: { name: string; subject: string; rule: RateLimitRule }[]): Promise<void>
}

export function createRateLimiter(store: Store, clock: Clock, keyingKey: Uint8Array): RateLimiter {
  return {
    async hit(checks) {
      const now = clock()
      const hits = await Promise.all(
        checks.map(async ({ name, subject, rule }) => {
          // Keyed hash: the counter table never holds an email address or an IP in clear.
          const key = `${name}:${hmac(keyingKey, subject)}`
          return { rule, hit: await store.hitRateLimit(key, rule.windowMs, now) }
        }),
      )
      const blocked = hits.filter(({ rule, hit }) => hit.count > rule.limit)
      if (blocked.length === 0) return
      const retryAfterMs = Math.max(...blocked.map(({ hit }) => hit.resetAt - now))
      throw new AuthError('rate_limited', 'Too many attempts; try again later.', {
        retryAfter: Math.max(1, Math.ceil(retryAfterMs / 1000)),
      })
    },
  }
}
