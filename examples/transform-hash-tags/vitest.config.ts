import { ferryVitestConfig } from '../../tooling/vitest.shared.js';

export default ferryVitestConfig({ timeoutMs: 180_000 });
