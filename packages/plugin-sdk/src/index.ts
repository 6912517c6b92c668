/**
 * What a Ferry plugin is written against. Types only, the define helpers and the options schema
 * (zod, re-exported as `z` so a plugin's schema and Ferry's reading of it share one copy).
 */
export { z } from 'zod';
export * from './define.js';
export type { Endpoint } from './endpoint.js';
export * from './errors.js';
export * from './options-schema.js';
export type * from './plugin.js';
export type { ReaderCommand, ReaderSpec, ReaderStart, ShardReader } from './reader.js';
export type { ConfigValue, Info, ReadOnlyProbe, ServerIdentity } from './server.js';
export type { ShardSpec } from './shard.js';
export type * from './task-options.js';
