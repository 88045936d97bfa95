import { JWKS_CACHE_CONTROL } from '../../tokens/keyring.js'
import type { App } from '../app.js'
import { json } from '../responses.js'
import type { Route } from '../router.js'

/** The public keys and the discovery document: what other services need to verify tokens. */
export function wellKnownRoutes(app: App): Route[] {
  const { issuer } = app.config
  return [
    {
      method: 'GET',
      path: '/.well-known/jwks.json',
      async handler() {
        const reply = json(200, await app.tokens.jwks())
        // Verifiers cache keys; a new key is published a max-age before it signs.
        reply.headers['cache-control'] = JWKS_CACHE_CONTROL
        return reply
      },
    },
    {
      method: 'GET',
      path: '/.well-known/openid-configuration',
      async handler() {
        const published = (await app.tokens.jwks()).keys.map((key) => key.alg)
        const algs = [...new Set([app.config.tokens.alg, ...published])]
        const reply = json(200, {
          issuer,
          jwks_uri: `${issuer}/.well-known/jwks.json`,
          signup_endpoint: `${issuer}/auth/signup`,
          login_endpoint: `${issuer}/auth/login`,
          refresh_endpoint: `${issuer}/auth/refresh`,
          logout_endpoint: `${issuer}/auth/logout`,
          session_endpoint: `${issuer}/auth/session`,
          sessions_endpoint: `${issuer}/auth/sessions`,
          password_endpoint: `${issuer}/auth/password`,
          token_types_supported: ['Bearer'],
          access_token_signing_alg_values_supported: algs,
          access_token_ttl_seconds: app.config.tokens.accessTokenTtlSeconds,
          audience: app.config.tokens.audience,
        })
        reply.headers['cache-control'] = JWKS_CACHE_CONTROL
        return reply
      },
    },
  ]
}
