export { CRC64_BACKEND, Crc64, crc64 } from './crc64-core.js';
