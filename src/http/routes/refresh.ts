import { z } from 'zod'
import { AuthError } from '../../errors.js'
import { clearedRefreshCookie, readRefreshCookie } from '../../sessions/cookies.js'
import { requestSource } from '../../sessions/csrf.js'
import type { App } from '../app.js'
import { readOptionalBody } from '../body.js'
import { errorReply } from '../responses.js'
import type { Route } from '../router.js'
import type { RefreshTransport } from './token-response.js'
import { tokenResponse } from './token-response.js'

// An issued token is 66 characters; the cap only keeps hostile input cheap.
const RefreshBody = z.object({ refresh_token: z.string().max(1024).optional() })

/** `POST /auth/refresh`: rotates a refresh token from the body or the refresh cookie. */
export function refreshRoutes(app: App): Route[] {
  const { config } = app
  const realm = new URL(config.issuer).host
  return [
    {
      method: 'POST',
      path: '/auth/refresh',
      async handler(request, { connection }) {
        const body = await readOptionalBody(request, connection, RefreshBody, config.maxBodyBytes)
        let token = body.refresh_token
        let transport: RefreshTransport = 'body'
        if (token === undefined) {
          token = readRefreshCookie(request.headers) ?? undefined
          if (token === undefined) {
            throw new AuthError('invalid_refresh_token', 'No refresh token was presented.')
          }
          // SameSite=Strict keeps the cookie off cross-site requests, but a sibling
          // subdomain is same-site: the origin check holds there too, as for sessions.
          if (requestSource(request.headers, config.trustedOrigins) !== 'trusted') {
            throw new AuthError('csrf_failed', 'The request does not come from a trusted origin.')
          }
          transport = 'cookie'
        }
        try {
          return tokenResponse(await app.refresh.rotate(token), transport, config.clock())
        } catch (error) {
          if (transport !== 'cookie' || !(error instanceof AuthError) || error.status !== 401) {
            throw error
          }
          // The family is dead or the token was never ours: the browser may drop it.
          const reply = errorReply(error, realm)
          reply.cookies.push(clearedRefreshCookie())
          return reply
        }
      },
    },
  ]
}
