import { decorate } from '../stores/decorate.js'
import type { Store } from '../stores/contract.js'
import type { RevocationFact } from './facts.js'
import type { RevocationFeed } from './feed.js'

/**
 * The store with every revoking write followed by its facts on the feed: the store
 * first (the source of truth), then the bus. The write's own result names what died,
 * so a fact is published only for what the store actually changed.
 */
export function publishingStore(store: Store, feed: RevocationFeed): Store {
  const publish = (facts: RevocationFact[]) => feed.publish(facts)
  const logins = (userId: string, ids: readonly string[]): RevocationFact[] =>
    ids.map((loginId) => ({ type: 'login', loginId, userId }))

  const overrides: Partial<Store> = {
    async changePassword(userId, passwordHash, keepLoginId, now) {
      const changed = await store.changePassword(userId, passwordHash, keepLoginId, now)
      if (changed !== null) {
        await publish([
          { type: 'user', userId, version: changed.tokenVersion },
          ...logins(userId, changed.revokedLoginIds),
        ])
      }
      return changed
    },
    async bumpTokenVersion(userId, now) {
      const version = await store.bumpTokenVersion(userId, now)
      if (version !== null) await publish([{ type: 'user', userId, version }])
      return version
    },
    async revokeLogin(userId, loginId, now) {
      const revoked = await store.revokeLogin(userId, loginId, now)
      if (revoked) await publish(logins(userId, [loginId]))
      return revoked
    },
    async revokeUserLogins(userId, exceptLoginId, now) {
      const ids = await store.revokeUserLogins(userId, exceptLoginId, now)
      await publish(logins(userId, ids))
      return ids
    },
    async denyToken(jti, expiresAt) {
      await store.denyToken(jti, expiresAt)
      await publish([{ type: 'token', jti, until: expiresAt }])
    },
    async insertSigningKey(record) {
      await store.insertSigningKey(record)
      await publish([{ type: 'key', kid: record.kid }])
    },
    async retireSigningKey(kid, retiredAt, expiresAt) {
      const retired = await store.retireSigningKey(kid, retiredAt, expiresAt)
      if (retired) await publish([{ type: 'key', kid }])
      return retired
    },
  }
  return decorate(store, overrides)
}
