import type { BusTransport, TransportListener } from '../../src/revocation/transport.js'

/**
 * A wire in memory that every transport made from it shares, so that several feeds in
 * one process act as several nodes on one bus. It can drop connections (`disconnect`),
 * swallow messages without saying so (`blackhole`, a half-open connection), and refuse
 * publishes (`refusePublish`).
 */
export function memoryWire() {
  const listeners = new Set<TransportListener>()
  let blackhole = false
  let refusePublish = false
  return {
    transport(): BusTransport {
      let mine: TransportListener | undefined
      return {
        name: 'memory-wire',
        start(listener) {
          mine = listener
          listeners.add(listener)
          queueMicrotask(() => listener.connection(true))
        },
        publish(payload) {
          if (refusePublish) return Promise.reject(new Error('refused'))
          if (!blackhole) {
            for (const listener of listeners) queueMicrotask(() => listener.message(payload))
          }
          return Promise.resolve()
        },
        close() {
          if (mine !== undefined) listeners.delete(mine)
          return Promise.resolve()
        },
      }
    },
    /** Every node loses its connection, then gets it back after `ms`. */
    disconnect(ms: number) {
      for (const listener of listeners) listener.connection(false)
      setTimeout(() => {
        for (const listener of listeners) listener.connection(true)
      }, ms)
    },
    set blackhole(value: boolean) {
      blackhole = value
    },
    set refusePublish(value: boolean) {
      refusePublish = value
    },
    /** Delivers a raw payload, as a stray publisher on the channel would. */
    inject(payload: string) {
      for (const listener of listeners) listener.message(payload)
    },
  }
}
