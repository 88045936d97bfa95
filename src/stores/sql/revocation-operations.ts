import type { Kysely } from 'kysely'
import type { RevocationFact } from '../../revocation/facts.js'
import type { Store } from '../contract.js'
import type { Database } from './schema.js'

/** The operation that rebuilds recent revocation facts for subscribers that start late. */
export type RevocationOperations = Pick<Store, 'listRevocationFacts'>

/** The revocation-fact reads of the SQL store, run through its `guard`. */
export function revocationOperations(
  db: Kysely<Database>,
  guard: <T>(query: () => Promise<T>) => Promise<T>,
): RevocationOperations {
  return {
    async listRevocationFacts(since, now) {
      // One transaction, so that the three reads agree with one another.
      const [logins, denied, users] = await guard(() =>
        db
          .transaction()
          .execute(async (trx) => [
            await trx
              .selectFrom('logins')
              .select(['id', 'user_id'])
              .where('revoked_at', '>=', since)
              .execute(),
            await trx
              .selectFrom('denied_tokens')
              .select(['jti', 'expires_at'])
              .where('expires_at', '>', now)
              .execute(),
            await trx
              .selectFrom('users')
              .select(['id', 'token_version'])
              .where('updated_at', '>=', since)
              .execute(),
          ]),
      )
      const facts: RevocationFact[] = []
      for (const row of logins) facts.push({ type: 'login', loginId: row.id, userId: row.user_id })
      for (const row of denied) {
        facts.push({ type: 'token', jti: row.jti, until: Number(row.expires_at) })
      }
      for (const row of users) {
        facts.push({ type: 'user', userId: row.id, version: Number(row.token_version) })
      }
      return facts
    },
  }
}
