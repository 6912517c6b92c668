// Ferry's import rules, checked by `pnpm lint:deps` (part of `pnpm test`, so CI runs it).
// The layers, each importing only those below it:
//   apps (cli, gateway, console)
//   plugins (source topologies, checks), examples (plugins written against the SDK alone)
//   core, storage, verify            — the engine and what the apps build on it
//   plugin-sdk                       — the contracts plugins are written against (core implements
//                                      them); its only runtime import is zod: Ferry's other
//                                      packages it names for their types alone
//   replication, rdb                 — the wire: the replica link and the snapshot format
//   resp, errors                     — RESP and the error codes
// and no import cycles anywhere (type-only imports included: a cycle of types is a cycle of design).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Modules in a cycle cannot be understood, tested or moved one at a time.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment:
        'An import that does not resolve: with pnpm a package sees only what its package.json declares, so an import across the layers by package name shows here.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'nothing-imports-apps',
      comment: 'The apps are the top layer: nothing below may depend on them.',
      severity: 'error',
      from: { path: '^(packages|plugins)/' },
      to: { path: '^apps/' },
    },
    {
      name: 'apps-stay-apart',
      comment: 'One app does not import another (they share packages instead).',
      severity: 'error',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'packages-below-plugins',
      comment: 'The engine and its libraries know plugins only through their contracts.',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^plugins/' },
    },
    {
      name: 'plugins-stay-apart',
      comment:
        "A plugin's code does not import another plugin (its tests may, to build deployments), except the standalone topology, which the proxy topologies (twemproxy, codis) build on for each backend.",
      severity: 'error',
      from: { path: '^plugins/([^/]+)/src/' },
      to: { path: '^plugins/', pathNot: '^plugins/($1|source-standalone)/' },
    },
    {
      name: 'wire-below-engine',
      comment: 'RESP, RDB and replication know nothing of tasks, storage or verification.',
      severity: 'error',
      from: { path: '^packages/(errors|resp|rdb|replication)/' },
      to: { path: '^packages/(core|storage|verify|testkit)/' },
    },
    {
      name: 'resp-below-rdb-and-replication',
      severity: 'error',
      from: { path: '^packages/(errors|resp)/' },
      to: { path: '^packages/(rdb|replication)/' },
    },
    {
      name: 'rdb-below-replication',
      severity: 'error',
      from: { path: '^packages/rdb/' },
      to: { path: '^packages/replication/' },
    },
    {
      name: 'errors-at-the-bottom',
      severity: 'error',
      from: { path: '^packages/errors/' },
      to: { path: '^packages/(?!errors/)' },
    },
    {
      name: 'examples-use-the-sdk-alone',
      comment:
        "The example plugins show what a third party writes: the SDK and the libraries they choose, nothing of Ferry's insides.",
      severity: 'error',
      from: { path: '^examples/([^/]+)/src/' },
      to: { path: '^(packages/(?!plugin-sdk/)|plugins/|apps/|examples/(?!$1/))' },
    },
    {
      name: 'nothing-ships-an-example',
      comment: 'The examples are loaded by name (--plugin, FERRY_PLUGINS), never imported.',
      severity: 'error',
      from: { path: '^(packages|plugins|apps)/[^/]+/src/' },
      to: { path: '^examples/' },
    },
    {
      name: 'sdk-below-the-engine',
      comment:
        'The plugin SDK is what plugins compile against: it knows nothing of the engine, storage or the apps.',
      severity: 'error',
      from: { path: '^packages/plugin-sdk/' },
      to: { path: '^(packages/(core|storage|verify|testkit)|plugins|apps)/' },
    },
    {
      name: 'sdk-imports-only-types',
      comment:
        "A plugin loads the SDK at run time: beyond zod, it may name Ferry's wire packages for their types, never run their code.",
      severity: 'error',
      from: { path: '^packages/plugin-sdk/src/' },
      to: { path: '^packages/(?!plugin-sdk/)', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'wire-knows-no-sdk',
      severity: 'error',
      from: { path: '^packages/(errors|resp|rdb|replication)/' },
      to: { path: '^packages/plugin-sdk/' },
    },
    {
      name: 'engine-below-storage-and-verify',
      comment: 'Core defines the ports (checkpoint store, verifier); storage and verify implement them.',
      severity: 'error',
      from: { path: '^packages/core/' },
      to: { path: '^packages/(storage|verify|testkit)/' },
    },
    {
      name: 'no-testkit-in-shipped-code',
      comment: 'The testkit starts servers for tests; shipped code never needs it.',
      severity: 'error',
      from: { path: '^(packages|plugins|apps)/[^/]+/src/', pathNot: '^packages/testkit/' },
      to: { path: '^packages/testkit/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules|src/gql)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      // the workspace packages resolve to their sources, as the tests and type checks do
      conditionNames: ['@ferry/source', 'import', 'types', 'default'],
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.d.ts'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
