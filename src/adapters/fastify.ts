/**
 * `latchkey/fastify`: a plugin that serves the Latchkey HTTP API inside a Fastify app
 * and decorates it with `requireAuth` for the app's own routes. Only translation lives
 * here; `guard.ts` decides.
 */
import type {
  FastifyPluginAsync,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
  preHandlerHookHandler,
} from 'fastify'
import fp from 'fastify-plugin'
import type { Readable } from 'node:stream'
import type { Caller } from '../http/app.js'
import type { Handler } from '../http/handler.js'
import type { AccessTokenClaims } from '../tokens/claims.js'
import {
  callerGuard,
  checkedPrefix,
  refusal,
  refusalStyleOf,
  tokenRefusalStyle,
  settle,
  tokenGuard,
} from './guard.js'
import { credentialRequest, webRequest } from './guard-node.js'
import type {
  AdapterOptions,
  CallerSource,
  RequireAuthOptions,
  RequireTokenOptions,
  TokenVerifier,
} from './guard.js'

export type {
  AdapterOptions,
  RequireAuthOptions,
  RequireTokenOptions,
  RolesOf,
  TokenVerifier,
} from './guard.js'
export { defaultRolesOf } from './guard.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Set by the Latchkey plugin. */
    latchkey: LatchkeyDecorator
  }
  interface FastifyRequest {
    /** The caller admitted by `requireAuth`; `null` on routes not behind it. */
    auth: Caller | null
    /** The access-token claims admitted by `requireToken`; `null` on routes not behind it. */
    claims: AccessTokenClaims | null
  }
}

/** What the Fastify adapter needs of a Latchkey (`createLatchkey` returns one). */
export interface FastifyLatchkey extends CallerSource {
  handler: Handler
}

/** What the plugin adds to the instance as `fastify.latchkey`. */
export interface LatchkeyDecorator {
  /**
   * A hook admitting a caller (cookie or Bearer) into `request.auth`, or answering 401/403:
   * a `preHandler`, or an `onRequest` to refuse before the body is even parsed.
   */
  requireAuth: (options?: RequireAuthOptions) => preHandlerHookHandler
}

/** Options of {@link latchkeyPlugin}. */
export interface LatchkeyPluginOptions extends AdapterOptions {
  latchkey: FastifyLatchkey
  /** Serve the API under this path (e.g. `/idp`). Default: at the root. */
  path?: string
  /** Serve the API's routes; `false` only decorates, for an app that protects routes. */
  routes?: boolean
}

// The routes live in their own encapsulated context, so that their pass-through body
// parser never replaces the app's own parsers.
const API_PATHS = ['/auth', '/auth/*', '/.well-known/*', '/healthz']

const plugin: FastifyPluginAsync<LatchkeyPluginOptions> = async (fastify, options) => {
  const { latchkey } = options
  const prefix = checkedPrefix(options.path)
  const style = refusalStyleOf(latchkey)
  fastify.decorateRequest('auth', null)
  if (!fastify.hasRequestDecorator('claims')) fastify.decorateRequest('claims', null)
  fastify.decorate('latchkey', {
    requireAuth(authOptions) {
      const guard = callerGuard(latchkey, authOptions, options.rolesOf)
      // Callback style, so that a caller known from memory continues in the same tick; a
      // refusal answers from the hook and does not continue.
      return (request, reply, done) => {
        settle(
          () => guard(credentialRequest(request.method, request.headers)),
          (caller) => {
            request.auth = caller
            done()
          },
          (error) => {
            let response: Response
            try {
              response = refusal(error, style)
            } catch (unexpected) {
              done(unexpected as Error)
              return
            }
            void reply.send(response)
          },
        )
      }
    },
  } satisfies LatchkeyDecorator)
  if (options.routes === false) return

  await fastify.register(
    (api, _options, done) => {
      api.removeAllContentTypeParsers()
      // The handler reads (and bounds) the raw body itself; the stream is passed on unread.
      api.addContentTypeParser('*', (_request, payload, done) => done(null, payload))
      for (const url of API_PATHS) {
        api.all(url, (request, reply) => serve(latchkey.handler, prefix, request, reply))
      }
      done()
    },
    { prefix },
  )
}

/** The Latchkey plugin: serves the API (unless `routes: false`) and decorates `fastify.latchkey`. */
export const latchkeyPlugin = fp(plugin, { fastify: '5.x', name: 'latchkey' })

const verifierPlugin: FastifyPluginCallback = (fastify, _options, done) => {
  if (!fastify.hasRequestDecorator('claims')) fastify.decorateRequest('claims', null)
  done()
}

/** Declares `request.claims` for a service that only verifies tokens (see {@link requireToken}). */
export const latchkeyVerifierPlugin = fp(verifierPlugin, {
  fastify: '5.x',
  name: 'latchkey-verifier',
})

/**
 * A `preHandler` for a service that only verifies Latchkey access tokens
 * (`latchkey/verify`): a Bearer token's claims into `request.claims`, or 401/403.
 */
export function requireToken(
  verifier: TokenVerifier,
  options: RequireTokenOptions = {},
): preHandlerAsyncHookHandler {
  const guard = tokenGuard(verifier, options)
  const style = tokenRefusalStyle(options)
  return async (request, reply) => {
    try {
      request.claims = await guard(credentialRequest(request.method, request.headers))
    } catch (error) {
      return reply.send(refusal(error, style))
    }
  }
}

async function serve(
  handler: Handler,
  prefix: string,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<FastifyReply> {
  // The pass-through parser left the unread stream as the body (none without a body).
  const body = (request.body ?? undefined) as Readable | undefined
  // The handler routes on its own paths: the mount prefix is not part of them.
  const path = request.url.slice(prefix.length)
  const forwarded = webRequest(
    request.method,
    request.headers,
    path,
    body,
    request.socket.remoteAddress,
  )
  const response = await handler(forwarded.request, forwarded.connection)
  return reply.send(response)
}
