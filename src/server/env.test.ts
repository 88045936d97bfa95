import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { readServerEnv } from './env.js'

const HS_SECRET = 'h'.repeat(32)

describe('server environment: tokens', () => {
  it('defaults to EdDSA, 600 s and the issuer as audience', () => {
    assert.deepEqual(readServerEnv({}, '/tmp').tokens, {
      alg: 'EdDSA',
      hmacSecret: undefined,
      accessTokenTtlSeconds: 600,
      audience: undefined,
      refreshIdleSeconds: undefined,
      refreshAbsoluteSeconds: undefined,
    })
  })

  it('reads the algorithm, TTL, audience and HS256 secret', () => {
    const env = readServerEnv(
      {
        LATCHKEY_JWT_ALG: 'HS256',
        LATCHKEY_HS256_SECRET: HS_SECRET,
        LATCHKEY_ACCESS_TOKEN_TTL: '120',
        LATCHKEY_AUDIENCE: 'https://api.example.com',
        LATCHKEY_REFRESH_IDLE_TTL: '86400',
        LATCHKEY_REFRESH_ABSOLUTE_TTL: '604800',
      },
      '/tmp',
    )
    assert.deepEqual(env.tokens, {
      alg: 'HS256',
      hmacSecret: HS_SECRET,
      accessTokenTtlSeconds: 120,
      audience: 'https://api.example.com',
      refreshIdleSeconds: 86_400,
      refreshAbsoluteSeconds: 604_800,
    })
  })

  it('refuses an unknown or miscased algorithm, naming the variable', () => {
    for (const alg of ['none', 'eddsa', 'HS512']) {
      assert.throws(() => readServerEnv({ LATCHKEY_JWT_ALG: alg }), /LATCHKEY_JWT_ALG/)
    }
  })

  it('refuses HS256 without a 32-byte secret, and never echoes the secret', () => {
    assert.throws(() => readServerEnv({ LATCHKEY_JWT_ALG: 'HS256' }), /LATCHKEY_HS256_SECRET/)
    assert.throws(
      () => readServerEnv({ LATCHKEY_JWT_ALG: 'HS256', LATCHKEY_HS256_SECRET: 'short-secret' }),
      (error: Error) => /at least 32 bytes/.test(error.message) && !error.message.includes('short'),
    )
  })

  it('refuses an HS256 secret beside another algorithm', () => {
    assert.throws(() => readServerEnv({ LATCHKEY_HS256_SECRET: HS_SECRET }), /not HS256/)
  })

  it('refuses a TTL that is not a whole number of seconds in range', () => {
    for (const ttl of ['0', '-5', '1.5', '10m', '86401']) {
      assert.throws(
        () => readServerEnv({ LATCHKEY_ACCESS_TOKEN_TTL: ttl }),
        /LATCHKEY_ACCESS_TOKEN_TTL/,
      )
    }
  })
})

describe('server environment: Redis', () => {
  it('reads REDIS_URL, one server or Cluster seeds, and never echoes it', () => {
    assert.equal(readServerEnv({}).redisUrl, undefined)
    assert.equal(
      readServerEnv({ REDIS_URL: 'redis://:pw@cache:6379' }).redisUrl,
      'redis://:pw@cache:6379',
    )
    const seeds = 'redis://a:7000,redis://b:7001'
    assert.equal(readServerEnv({ REDIS_URL: seeds }).redisUrl, seeds)
    assert.throws(
      () => readServerEnv({ REDIS_URL: 'http://user:hunter2@cache' }),
      (error: Error) => /REDIS_URL/.test(error.message) && !error.message.includes('hunter2'),
    )
  })

  it('checks the key prefix', () => {
    assert.equal(readServerEnv({}).redisPrefix, 'latchkey:')
    assert.equal(readServerEnv({ LATCHKEY_REDIS_PREFIX: 'app-1:' }).redisPrefix, 'app-1:')
    assert.throws(
      () => readServerEnv({ LATCHKEY_REDIS_PREFIX: 'has space' }),
      /LATCHKEY_REDIS_PREFIX/,
    )
  })

  it('refuses refresh lifetimes out of range, naming the variable', () => {
    assert.throws(
      () => readServerEnv({ LATCHKEY_REFRESH_IDLE_TTL: '5' }),
      /LATCHKEY_REFRESH_IDLE_TTL/,
    )
    assert.throws(
      () => readServerEnv({ LATCHKEY_REFRESH_ABSOLUTE_TTL: '1d' }),
      /LATCHKEY_REFRESH_ABSOLUTE_TTL/,
    )
  })
})

describe('server environment: database', () => {
  it('defaults to SQLite in the data folder', () => {
    assert.deepEqual(readServerEnv({}, '/srv/app').database, {
      kind: 'sqlite',
      filename: '/srv/app/data/latchkey.db',
    })
  })

  it('reads sqlite:<path> relative to the working directory', () => {
    assert.deepEqual(readServerEnv({ DATABASE_URL: 'sqlite:db/auth.db' }, '/srv/app').database, {
      kind: 'sqlite',
      filename: '/srv/app/db/auth.db',
    })
  })

  it('selects Postgres for postgres:// and postgresql:// URLs', () => {
    for (const url of [
      'postgres://latchkey:s3cret@db.internal:5432/auth',
      'postgresql://db.internal/auth?sslmode=require',
    ]) {
      assert.deepEqual(readServerEnv({ DATABASE_URL: url }, '/tmp').database, {
        kind: 'postgres',
        url,
        preparedStatements: true,
        poolSize: undefined,
      })
    }
  })

  it('reads LATCHKEY_PG_POOL_SIZE, and refuses a size out of range, naming the variable', () => {
    const url = 'postgres://db.internal/auth'
    const poolSize = (value: string) => {
      const database = readServerEnv(
        { DATABASE_URL: url, LATCHKEY_PG_POOL_SIZE: value },
        '/tmp',
      ).database
      return database.kind === 'postgres' ? database.poolSize : undefined
    }
    assert.equal(poolSize('25'), 25)
    assert.equal(poolSize(''), undefined)
    for (const value of ['0', '1001', '-1', '2.5', 'many']) {
      assert.throws(() => poolSize(value), /LATCHKEY_PG_POOL_SIZE must be a whole number/)
    }
  })

  it('reads LATCHKEY_PG_PREPARE as on or off, and refuses anything else', () => {
    const url = 'postgres://db.internal/auth'
    const prepared = (value: string) =>
      readServerEnv({ DATABASE_URL: url, LATCHKEY_PG_PREPARE: value }, '/tmp').database
    for (const value of ['off', 'OFF', 'false', '0']) {
      assert.deepEqual(prepared(value), {
        kind: 'postgres',
        url,
        preparedStatements: false,
        poolSize: undefined,
      })
    }
    for (const value of ['on', 'true', '1', '']) {
      assert.deepEqual(prepared(value), {
        kind: 'postgres',
        url,
        preparedStatements: true,
        poolSize: undefined,
      })
    }
    assert.throws(() => prepared('sometimes'), /LATCHKEY_PG_PREPARE must be on or off/)
  })

  it('refuses any other URL without echoing it', () => {
    assert.throws(
      () => readServerEnv({ DATABASE_URL: 'mysql://root:hunter2@db/auth' }),
      (error: Error) => /DATABASE_URL/.test(error.message) && !error.message.includes('hunter2'),
    )
  })
})
