import { AuthError } from '../errors.js'
import type { ConnectionInfo } from './client.js'
import type { ApiRequest } from './handler.js'
import type { Reply } from './responses.js'

/** What a route receives besides the request. */
export interface RouteContext {
  params: Record<string, string>
  connection: ConnectionInfo
}

export type RouteHandler = (request: ApiRequest, context: RouteContext) => Promise<Reply>

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** Segments separated by `/`; a segment `:name` captures one path segment. */
  path: string
  handler: RouteHandler
}

/** The outcome of matching: a handler with its params, or the error to answer. */
export type Match = { handler: RouteHandler; params: Record<string, string> } | AuthError

/**
 * A small exact-path router: few routes, no regexes, 404 and 405 with `Allow`. HEAD is
 * answered wherever GET is (RFC 9110 §9.3.2); the handler drops the body.
 */
export function createRouter(routes: Route[]): (method: string, pathname: string) => Match {
  const compiled = routes.map((route) => ({ ...route, segments: route.path.split('/') }))
  return (method, pathname) => {
    const segments = pathname.split('/')
    const wanted = method === 'HEAD' ? 'GET' : method
    const allowed: string[] = []
    for (const route of compiled) {
      const params = matchSegments(route.segments, segments)
      if (params === null) continue
      if (route.method === wanted) return { handler: route.handler, params }
      allowed.push(route.method)
      if (route.method === 'GET') allowed.push('HEAD')
    }
    if (allowed.length === 0) return new AuthError('not_found', 'No such route.')
    return new AuthError('method_not_allowed', 'This route does not accept that method.', {
      allow: allowed.join(', '),
    })
  }
}

function matchSegments(pattern: string[], actual: string[]): Record<string, string> | null {
  if (pattern.length !== actual.length) return null
  const params: Record<string, string> = {}
  for (const [index, expected] of pattern.entries()) {
    const segment = actual[index]!
    if (expected.startsWith(':')) {
      if (segment === '') return null
      params[expected.slice(1)] = segment
    } else if (expected !== segment) {
      return null
    }
  }
  return params
}
