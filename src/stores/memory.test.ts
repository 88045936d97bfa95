import { storeConformanceSuite } from './conformance.js'
import { memoryStore } from './memory.js'

storeConformanceSuite('memory', () => {
  const store = memoryStore()
  return Promise.resolve({ store, close: () => store.close() })
})
