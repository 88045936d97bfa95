/**
 * A browser-like client with one cookie jar, on a page of `base`. A `path` may be a full
 * URL of another node of the same deployment: the jar and the page's origin go along.
 */
export function client(base: string) {
  let cookie = ''
  let csrfToken = ''
  return {
    get csrfToken() {
      return csrfToken
    },
    get cookie() {
      return cookie
    },
    async send(path: string, init: { method?: string; body?: unknown; cookie?: string } = {}) {
      const headers: Record<string, string> = { origin: base }
      if (init.body !== undefined) headers['content-type'] = 'application/json'
      const jar = init.cookie ?? cookie
      if (jar !== '') headers['cookie'] = jar
      if (csrfToken !== '' && init.cookie === undefined) headers['x-csrf-token'] = csrfToken
      const response = await fetch(new URL(path, base), {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers,
        body: init.body === undefined ? null : JSON.stringify(init.body),
      })
      const setCookie = response.headers.getSetCookie()[0]
      if (setCookie !== undefined) cookie = setCookie.split(';')[0]!
      const text = await response.text()
      const json = text === '' ? null : (JSON.parse(text) as Record<string, unknown>)
      if (json !== null && typeof json['csrfToken'] === 'string') csrfToken = json['csrfToken']
      return { status: response.status, json, headers: response.headers }
    },
  }
}
