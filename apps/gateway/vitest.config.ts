import { createRequire } from 'node:module';
import { ferryVitestConfig } from '../../tooling/vitest.shared.js';

// graphql 16 has no "exports": Node loads its CommonJS main for every importer (type-graphql,
// graphql-ws, Apollo), but vite would give our own sources its "module" (.mjs) build, a second
// copy that graphql refuses to mix ("another module or realm"). Our sources get what Node loads.
const require = createRequire(import.meta.url);

export default ferryVitestConfig({ timeoutMs: 180_000, alias: { graphql: require.resolve('graphql') } });
