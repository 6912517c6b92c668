import type { CodegenConfig } from '@graphql-codegen/cli';

// The console's operations, typed against the gateway's checked-in schema (no running server
// needed): `graphql()` in src/ returns typed documents for urql.
const config: CodegenConfig = {
  schema: '../gateway/schema.graphql',
  documents: ['src/**/*.{ts,tsx}', '!src/gql/**'],
  ignoreNoDocuments: false,
  generates: {
    'src/gql/': {
      preset: 'client',
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        scalars: { DateTimeISO: 'string', JSONObject: 'Record<string, unknown>' },
      },
      presetConfig: { fragmentMasking: false },
    },
  },
  silent: true,
};
export default config;
