import { z } from 'zod'
import {
  clearedRefreshCookie,
  clearedSessionCookie,
  readSessionCookie,
} from '../../sessions/cookies.js'
import { AuthError } from '../../errors.js'
import { requestSource } from '../../sessions/csrf.js'
import { parseEmail } from '../../users/email.js'
import { publicUser } from '../../users/users.js'
import type { App } from '../app.js'
import { authenticate, refuseCrossSite, unless401 } from '../authenticate.js'
import type { CredentialRequest } from '../authenticate.js'
import { readBody, readOptionalBody } from '../body.js'
import { clientInfo } from '../client.js'
import { json, noContent } from '../responses.js'
import type { Route } from '../router.js'
import { newSessionResponse } from './session-response.js'
import { tokenResponse } from './token-response.js'

// Generous caps: the precise rules (and their `weak_password` answers) live in users/.
const email = z.string().max(1024)
const password = z.string().max(4096)

const SignupBody = z.object({ email, password })
const LoginBody = z.object({
  email,
  password,
  mode: z.enum(['session', 'token']).default('session'),
  remember: z.boolean().default(false),
  /** Token mode only: where the refresh token goes (`cookie` for browsers). */
  transport: z.enum(['body', 'cookie']).default('body'),
})
const LogoutBody = z.object({ scope: z.enum(['local', 'others', 'global']).default('local') })

/** Sign-up, login and logout. */
export function authRoutes(app: App): Route[] {
  const { config, users, sessions, rateLimiter } = app
  const { rateLimits, store } = config

  return [
    {
      method: 'POST',
      path: '/auth/signup',
      async handler(request, { connection }) {
        refuseCrossSite(app, request)
        const body = await readBody(request, connection, SignupBody, config.maxBodyBytes)
        const client = clientInfo(request, connection, config.trustProxyHops)
        await rateLimiter.hit([
          { name: 'signup-ip', subject: client.ip ?? '', rule: rateLimits.signupPerIp },
        ])
        const user = await users.signup(body.email, body.password)
        app.events.emit('signup', { userId: user.id, email: user.email, ip: client.ip })
        return json(201, { user: publicUser(user) })
      },
    },
    {
      method: 'POST',
      path: '/auth/login',
      async handler(request, { connection }) {
        refuseCrossSite(app, request)
        const body = await readBody(request, connection, LoginBody, config.maxBodyBytes)
        const client = clientInfo(request, connection, config.trustProxyHops)
        const account = parseEmail(body.email)?.normalized ?? body.email
        await rateLimiter.hit([
          { name: 'login-ip', subject: client.ip ?? '', rule: rateLimits.loginPerIp },
          { name: 'login-account', subject: account, rule: rateLimits.loginPerAccount },
        ])
        const user = await users.authenticate(body.email, body.password).catch((error: unknown) => {
          if (error instanceof AuthError && error.code === 'invalid_credentials') {
            app.events.emit('loginFailed', { email: body.email, ip: client.ip })
          }
          throw error
        })
        const loggedIn = (loginId: string, kind: 'session' | 'token') =>
          app.events.emit('login', { userId: user.id, loginId, kind, ...client })
        if (body.mode === 'token') {
          const issued = await app.refresh.start(user, client)
          loggedIn(issued.login.id, 'token')
          return tokenResponse(issued, body.transport, config.clock())
        }
        await endPresentedSession(app, request)
        const created = await sessions.create(user, client, body.remember)
        loggedIn(created.login.id, 'session')
        return newSessionResponse(app, user, created)
      },
    },
    {
      method: 'POST',
      path: '/auth/logout',
      async handler(request, { connection }) {
        const { scope } = await readOptionalBody(
          request,
          connection,
          LogoutBody,
          config.maxBodyBytes,
        )
        // Logging out without a live session is already done; a CSRF failure is not.
        const caller = await unless401(authenticate(app, request))
        if (caller === null) return noContent([clearedSessionCookie()])
        const { user, login } = caller
        const now = config.clock()
        // A cookie is cleared only when it was the credential. A browser in token mode
        // keeps its refresh cookie on the refresh route alone, so it never reaches this
        // one: a Bearer call from a trusted page clears it blindly (the family dies anyway).
        const cleared =
          caller.via === 'cookie'
            ? [clearedSessionCookie()]
            : requestSource(request.headers, config.trustedOrigins) === 'trusted'
              ? [clearedRefreshCookie()]
              : []
        const loggedOut = () =>
          app.events.emit('logout', { userId: user.id, loginId: login.id, scope })
        if (scope === 'others') {
          await store.revokeUserLogins(user.id, login.id, now)
          loggedOut()
          return noContent()
        }
        if (scope === 'global') {
          // The version bump kills every access token of the user, on every verifier.
          await store.bumpTokenVersion(user.id, now)
          await store.revokeUserLogins(user.id, null, now)
        } else {
          await store.revokeLogin(user.id, login.id, now)
          // The denial outlives the login row: deleteExpired may drop a revoked login.
          if (caller.via === 'bearer') await app.tokens.deny(caller.claims)
        }
        loggedOut()
        return noContent(cleared)
      },
    },
  ]
}

/**
 * A login always starts a new session; one the browser still presents is ended rather
 * than left alive beside it.
 */
async function endPresentedSession(app: App, request: CredentialRequest): Promise<void> {
  const token = readSessionCookie(request.headers)
  if (token === null) return
  const previous = await unless401(app.sessions.validate(token))
  if (previous === null) return
  await app.config.store.revokeLogin(previous.user.id, previous.login.id, app.config.clock())
}
