/**
 * Tombstones that could not reach Redis, kept in the order they failed and written again
 * before Redis is trusted with those keys. While a key waits here, Redis may still hold
 * the copy its write made stale, so the layer reads that key from the store instead.
 */
export class PendingInvalidations {
  readonly #keys = new Set<string>()
  readonly #write: (key: string) => Promise<unknown>
  #flushing: Promise<void> | undefined

  constructor(write: (key: string) => Promise<unknown>) {
    this.#write = write
  }

  get size(): number {
    return this.#keys.size
  }

  has(key: string): boolean {
    return this.#keys.has(key)
  }

  add(key: string): void {
    this.#keys.add(key)
  }

  /** A tombstone written since covers the one that failed. */
  settled(key: string): void {
    this.#keys.delete(key)
  }

  /** Writes the waiting tombstones in order, stopping at the first that fails. */
  flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined
    })
    return this.#flushing
  }

  async #drain(): Promise<void> {
    // A Set iterates in insertion order and also visits keys added meanwhile.
    for (const key of this.#keys) {
      try {
        await this.#write(key)
      } catch {
        return
      }
      this.#keys.delete(key)
    }
  }
}
