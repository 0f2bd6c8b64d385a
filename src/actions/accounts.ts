// Accounts and the first start: a new account gets a development pass type (a local CA stands in for Apple's WWDR),
// a demo member-card template and an app key with every scope. Accounts are the operator's business (the CLI): their
// actions are `system` actions, which no app key can run.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import type { App } from '../app.js';
import { randomToken as token } from '../auth/tokens.js';
import { createDevPki, type JsonObject } from '../engine/index.js';
import { encodePng } from '../engine/png.js';
import { conflict, notFound } from '../errors.js';
import { createKey, type Scope } from '../store/keys.js';
import { defineAction, runAction, systemContext } from './registry.js';
import { insertTemplate } from './templates.js';

export interface AccountSetup {
  appKey: string;
  accountId: number;
  passTypeIdentifier: string;
  templateId: number;
  /** The development CA that signed the account's pass type certificate (verify passes with it). */
  devCaPath: string;
}

export const DEMO_TEMPLATE_NAME = 'Member Card';

export function demoTemplate(organizationName: string): JsonObject {
  return {
    formatVersion: 1,
    organizationName,
    description: 'Membership card',
    logoText: organizationName,
    foregroundColor: 'rgb(255, 255, 255)',
    backgroundColor: 'rgb(32, 96, 200)',
    labelColor: 'rgb(200, 220, 255)',
    storeCard: {
      headerFields: [
        { key: 'points', label: 'POINTS', value: '${points}', changeMessage: 'You now have %@ points' },
      ],
      primaryFields: [{ key: 'member', label: 'MEMBER', value: '${firstName} ${lastName}' }],
      secondaryFields: [{ key: 'since', label: 'MEMBER SINCE', value: '${memberSince}' }],
      backFields: [
        { key: 'terms', label: 'TERMS', value: 'Show this card at the counter to collect points.' },
      ],
    },
    barcodes: [
      {
        format: 'PKBarcodeFormatQR',
        message: 'member-${memberId}',
        messageEncoding: 'iso-8859-1',
        altText: '${memberId}',
      },
    ],
  };
}

const slug = (name: string): string =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '') || 'account';

function demoImages(): [string, number, Buffer][] {
  const blue = (): readonly [number, number, number, number] => [32, 96, 200, 255];
  return [
    ['icon', 1, encodePng(29, 29, blue)],
    ['icon', 2, encodePng(58, 58, blue)],
    ['icon', 3, encodePng(87, 87, blue)],
    ['logo', 1, encodePng(50, 50, blue)],
    ['logo', 2, encodePng(100, 100, blue)],
  ];
}

/** Creates an account with a development identity, the demo template and an all-scopes app key. */
export async function createAccount(app: App, name: string): Promise<AccountSetup> {
  const existing = await app.db
    .selectFrom('accounts')
    .select('id')
    .where('name', '=', name)
    .executeTakeFirst();
  if (existing) throw conflict(`an account named "${name}" exists`);
  const accountSlug = slug(name);
  const pki = createDevPki({
    passTypeIdentifier: `pass.dev.passslot.${accountSlug}.${token(3)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, 'x')}`,
    teamIdentifier: 'DEVTEAM123',
    organizationName: name,
  });
  const devDir = join(app.config.dataDir, 'dev-certs', accountSlug);
  mkdirSync(devDir, { recursive: true });
  const devCaPath = join(devDir, 'dev-ca.pem');
  writeFileSync(devCaPath, pki.caCertificatePem);
  const now = app.clock.now().toISOString();
  const body = demoTemplate(name);
  const ids = await app.db.transaction().execute(async (trx) => {
    const account = await trx
      .insertInto('accounts')
      .values({ name, rateLimit: null, createdAt: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    const passType = await trx
      .insertInto('passTypes')
      .values({
        accountId: account.id,
        passTypeIdentifier: pki.passTypeIdentifier,
        teamIdentifier: pki.teamIdentifier,
        organizationName: name,
        certificatePem: pki.certificatePem,
        privateKeyEnc: app.secrets.encrypt(pki.privateKeyPem),
        wwdrPem: pki.caCertificatePem,
        expiresAt: new Date(Date.now() + 365 * 86_400_000).toISOString(),
        unhealthyReason: null,
        createdAt: now,
        updatedAt: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const template = await insertTemplate(trx, {
      accountId: account.id,
      passTypeId: passType.id,
      name: DEMO_TEMPLATE_NAME,
      body,
      now,
    });
    for (const [type, scale, data] of demoImages())
      await trx
        .insertInto('images')
        .values({
          accountId: account.id,
          ownerKind: 'template',
          ownerId: template.id,
          type,
          scale,
          width: data.readUInt32BE(16),
          height: data.readUInt32BE(20),
          data,
          createdAt: now,
        })
        .execute();
    return { accountId: account.id, templateId: template.id };
  });
  // the certificate's real expiry, as read back by the engine
  const row = await app.db
    .selectFrom('passTypes')
    .selectAll()
    .where('passTypeIdentifier', '=', pki.passTypeIdentifier)
    .executeTakeFirstOrThrow();
  const identity = app.renderer.identity(row, app.secrets);
  await app.db
    .updateTable('passTypes')
    .set({ expiresAt: identity.expiresAt.toISOString() })
    .where('id', '=', row.id)
    .execute();
  const { key } = await createKey(app.db, { accountId: ids.accountId, name: 'initial key', scopes: ['*'] });
  return {
    appKey: key,
    accountId: ids.accountId,
    passTypeIdentifier: pki.passTypeIdentifier,
    templateId: ids.templateId,
    devCaPath,
  };
}

const AccountOut = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  rateLimit: Type.Union([Type.Integer(), Type.Null()], {
    description: "requests a minute per app key; null: the server's default",
  }),
  createdAt: Type.String(),
});
const RateLimit = Type.Union([Type.Integer({ minimum: 1, maximum: 1_000_000 }), Type.Null()], {
  description: "requests a minute per app key; null for the server's default",
});

async function setRateLimit(app: App, accountId: number, rateLimit: number | null): Promise<void> {
  await app.db.updateTable('accounts').set({ rateLimit }).where('id', '=', accountId).execute();
  await app.auth.forget(); // verified keys carry the account's limit
}

export const createAccountAction = defineAction({
  name: 'create_account',
  title: 'Create an account',
  description:
    'Creates an account with a development pass type, the demo "Member Card" template and an app key with every ' +
    'scope (returned once). Run by the operator (passslot accounts create), never with an app key.',
  scope: 'system',
  mutates: true,
  input: Type.Object({
    name: Type.String({ minLength: 1, maxLength: 200 }),
    rateLimit: Type.Optional(RateLimit),
  }),
  output: Type.Object({
    appKey: Type.String({ description: 'the secret key, shown this once' }),
    accountId: Type.Integer(),
    passTypeIdentifier: Type.String(),
    templateId: Type.Integer(),
    devCaPath: Type.String(),
  }),
  async handler(ctx, input) {
    const setup = await createAccount(ctx.app, input.name);
    if (input.rateLimit !== undefined) await setRateLimit(ctx.app, setup.accountId, input.rateLimit);
    return setup;
  },
});

export const getAccount = defineAction({
  name: 'get_account',
  title: 'Find an account by name',
  description: 'Returns the account of that name (the operator names accounts in the CLI).',
  scope: 'system',
  mutates: false,
  input: Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }),
  output: AccountOut,
  async handler(ctx, input) {
    const row = await ctx.app.db
      .selectFrom('accounts')
      .select(['id', 'name', 'rateLimit', 'createdAt'])
      .where('name', '=', input.name)
      .executeTakeFirst();
    if (!row) throw notFound(`account "${input.name}"`);
    return row;
  },
});

