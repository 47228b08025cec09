import crypto from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';

/**
 * Webhook Secrets at rest (SECRET_ENCRYPTION_KEY): AES-256-GCM, stored in the secret column as
 * a versioned envelope `enc:v1:<iv>:<tag>:<ciphertext>` (base64 each). Every write of a Secret
 * seals it and every read opens it, here only: db/webhookRepository.ts and the delivery claim
 * (delivery/sql/claims.ts) both go through the box registered for their DataSource.
 *
 * Without a key, Secrets are stored as given (as before). A stored value without the `enc:`
 * prefix is plaintext written before a key was configured and is read as it is; it is sealed the
 * next time the webhook is saved. An envelope that cannot be opened (no key, or another key) is
 * an error, never an empty Secret: a delivery must not go out unsigned.
 */

export const ENVELOPE_PREFIX = 'enc:';
const V1 = 'enc:v1:';
const IV_BYTES = 12;
const KEY_BYTES = 32;

export class SecretDecryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretDecryptionError';
  }
}

/**
 * Parses SECRET_ENCRYPTION_KEY: a comma-separated list, newest first, of 32-byte keys written as
 * 64 hex characters or as base64 (standard or URL-safe). The newest seals; all open.
 */
export function parseSecretKeys(raw: string): { keys: Buffer[] } | { problem: string } {
  const keys: Buffer[] = [];
  const parts = raw.split(',').map((part) => part.trim());
  for (const [index, part] of parts.entries()) {
    const parsed = parseSecretKey(part);
    if ('problem' in parsed) return { problem: parts.length > 1 ? `${parsed.problem} (key ${index + 1} of ${parts.length} in the list)` : parsed.problem };
    keys.push(parsed.key);
  }
  return { keys };
}

/** One key: 32 bytes as 64 hex characters or as base64 (standard or URL-safe). */
export function parseSecretKey(raw: string): { key: Buffer } | { problem: string } {
  const text = raw.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-f]{64}$/i.test(text)) key = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    const decoded = Buffer.from(text, 'base64');
    if (decoded.length === KEY_BYTES) key = decoded;
  }
  if (!key) {
    return {
      problem:
        'SECRET_ENCRYPTION_KEY must be 32 random bytes written as 64 hex characters or as base64 (44 characters), ' +
        'e.g. the output of `openssl rand -base64 32`; it was neither.',
    };
  }
  return { key };
}

export class SecretBox {
  /** Newest first: seals with the first, opens with any (key rotation, see reencryptSecrets). */
  private readonly keys: Buffer[];

  constructor(keys: Buffer | null | readonly Buffer[]) {
    this.keys = keys === null ? [] : Buffer.isBuffer(keys) ? [keys] : [...keys];
    for (const key of this.keys) if (key.length !== KEY_BYTES) throw new Error(`a secret encryption key must be ${KEY_BYTES} bytes`);
  }

  get encrypts(): boolean {
    return this.keys.length > 0;
  }

  /** The value to store. Empty and null Secrets (no signing) stay as they are. */
  seal(secret: string | null): string | null {
    if (!secret || !this.encrypts) return secret;
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.keys[0], iv);
    const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return `${V1}${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${ciphertext.toString('base64')}`;
  }

  /** The Secret from a stored value; `what` names the row in the error (never the value). */
  open(stored: string | null, what: string): string | null {
    if (!stored || !stored.startsWith(ENVELOPE_PREFIX)) return stored;
    if (!stored.startsWith(V1)) {
      throw new SecretDecryptionError(`The Secret of ${what} is stored in an envelope version this version of webhook-agent does not know (${stored.split(':', 2).join(':')}).`);
    }
    if (!this.encrypts) {
      throw new SecretDecryptionError(
        `The Secret of ${what} is stored encrypted, but SECRET_ENCRYPTION_KEY is not set: configure the key it was written with.`,
      );
    }
    for (const key of this.keys) {
      const opened = openWith(key, stored);
      if (opened !== null) return opened;
    }
    throw new SecretDecryptionError(
      `The Secret of ${what} could not be decrypted with the configured SECRET_ENCRYPTION_KEY (another key, or a damaged value): configure the key it was written with.`,
    );
  }

  /** Whether a stored value is not yet sealed with the newest key (plaintext, or an older key): reencryptSecrets rewrites it. */
  needsResealing(stored: string | null): boolean {
    if (!stored || !this.encrypts) return false;
    return !stored.startsWith(V1) || openWith(this.keys[0], stored) === null;
  }
}

/** The plaintext, or null when this key did not seal it (GCM's tag says so) or the value is damaged. */
function openWith(key: Buffer, stored: string): string | null {
  const parts = stored.slice(V1.length).split(':');
  if (parts.length !== 3) return null;
  try {
    const [iv, tag, ciphertext] = parts.map((p) => Buffer.from(p, 'base64'));
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}

const PLAINTEXT = new SecretBox(null);
const boxes = new WeakMap<DataSource, SecretBox>();

/** openDatabase registers the configured box for its DataSource. */
export function useSecretBox(dataSource: DataSource, box: SecretBox): void {
  boxes.set(dataSource, box);
}

/** The box of a DataSource or of a transaction's EntityManager; without one registered, plaintext. */
export function secretBoxOf(db: DataSource | EntityManager): SecretBox {
  const dataSource = db instanceof EntityManager ? db.dataSource : db;
  return boxes.get(dataSource) ?? PLAINTEXT;
}
