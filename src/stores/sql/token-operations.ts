import type { Kysely } from 'kysely'
import type { Store } from '../contract.js'
import { toSigningKey, toSigningKeyRow } from './schema.js'
import type { Database } from './schema.js'

/** The operations a keyring and the jti denylist need. */
export type TokenOperations = Pick<
  Store,
  | 'listSigningKeys'
  | 'insertSigningKey'
  | 'retireSigningKey'
  | 'deleteSigningKey'
  | 'denyToken'
  | 'isTokenDenied'
>

/** The signing-key and denylist operations of the SQL store, run through its `guard`. */
export function tokenOperations(
  db: Kysely<Database>,
  guard: <T>(query: () => Promise<T>) => Promise<T>,
): TokenOperations {
  return {
    async listSigningKeys() {
      const rows = await guard(() => db.selectFrom('signing_keys').selectAll().execute())
      return rows.map(toSigningKey)
    },

    async insertSigningKey(record) {
      await guard(() => db.insertInto('signing_keys').values(toSigningKeyRow(record)).execute())
    },

    async retireSigningKey(kid, retiredAt, expiresAt) {
      const result = await guard(() =>
        db
          .updateTable('signing_keys')
          .set({ retired_at: retiredAt, expires_at: expiresAt })
          .where('kid', '=', kid)
          .where('retired_at', 'is', null)
          .executeTakeFirst(),
      )
      return result.numUpdatedRows > 0n
    },

    async deleteSigningKey(kid) {
      await guard(() => db.deleteFrom('signing_keys').where('kid', '=', kid).execute())
    },

    async denyToken(jti, expiresAt) {
      await guard(() =>
        db
          .insertInto('denied_tokens')
          .values({ jti, expires_at: expiresAt })
          .onConflict((oc) =>
            oc.column('jti').doUpdateSet((eb) => ({
              expires_at: eb
                .case()
                .when('excluded.expires_at', '>', eb.ref('denied_tokens.expires_at'))
                .then(eb.ref('excluded.expires_at'))
                .else(eb.ref('denied_tokens.expires_at'))
                .end()
                .$castTo<number>(),
            })),
          )
          .execute(),
      )
    },

    async isTokenDenied(jti, now) {
      const row = await guard(() =>
        db
          .selectFrom('denied_tokens')
          .select('jti')
          .where('jti', '=', jti)
          .where('expires_at', '>', now)
          .executeTakeFirst(),
      )
      return row !== undefined
    },
  }
}
