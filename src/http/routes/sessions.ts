import { z } from 'zod'
import { AuthError } from '../../errors.js'
import { clearedSessionCookie } from '../../sessions/cookies.js'
import { publicUser } from '../../users/users.js'
import type { App } from '../app.js'
import { authenticate } from '../authenticate.js'
import { readBody } from '../body.js'
import { clientInfo } from '../client.js'
import { json, noContent } from '../responses.js'
import type { Route } from '../router.js'
import { newSessionResponse, sessionBody } from './session-response.js'
import { tokenResponse } from './token-response.js'
import { loginView } from './views.js'

const PasswordBody = z.object({
  currentPassword: z.string().max(4096),
  newPassword: z.string().max(4096),
})

/** The caller's session, their logins, revoking one, and changing the password. */
export function sessionRoutes(app: App): Route[] {
  const { config, users, sessions, rateLimiter } = app
  const { store } = config

  return [
    {
      method: 'GET',
      path: '/auth/session',
      async handler(request) {
        const caller = await authenticate(app, request)
        const { user, login } = caller
        // A CSRF token is for cookie callers; a Bearer client never needs one.
        if (caller.via === 'bearer') {
          return json(200, { user: publicUser(user), session: loginView(login, login.id) })
        }
        return json(200, sessionBody(app, user, login))
      },
    },
    {
      method: 'GET',
      path: '/auth/sessions',
      async handler(request) {
        const { user, login } = await authenticate(app, request)
        const logins = await store.listLiveLogins(user.id, config.clock())
        return json(200, { sessions: logins.map((each) => loginView(each, login.id)) })
      },
    },
    {
      method: 'DELETE',
      path: '/auth/sessions/:id',
      async handler(request, { params }) {
        const { user, login, via } = await authenticate(app, request)
        const id = params['id'] ?? ''
        // Another user's login id answers exactly like an unknown one.
        if (!(await store.revokeLogin(user.id, id, config.clock()))) {
          throw new AuthError('not_found', 'No such session.')
        }
        return noContent(id === login.id && via === 'cookie' ? [clearedSessionCookie()] : [])
      },
    },
    {
      method: 'POST',
      path: '/auth/password',
      async handler(request, { connection }) {
        const { user, login, via } = await authenticate(app, request)
        const body = await readBody(request, connection, PasswordBody, config.maxBodyBytes)
        await rateLimiter.hit([
          { name: 'password', subject: user.id, rule: config.rateLimits.loginPerAccount },
        ])
        await users.checkPassword(user, body.currentPassword)
        // Every login dies, this one included: the caller continues on a new session id,
        // as after any privilege change.
        await users.changePassword(user, body.newPassword, null)
        app.events.emit('passwordChange', { userId: user.id })
        const client = clientInfo(request, connection, config.trustProxyHops)
        const fresh = await store.getUserById(user.id)
        if (fresh === null) throw new AuthError('unauthorized', 'The account no longer exists.')
        // The version bump has killed every access token and every family; a Bearer
        // caller continues on a new family (a token-mode login of its own).
        if (via === 'bearer') {
          return tokenResponse(await app.refresh.start(fresh, client), 'body', config.clock())
        }
        const remembered =
          login.absoluteExpiresAt - login.createdAt > config.session.lifetime.absoluteMs
        return newSessionResponse(app, fresh, await sessions.create(fresh, client, remembered))
      },
    },
  ]
}
