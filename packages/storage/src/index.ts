export * from './entities.js';
export { SecretBox } from './secrets.js';
export { Storage, type StorageOptions, type StoredTask } from './storage.js';