export const listAccounts = defineAction({
  name: 'list_accounts',
  title: 'List accounts',
  description: 'Every account on this Passslot, by name (the operator looks across accounts in the CLI).',
  scope: 'system',
  mutates: false,
  input: Type.Object({}),
  output: Type.Array(AccountOut),
  handler: (ctx) =>
    ctx.app.db
      .selectFrom('accounts')
      .select(['id', 'name', 'rateLimit', 'createdAt'])
      .orderBy('id')
      .execute(),
});

export const setAccountRateLimit = defineAction({
  name: 'set_account_rate_limit',
  title: "Set the account's rate limit",
  description:
    "Sets the requests a minute each of the account's app keys may make (null: the server's default).",
  scope: 'system',
  mutates: true,
  input: Type.Object({ rateLimit: RateLimit }),
  output: Type.Object({ rateLimit: Type.Union([Type.Integer(), Type.Null()]) }),
  async handler(ctx, input) {
    await setRateLimit(ctx.app, ctx.grant.accountId, input.rateLimit);
    return { rateLimit: input.rateLimit };
  },
});

export const accountActions = [createAccountAction, getAccount, listAccounts, setAccountRateLimit];

/** On an empty database: the demo account. Returns undefined when set up already. */
export async function firstStart(app: App): Promise<AccountSetup | undefined> {
  const setUp = async () => {
    const any = await app.db.selectFrom('accounts').select('id').limit(1).executeTakeFirst();
    if (any) return undefined;
    return runAction(createAccountAction, systemContext(app, 0, 'first-start', 'cli'), { name: 'demo' });
  };
  if (app.dialect !== 'postgres') return setUp();
  // several processes starting together on one empty PostgreSQL: one makes the demo account, the others wait and see it
  return app.db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(${FIRST_START_LOCK})`.execute(conn);
    try {
      return await setUp();
    } finally {
      await sql`select pg_advisory_unlock(${FIRST_START_LOCK})`.execute(conn);
    }
  });
}

const FIRST_START_LOCK = 7_305_011;

/** Another all-scopes key of an account (for tests and scripts; the CLI runs create_app_key). */
export async function createAccountKey(app: App, accountName: string, scopes: Scope[]): Promise<string> {
  const account = await runAction(getAccount, systemContext(app, 0, 'script', 'cli'), { name: accountName });
  return (await createKey(app.db, { accountId: account.id, name: 'cli key', scopes })).key;
}

export function curlExample(publicUrl: string, setup: AccountSetup): string {
  return [
    `curl -s -u ${setup.appKey}: -H 'Content-Type: application/json' \\`,
    `  -d '{"firstName":"Ada","lastName":"Lovelace","memberSince":"2024","points":120,"memberId":"M-0001"}' \\`,
    `  ${publicUrl}/v1/templates/${setup.templateId}/pass`,
  ].join('\n');
}
