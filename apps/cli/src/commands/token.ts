import type { Io } from '../io.js';

const USAGE = `Usage: ferry token create NAME [--data-dir DIR]

Makes an API token for the gateway (printed once; only its SHA-256 is stored), in the gateway's
storage: DIR/ferry.db (default ./data, or FERRY_DATA_DIR), or FERRY_DATABASE_URL's PostgreSQL.
`;

export async function tokenCommand(argv: string[], io: Io): Promise<number> {
  const [sub, name, ...rest] = argv;
  if (sub !== 'create' || !name || name.startsWith('-')) {
    io.err(USAGE);
    return sub === '--help' || sub === '-h' ? 0 : 2;
  }
  const i = rest.indexOf('--data-dir');
  const dataDir = (i >= 0 ? rest[i + 1] : undefined) ?? process.env.FERRY_DATA_DIR ?? 'data';
  try {
    // MikroORM is loaded here, for this command only: it is half a second of start-up that
    // `ferry migrate` (timed end to end by its users) does not need
    const { Storage } = await import('@ferry/storage');
    const storage = await Storage.open({
      sqlitePath: `${dataDir}/ferry.db`,
      keyFile: `${dataDir}/secret.key`,
    });
    const token = await storage.createToken(name);
    await storage.close();
    io.out(`${token}\n`);
    io.err(
      `ferry: token "${name}" created; give it as Authorization: Bearer <token> (it is not shown again)\n`,
    );
    return 0;
  } catch (err) {
    io.err(`ferry: ${(err as Error).message}\n`);
    return 1;
  }
}
