import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from './tempdir.js';

export interface TestCertificate {
  /** PEM files, for redis-server's tls-cert-file / tls-key-file / tls-ca-cert-file. */
  certFile: string;
  keyFile: string;
  /** The certificate itself, for a client's `ca`. */
  cert: Buffer;
}

/**
 * A self-signed certificate for CN=localhost (openssl, one day), in a folder the testkit owns and
 * removes: what a test's TLS server and its clients trust.
 */
export function selfSignedCertificate(): TestCertificate {
  const dir = makeTempDir('tls');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile, cert: readFileSync(certFile) };
}

/** redis-server settings for a TLS port with `cert` (clients are not asked for certificates). */
export function tlsServerConfig(port: number, cert: TestCertificate): Record<string, string | number> {
  return {
    'tls-port': port,
    'tls-cert-file': cert.certFile,
    'tls-key-file': cert.keyFile,
    'tls-ca-cert-file': cert.certFile,
    'tls-auth-clients': 'no',
  };
}
