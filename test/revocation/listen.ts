import type { RevocationFact } from '../../src/revocation/facts.js'
import type { RevocationFeed } from '../../src/revocation/feed.js'

/** What a feed hears from other nodes, and how often it flushed. */
export function listen(feed: RevocationFeed) {
  const heard: RevocationFact[][] = []
  let flushes = 0
  feed.subscribe({
    facts: (facts, remote) => {
      if (remote) heard.push([...facts])
    },
    flush: () => {
      flushes++
    },
  })
  return { heard, flushes: () => flushes }
}
