export { redisLayer, type RedisLayerOptions } from './layer.js'
export { connectRedis, type RedisClient, type RedisConnectOptions } from './connection.js'
