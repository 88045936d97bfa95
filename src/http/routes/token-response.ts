import type { IssuedTokens } from '../../refresh/families.js'
import { refreshCookie } from '../../sessions/cookies.js'
import { publicUser } from '../../users/users.js'
import { json } from '../responses.js'
import type { Reply } from '../responses.js'

/** Where the refresh token travels: the body (native, CLI) or an HttpOnly cookie (browsers). */
export type RefreshTransport = 'body' | 'cookie'

/**
 * 200 with a new access token and refresh token (RFC 6749 §5.1 shape); `no-store` comes
 * with every response. With the cookie transport the refresh token never reaches script.
 */
export function tokenResponse(
  issued: IssuedTokens,
  transport: RefreshTransport,
  now: number,
): Reply {
  const body = {
    token_type: 'Bearer',
    access_token: issued.access.token,
    expires_in: issued.access.expiresIn,
    user: publicUser(issued.user),
  }
  if (transport === 'body') return json(200, { ...body, refresh_token: issued.refreshToken })
  // The browser may drop the cookie at the family's absolute end; the server ends it anyway.
  const maxAge = (issued.login.absoluteExpiresAt - now) / 1000
  return json(200, body, [refreshCookie(issued.refreshToken, maxAge)])
}
