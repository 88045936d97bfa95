/** Bounds on password length, in Unicode code points (NIST SP 800-63B). */
export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 256

// The most common passwords that pass the length rule; a breach corpus would be
// better, but these alone account for a large share of credential-stuffing hits.
const COMMON = new Set([
  '12345678',
  '123456789',
  '1234567890',
  'password',
  'password1',
  'password123',
  'qwertyuiop',
  'qwerty123',
  '11111111',
  '00000000',
  'iloveyou',
  'sunshine',
  'princess',
  'football',
  'baseball',
  'welcome1',
  'abc12345',
  'abcd1234',
  'letmein1',
  'trustno1',
  'passw0rd',
  'asdfghjkl',
  '1q2w3e4r',
  '1qaz2wsx',
  'qwertyui',
  '87654321',
  'superman',
  'dragon123',
  'changeme',
])

/** Why a password is refused, or `null` when it is acceptable. */
export function passwordWeakness(password: string, email: string): string | null {
  const length = [...password].length
  if (length < PASSWORD_MIN_LENGTH) {
    return `The password must have at least ${PASSWORD_MIN_LENGTH} characters.`
  }
  if (length > PASSWORD_MAX_LENGTH) {
    return `The password must have at most ${PASSWORD_MAX_LENGTH} characters.`
  }
  const lowered = password.toLowerCase()
  if (COMMON.has(lowered)) return 'The password is one of the most common passwords.'
  if (lowered === email.toLowerCase()) return 'The password must not be the email address.'
  return null
}
