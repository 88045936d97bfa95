import type { Kysely } from 'kysely'
import type { Store } from '../contract.js'
import { toRefreshToken, toRefreshTokenRow } from './schema.js'
import type { Database } from './schema.js'

/** The refresh-token operations of a store. */
export type RefreshOperations = Pick<
  Store,
  'createRefreshToken' | 'getRefreshToken' | 'rotateRefreshToken'
>

/** The refresh-token operations of the SQL store, run through its `guard`. */
export function refreshOperations(
  db: Kysely<Database>,
  guard: <T>(query: () => Promise<T>) => Promise<T>,
): RefreshOperations {
  return {
    async createRefreshToken(token) {
      await guard(() => db.insertInto('refresh_tokens').values(toRefreshTokenRow(token)).execute())
    },

    async getRefreshToken(id) {
      const row = await guard(() =>
        db.selectFrom('refresh_tokens').selectAll().where('id', '=', id).executeTakeFirst(),
      )
      return row === undefined ? null : toRefreshToken(row)
    },

    async rotateRefreshToken(parentId, child, now, idleExpiresAt) {
      return guard(() =>
        db.transaction().execute(async (trx) => {
          // The conditional update is the whole race: on any dialect, of concurrent
          // rotations of one parent only one sees `spent_at is null` and changes a row.
          const spent = await trx
            .updateTable('refresh_tokens')
            .set({ spent_at: now, child_id: child.id })
            .where('id', '=', parentId)
            .where('spent_at', 'is', null)
            .executeTakeFirst()
          if (spent.numUpdatedRows === 0n) return false
          await trx.insertInto('refresh_tokens').values(toRefreshTokenRow(child)).execute()
          // A revoked family stays revoked; its new child is then as dead as the family.
          await trx
            .updateTable('logins')
            .set({ last_seen_at: now, idle_expires_at: idleExpiresAt })
            .where('id', '=', child.familyId)
            .where('revoked_at', 'is', null)
            .execute()
          return true
        }),
      )
    },
  }
}
