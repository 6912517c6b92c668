export { CHUNK, type Difference, type DiffKind, type VerifyMode } from './compare.js';
export { verifier } from './port.js';
export { type SideSpec, type VerifyOptions, type VerifyReport, verify } from './verify.js';
