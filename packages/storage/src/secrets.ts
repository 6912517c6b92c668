import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FerryError } from '@ferry/errors';

const PREFIX = 'enc:v1:';

/**
 * AES-256-GCM for what Ferry stores that must not be readable at rest (passwords in endpoints).
 * A value is `enc:v1:<base64 of iv(12) | tag(16) | ciphertext>`; a fresh IV per value.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /**
   * The key from `FERRY_SECRET_KEY` (32 bytes as 64 hex digits or base64), else from `keyFile`,
   * created (mode 0600) with a random key on first start.
   */
  static load(options: { env?: string | undefined; keyFile: string }): SecretBox {
    if (options.env) return new SecretBox(parseKey(options.env, 'FERRY_SECRET_KEY'));
    const file = options.keyFile;
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    }
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) chmodSync(file, 0o600);
    return new SecretBox(parseKey(readFileSync(file, 'utf8').trim(), file));
  }

  static fromKey(key: Buffer): SecretBox {
    if (key.length !== 32) throw new FerryError('CONFIG_INVALID', 'a secret key is 32 bytes');
    return new SecretBox(key);
  }

  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return PREFIX + Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
  }

  decrypt(text: string): string {
    if (!text.startsWith(PREFIX)) throw new FerryError('CONFIG_INVALID', 'a stored secret is not encrypted');
    const raw = Buffer.from(text.slice(PREFIX.length), 'base64');
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      d.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
    } catch (err) {
      throw new FerryError(
        'CONFIG_INVALID',
        'a stored secret cannot be decrypted: FERRY_SECRET_KEY (or the key file) is not the one it was stored with',
        { cause: err },
      );
    }
  }
}

function parseKey(text: string, what: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== 32)
    throw new FerryError('CONFIG_INVALID', `${what}: a key is 32 bytes, as 64 hex digits or base64`);
  return key;
}
