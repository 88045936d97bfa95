/** The one thing credential checks need of headers; `Headers` is one. */
export interface HeaderReader {
  get(name: string): string | null
}
