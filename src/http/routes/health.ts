import type { App } from '../app.js'
import { json } from '../responses.js'
import type { Route } from '../router.js'

/**
 * `GET /healthz`: 503 when the store does not answer. A lost bus leaves the node correct
 * (it reads the store instead of its caches), so it answers 200 with `degraded`.
 */
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
        const bus = app.feed.state === 'down' ? 'unavailable' : app.feed.state
        const status = store !== 'ok' ? 'unavailable' : bus === 'unavailable' ? 'degraded' : 'ok'
        return json(store === 'ok' ? 200 : 503, {
          status,
          checks: { store, bus, transport: app.feed.transport },
        })
      },
    },
  ]
}
