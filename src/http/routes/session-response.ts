import type { LoginRecord, UserRecord } from '../../stores/contract.js'
import { sessionCookie } from '../../sessions/cookies.js'
import { csrfTokenFor } from '../../sessions/csrf.js'
import { publicUser } from '../../users/users.js'
import type { App } from '../app.js'
import { json } from '../responses.js'
import type { Reply } from '../responses.js'
import { loginView } from './views.js'

/** The body that tells a browser app about its session, and its CSRF token. */
export function sessionBody(app: App, user: UserRecord, login: LoginRecord) {
  return {
    user: publicUser(user),
    session: loginView(login, login.id),
    csrfToken: csrfTokenFor(app.csrfKey, login.id),
  }
}

/** 200 with a brand-new session cookie that lives until the session's absolute expiry. */
export function newSessionResponse(
  app: App,
  user: UserRecord,
  issued: { login: LoginRecord; token: string },
): Reply {
  const maxAge = (issued.login.absoluteExpiresAt - app.config.clock()) / 1000
  return json(200, sessionBody(app, user, issued.login), [sessionCookie(issued.token, maxAge)])
}
