/** Milliseconds since the epoch. Injected everywhere time matters, so tests freeze it. */
export type Clock = () => number

export const systemClock: Clock = () => Date.now()
