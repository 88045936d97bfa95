import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

/** Whether a missing service fails the run (`.ci/run`) instead of skipping its tests. */
export const servicesRequired = process.env['LATCHKEY_REQUIRE_SERVICES'] === '1'

/**
 * Declares the suite that stands in for tests whose service is unreachable: one failing
 * test under LATCHKEY_REQUIRE_SERVICES=1, a skipped one otherwise. Returns whether the
 * real tests should be declared.
 */
export function serviceAvailable(name: string, reason: string | undefined): boolean {
  if (reason === undefined) return true
  const message = `${name} unreachable (${reason}); set LATCHKEY_REQUIRE_SERVICES=1 to fail instead`
  if (servicesRequired) {
    describe(name, () => {
      it(`needs a reachable ${name} (LATCHKEY_REQUIRE_SERVICES=1)`, () => {
        assert.fail(message)
      })
    })
  } else {
    describe(name, { skip: message }, () => {
      it(`runs against a real ${name}`, () => {})
    })
  }
  return false
}
