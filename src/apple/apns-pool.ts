// The APNs connections: one per identity (a pass type certificate, or the account's token key), on the push thread
// when the service runs compiled, else on this thread. A replaced certificate or key retires its connection.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import type { Db } from '../store/db.js';
import { preparedIn } from '../store/prepared.js';
import type { PassTypeRow } from '../store/schema.js';
import type { Secrets } from '../store/secrets.js';
import { ApnsConnection, type ApnsResult } from './apns.js';
import { type ApnsIdentity, PushThread, pushThreadAvailable } from './push-thread.js';

const accountApnsKey = preparedIn(1, (db, id: number) =>
  db.selectFrom('accounts').select(['apnsKeyEnc', 'apnsKeyId', 'apnsTeamId']).where('id', '=', id),
);

/**
 * One APNs connection per identity (pass type certificate, or the account's token key): on the push thread when it
 * is there (the compiled service), else on this thread.
 */
export class ApnsPool {
  private readonly connections = new Map<string, ApnsConnection>();
  /** The identity in use for each pass type (certificate) or account (token key). */
  private readonly current = new Map<string, string>();
  /** Started with the first push. */
  private thread: PushThread | undefined;
  readonly threaded: boolean;

  constructor(
    private readonly app: { db: Db; config: Pick<Config, 'apnsUrl' | 'apnsCaFile'>; secrets: Secrets },
    options: { thread?: boolean } = {},
  ) {
    this.threaded = options.thread ?? pushThreadAvailable();
  }

  /** Sends the pass-update push to every token with the pass type's identity; never throws (status 0). */
  async send(passType: PassTypeRow, tokens: string[], now: Date): Promise<ApnsResult[]> {
    const [account] = await accountApnsKey(this.app.db, passType.accountId);
    if (!account) throw new Error(`no account ${passType.accountId}`);
    const { apnsKeyEnc, apnsKeyId, apnsTeamId } = account;
    const owner =
      apnsKeyEnc && apnsKeyId && apnsTeamId ? `token:${passType.accountId}` : `cert:${passType.id}`;
    const key = `${owner}:${owner.startsWith('token') ? apnsKeyId : passType.updatedAt}`;
    const previous = this.current.get(owner);
    if (previous !== key) {
      // a replaced certificate or key: its connection closes once its streams end
      this.current.set(owner, key);
      if (previous) this.retire(previous);
    }
    const identity = (): ApnsIdentity => ({
      origin: this.app.config.apnsUrl,
      auth:
        apnsKeyEnc && apnsKeyId && apnsTeamId
          ? {
              kind: 'token',
              keyId: apnsKeyId,
              teamId: apnsTeamId,
              privateKey: createPrivateKey(this.app.secrets.decrypt(apnsKeyEnc)),
            }
          : {
              kind: 'certificate',
              certificatePem: passType.certificatePem,
              privateKeyPem: this.app.secrets.decrypt(passType.privateKeyEnc),
            },
      ca: this.app.config.apnsCaFile ? readFileSync(this.app.config.apnsCaFile, 'utf8') : undefined,
    });
    const topic = passType.passTypeIdentifier;
    if (this.threaded) {
      this.thread ??= new PushThread();
      return this.thread.send(key, identity, tokens, topic, now);
    }
    let connection = this.connections.get(key);
    if (!connection) {
      const { origin, auth, ca } = identity();
      connection = new ApnsConnection(origin, auth, ca);
      this.connections.set(key, connection);
    }
    const c = connection;
    return Promise.all(tokens.map((t) => c.send(t, topic, now)));
  }

  private retire(key: string): void {
    this.thread?.retire(key);
    this.connections.get(key)?.close();
    this.connections.delete(key);
  }

  async close(): Promise<void> {
    for (const c of this.connections.values()) c.close();
    this.connections.clear();
    await this.thread?.close();
  }
}
