import type { z } from 'zod'
import { AuthError } from '../errors.js'
import type { ConnectionInfo } from './client.js'
import type { ApiRequest } from './handler.js'

// Without `stream`, decode keeps no state between calls: one decoder serves every body.
const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Reads a JSON object body: `application/json` in UTF-8 only, at most `limit` bytes
 * (checked on the declared length and again while streaming), strict UTF-8, and no
 * `__proto__` or `constructor.prototype` keys. With `optional`, zero bytes read as `{}`.
 * The bytes come from the adapter's reader when the connection has one, else from
 * `request.body`.
 */
export async function readJsonObject(
  request: ApiRequest,
  connection: ConnectionInfo,
  limit: number,
  optional = false,
): Promise<unknown> {
  const type = request.headers.get('content-type')
  if (type === null || !isJsonUtf8(type)) throw unsupportedMediaType()
  const declared = request.headers.get('content-length')
  if (declared !== null && !/^\d+$/.test(declared)) {
    throw new AuthError('invalid_request', 'The Content-Length header is not a number.')
  }
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit)
  const bytes = await readCapped(request, connection, limit)
  if (optional && bytes.byteLength === 0) return {}
  let body: string
  try {
    body = utf8.decode(bytes)
  } catch {
    throw new AuthError('invalid_request', 'The body is not valid UTF-8.')
  }
  let value: unknown
  try {
    value = JSON.parse(body, refusePrototypeKeys)
  } catch (error) {
    if (error instanceof AuthError) throw error
    throw new AuthError('invalid_request', 'The body is not valid JSON.')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AuthError('invalid_request', 'The body must be a JSON object.')
  }
  return value
}

/**
 * Keys that only an attack sends: harmless to the parsed object, but a trap for any code
 * that later merges it into another (prototype pollution). Refused, as Fastify does.
 */
function refusePrototypeKeys(key: string, value: unknown): unknown {
  if (
    key === '__proto__' ||
    (key === 'constructor' && typeof value === 'object' && value !== null && 'prototype' in value)
  ) {
    throw new AuthError('invalid_request', 'The body contains a forbidden key.')
  }
  return value
}

/** Reads and validates a JSON body against a schema; the first problem names its field. */
export async function readBody<T extends z.ZodType>(
  request: ApiRequest,
  connection: ConnectionInfo,
  schema: T,
  limit: number,
): Promise<z.output<T>> {
  return validate(schema, await readJsonObject(request, connection, limit))
}

/** Like `readBody`, but an empty body (untyped, or typed as JSON) counts as `{}`. */
export async function readOptionalBody<T extends z.ZodType>(
  request: ApiRequest,
  connection: ConnectionInfo,
  schema: T,
  limit: number,
): Promise<z.output<T>> {
  if (request.headers.get('content-type') !== null) {
    return validate(schema, await readJsonObject(request, connection, limit, true))
  }
  // Headers cannot say that a body is empty (a Request may carry no Content-Length), so
  // it is read: without a content type, only nothing at all is acceptable.
  if ((await readCapped(request, connection, limit)).byteLength > 0) throw unsupportedMediaType()
  return validate(schema, {})
}

function validate<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  const field = issue?.path.join('.') ?? ''
  const where = field === '' ? 'The body' : `\`${field}\``
  throw new AuthError('invalid_request', `${where}: ${issue?.message ?? 'invalid'}.`)
}

function unsupportedMediaType(): AuthError {
  return new AuthError('unsupported_media_type', 'The body must be application/json (UTF-8).')
}

function isJsonUtf8(contentType: string): boolean {
  const [essence, ...params] = contentType.split(';').map((part) => part.trim().toLowerCase())
  if (essence !== 'application/json') return false
  return params.every((param) => param === '' || /^charset="?utf-8"?$/.test(param))
}

function tooLarge(limit: number): AuthError {
  return new AuthError('payload_too_large', `The body must not exceed ${limit} bytes.`)
}

const unreadable = (cause: unknown) =>
  new AuthError('invalid_request', 'The body could not be read.', { cause })

async function readCapped(
  request: ApiRequest,
  { readBody }: ConnectionInfo,
  limit: number,
): Promise<Uint8Array> {
  if (readBody !== undefined) {
    const bytes = await readBody(limit).catch((cause: unknown) => {
      throw unreadable(cause)
    })
    if (bytes === null) throw tooLarge(limit)
    return bytes
  }
  if (request.body === null) return new Uint8Array()
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = request.body.getReader()
  for (;;) {
    const { done, value } = await reader.read().catch((cause: unknown) => {
      throw unreadable(cause)
    })
    if (done) break
    size += value.byteLength
    if (size > limit) {
      await reader.cancel()
      throw tooLarge(limit)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks)
}
