import type { Store } from './contract.js'

/**
 * A store that answers with `overrides` where it has them and with `store` everywhere
 * else, including operations added to the contract later and stores written as classes.
 */
export function decorate(store: Store, overrides: Partial<Store>): Store {
  return new Proxy(store, {
    get(target, property, receiver) {
      const override = overrides[property as keyof Store]
      if (override !== undefined) return override
      const value: unknown = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? (value.bind(target) as unknown) : value
    },
  })
}
