/** A failure the client reports: the server's `{error, message}` code, or one of its own. */
export class ClientError extends Error {
  override readonly name = 'ClientError'

  /**
   * The server's error code (`invalid_credentials`, `rate_limited`, …), or the client's:
   * `not_signed_in`, `invalid_response`.
   */
  readonly code: string
  /** The HTTP status, or 0 when no response was involved. */
  readonly status: number

  constructor(code: string, message: string, status = 0) {
    super(message)
    this.code = code
    this.status = status
  }
}

/** Reads `{error, message}` from a failed response; a body of another shape still yields a code. */
export async function errorOf(response: Response): Promise<ClientError> {
  let code = `http_${response.status}`
  let message = `The server answered ${response.status}.`
  try {
    const body = (await response.json()) as unknown
    if (typeof body === 'object' && body !== null) {
      const { error, message: text } = body as Record<string, unknown>
      if (typeof error === 'string') code = error
      if (typeof text === 'string') message = text
    }
  } catch {
    // Not JSON (a proxy's HTML page, an empty body): the status is all there is.
  }
  return new ClientError(code, message, response.status)
}
