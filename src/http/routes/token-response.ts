import type { UserRecord } from '../../stores/contract.js'
import type { IssuedAccess } from '../../tokens/service.js'
import { publicUser } from '../../users/users.js'
import { json } from '../responses.js'

/** 200 with a new access token (RFC 6749 §5.1 shape); `no-store` comes with every response. */
export function tokenResponse(user: UserRecord, issued: IssuedAccess): Response {
  return json(200, {
    token_type: 'Bearer',
    access_token: issued.access.token,
    expires_in: issued.access.expiresIn,
    user: publicUser(user),
  })
}
