import type { App } from '../app.js'
import { json } from '../responses.js'
import type { Route } from '../router.js'

/** `GET /healthz`: 200 when the store answers, 503 otherwise. */
export function healthRoutes(app: App): Route[] {
  return [
    {
      method: 'GET',
      path: '/healthz',
      async handler() {
        const store = await app.config.store.ping().then(
          () => 'ok' as const,
          () => 'unavailable' as const,
        )
        return json(store === 'ok' ? 200 : 503, {
          status: store === 'ok' ? 'ok' : 'unavailable',
          checks: { store },
        })
      },
    },
  ]
}
