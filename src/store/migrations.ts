// Schema migrations, in order. Each works on SQLite and PostgreSQL; the few differences (auto-increment keys, binary
// columns) are named by the dialect argument.
import { type ColumnDefinitionBuilder, type Kysely, sql } from 'kysely';

/** The databases Passslot runs on: one query code path, dialect details only where SQL differs. */
export type Dialect = 'sqlite' | 'postgres';

// biome-ignore lint/suspicious/noExplicitAny: migrations run against the database as it was, not today's types
type AnyDb = Kysely<any>;
type MigrationFn = (db: AnyDb, dialect: Dialect) => Promise<void>;

const id = (dialect: Dialect) => (dialect === 'postgres' ? sql`serial` : sql`integer`);
const blob = (dialect: Dialect) => (dialect === 'postgres' ? sql`bytea` : sql`blob`);

export const migrations: Record<string, MigrationFn> = {
  '0001_initial': async (db, dialect) => {
    const pk = (c: ColumnDefinitionBuilder) =>
      dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement();

    await db.schema
      .createTable('accounts')
      .addColumn('id', id(dialect), pk)
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('rate_limit', 'integer')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('app_keys')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('public_id', 'text', (c) => c.notNull().unique())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('template_ids', 'text')
      .addColumn('pass_type_ids', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_used_at', 'text')
      .addColumn('revoked_at', 'text')
      .execute();

    await db.schema
      .createTable('pass_types')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('pass_type_identifier', 'text', (c) => c.notNull().unique())
      .addColumn('team_identifier', 'text', (c) => c.notNull())
      .addColumn('organization_name', 'text', (c) => c.notNull())
      .addColumn('certificate_pem', 'text', (c) => c.notNull())
      .addColumn('private_key_enc', 'text', (c) => c.notNull())
      .addColumn('wwdr_pem', 'text')
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('unhealthy_reason', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('templates')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('pass_type_id', 'integer', (c) => c.notNull().references('pass_types.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('placeholders', 'text', (c) => c.notNull())
      .addColumn('restrictions', 'text', (c) => c.notNull())
      .addColumn('link_token', 'text', (c) => c.notNull().unique())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('templates_account_name', ['account_id', 'name'])
      .execute();

    await db.schema
      .createTable('images')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('owner_kind', 'text', (c) => c.notNull())
      .addColumn('owner_id', 'integer', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('scale', 'integer', (c) => c.notNull())
      .addColumn('width', 'integer', (c) => c.notNull())
      .addColumn('height', 'integer', (c) => c.notNull())
      .addColumn('data', blob(dialect), (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('images_owner_slot', ['owner_kind', 'owner_id', 'type', 'scale'])
      .execute();

    await db.schema
      .createTable('passes')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('pass_type_id', 'integer', (c) => c.notNull().references('pass_types.id'))
      .addColumn('template_id', 'integer', (c) => c.notNull().references('templates.id'))
      .addColumn('serial_number', 'text', (c) => c.notNull())
      .addColumn('auth_token', 'text', (c) => c.notNull())
      .addColumn('public_id', 'text', (c) => c.notNull().unique())
      .addColumn('link_token', 'text', (c) => c.notNull())
      .addColumn('values', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('price', 'double precision')
      .addColumn('owner_email', 'text')
      .addColumn('owner_user_id', 'text')
      .addColumn('owner_external_id', 'text')
      .addColumn('notification', 'text')
      .addColumn('voided', 'integer', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('deleted_at', 'text')
      .addUniqueConstraint('passes_type_serial', ['pass_type_id', 'serial_number'])
      .execute();
    await db.schema
      .createIndex('passes_account_updated')
      .on('passes')
      .columns(['account_id', 'updated_at', 'id'])
      .execute();
    await db.schema
      .createIndex('passes_owner_email')
      .on('passes')
      .columns(['account_id', 'owner_email'])
      .where(sql.ref('owner_email'), 'is not', null)
      .execute();
    await db.schema
      .createIndex('passes_owner_user')
      .on('passes')
      .columns(['account_id', 'owner_user_id'])
      .where(sql.ref('owner_user_id'), 'is not', null)
      .execute();
    await db.schema
      .createIndex('passes_owner_external')
      .on('passes')
      .columns(['account_id', 'owner_external_id'])
      .where(sql.ref('owner_external_id'), 'is not', null)
      .execute();
    await db.schema.createIndex('passes_template').on('passes').columns(['template_id']).execute();

    await db.schema
      .createTable('pass_renders')
      .addColumn('pass_id', 'integer', (c) => c.primaryKey().references('passes.id').onDelete('cascade'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('pkpass', blob(dialect), (c) => c.notNull())
      .addColumn('pass_json', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('events')
      .addColumn('seq', id(dialect), pk)
      .addColumn('id', 'text', (c) => c.notNull().unique())
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('pass_id', 'integer')
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('events_account_seq').on('events').columns(['account_id', 'seq']).execute();

    await db.schema
      .createTable('jobs')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('run_at', 'text', (c) => c.notNull())
      .addColumn('locked_until', 'text')
      .addColumn('locked_by', 'text')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('jobs_due').on('jobs').columns(['status', 'run_at']).execute();

    await db.schema
      .createTable('idempotency_keys')
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('request_hash', 'text', (c) => c.notNull())
      .addColumn('status_code', 'integer', (c) => c.notNull())
      .addColumn('content_type', 'text', (c) => c.notNull())
      .addColumn('body', blob(dialect), (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('idempotency_keys_pk', ['account_id', 'key'])
      .execute();

    await db.schema
      .createTable('audit_log')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('key_id', 'integer')
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target', 'text')
      .addColumn('outcome', 'integer', (c) => c.notNull())
      .addColumn('duration_ms', 'real', (c) => c.notNull())
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('input', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('audit_account_id').on('audit_log').columns(['account_id', 'id']).execute();

    await db.schema
      .createTable('scanners')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('full_access', 'integer', (c) => c.notNull())
      .addColumn('allowed_templates', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
  },

  '0002_wallet': async (db, dialect) => {
    const pk = (c: ColumnDefinitionBuilder) =>
      dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement();
    await db.schema
      .createTable('devices')
      .addColumn('id', id(dialect), pk)
      .addColumn('device_library_identifier', 'text', (c) => c.notNull().unique())
      .addColumn('push_token', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('registrations')
      .addColumn('device_id', 'integer', (c) => c.notNull().references('devices.id').onDelete('cascade'))
      .addColumn('pass_id', 'integer', (c) => c.notNull().references('passes.id').onDelete('cascade'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('registrations_pk', ['device_id', 'pass_id'])
      .execute();
    await db.schema.createIndex('registrations_pass').on('registrations').columns(['pass_id']).execute();
    await db.schema
      .createTable('wallet_logs')
      .addColumn('id', id(dialect), pk)
      .addColumn('pass_id', 'integer')
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('wallet_logs_pass').on('wallet_logs').columns(['pass_id', 'id']).execute();
    await db.schema
      .createTable('push_log')
      .addColumn('id', id(dialect), pk)
      .addColumn('pass_id', 'integer', (c) => c.notNull())
      .addColumn('device_library_identifier', 'text', (c) => c.notNull())
      .addColumn('push_token', 'text', (c) => c.notNull())
      .addColumn('status', 'integer', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('apns_id', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('push_log_pass').on('push_log').columns(['pass_id', 'id']).execute();
    // Update tags: one counter per pass type (a small row of its own), bumped in the transaction that changes a pass,
    // so tags follow commit order.
    await db.schema
      .alterTable('passes')
      .addColumn('update_tag', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .createTable('update_tags')
      .addColumn('pass_type_id', 'integer', (c) =>
        c.primaryKey().references('pass_types.id').onDelete('cascade'),
      )
      .addColumn('tag', 'integer', (c) => c.notNull())
      .execute();
    // Token-based APNs authentication, per account: a .p8 key (encrypted), its key id and team id.
    await db.schema.alterTable('accounts').addColumn('apns_key_enc', 'text').execute();
    await db.schema.alterTable('accounts').addColumn('apns_key_id', 'text').execute();
    await db.schema.alterTable('accounts').addColumn('apns_team_id', 'text').execute();
    await db.schema.createIndex('events_pass').on('events').columns(['pass_id', 'type']).execute();
    // Job progress and reports (bulk updates), and a key that groups jobs about one thing (pushes of one pass).
    await db.schema.alterTable('jobs').addColumn('result', 'text').execute();
    await db.schema.alterTable('jobs').addColumn('group_key', 'text').execute();
    await db.schema.createIndex('jobs_group').on('jobs').columns(['group_key', 'status']).execute();
    await db.schema.createIndex('jobs_leases').on('jobs').columns(['status', 'locked_until']).execute();
    // Last-Modified of the pass's current version, at one-second granularity, strictly increasing per pass.
    await db.schema.alterTable('passes').addColumn('modified_at', 'text').execute();
    // What Wallet's personalization sent (rewards enrollment).
    await db.schema.alterTable('passes').addColumn('personalization', 'text').execute();
  },

  '0003_sync': async (db, dialect) => {
    const pk = (c: ColumnDefinitionBuilder) =>
      dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement();
    // Where events go: webhooks (signed POSTs) and CRM integrations share the columns the delivery engine reads.
    for (const table of ['webhooks', 'integrations']) {
      let t = db.schema
        .createTable(table)
        .addColumn('id', id(dialect), pk)
        .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'));
      t =
        table === 'webhooks'
          ? t
              .addColumn('url', 'text', (c) => c.notNull())
              .addColumn('secret_enc', 'text', (c) => c.notNull())
              .addColumn('previous_secret_enc', 'text')
              .addColumn('previous_secret_until', 'text')
          : t
              .addColumn('type', 'text', (c) => c.notNull())
              .addColumn('settings', 'text', (c) => c.notNull())
              .addColumn('mapping', 'text', (c) => c.notNull())
              .addColumn('credentials_enc', 'text', (c) => c.notNull());
      await t
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('events', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('disabled_reason', 'text')
        .addColumn('failing_since', 'text')
        .addColumn('last_success_at', 'text')
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex(`${table}_account`).on(table).columns(['account_id', 'enabled']).execute();
    }
    // One row per event and target: written with the event, claimed with a lease, retried on a schedule.
    await db.schema
      .createTable('deliveries')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('target_kind', 'text', (c) => c.notNull())
      .addColumn('target_id', 'integer', (c) => c.notNull())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('pass_id', 'integer')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('next_attempt_at', 'text', (c) => c.notNull())
      .addColumn('locked_until', 'text')
      .addColumn('locked_by', 'text')
      .addColumn('last_status', 'integer')
      .addColumn('last_error', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('delivered_at', 'text')
      .execute();
    // due deliveries, a target's due deliveries in order, and the open (pending or running) deliveries of a pass to
    // a target: partial indexes, so none of them grows with the delivered history
    await db.schema
      .createIndex('deliveries_due')
      .on('deliveries')
      .columns(['next_attempt_at', 'target_kind', 'target_id'])
      .where(sql.ref('status'), '=', 'pending')
      .execute();
    await db.schema
      .createIndex('deliveries_target_due')
      .on('deliveries')
      .columns(['target_kind', 'target_id', 'next_attempt_at', 'id'])
      .where(sql.ref('status'), '=', 'pending')
      .execute();
    await db.schema
      .createIndex('deliveries_open')
      .on('deliveries')
      .columns(['target_kind', 'target_id', 'pass_id', 'id'])
      .where(sql.ref('status'), 'in', sql`('pending', 'running')`)
      .execute();
    await db.schema
      .createIndex('deliveries_leases')
      .on('deliveries')
      .columns(['locked_until'])
      .where(sql.ref('status'), '=', 'running')
      .execute();
    await db.schema
      .createIndex('deliveries_target')
      .on('deliveries')
      .columns(['target_kind', 'target_id', 'id'])
      .execute();
    await db.schema
      .createTable('delivery_attempts')
      .addColumn('id', id(dialect), pk)
      .addColumn('delivery_id', 'integer', (c) => c.notNull().references('deliveries.id').onDelete('cascade'))
      .addColumn('attempted_at', 'text', (c) => c.notNull())
      .addColumn('status_code', 'integer')
      .addColumn('latency_ms', 'real', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('response_excerpt', 'text')
      .execute();
    await db.schema
      .createIndex('delivery_attempts_delivery')
      .on('delivery_attempts')
      .columns(['delivery_id'])
      .execute();
    await db.schema
      .createIndex('events_account_type')
      .on('events')
      .columns(['account_id', 'type', 'seq'])
      .execute();
    // When the account was last told that a pass type certificate is about to expire.
    await db.schema.alterTable('pass_types').addColumn('expiry_warned_at', 'text').execute();
  },
  '0004_door': async (db) => {
    // The edge an action was run from (rest, cli, mcp, job, page, wallet), now that every edge runs actions.
    await db.schema
      .alterTable('audit_log')
      .addColumn('edge', 'text', (c) => c.notNull().defaultTo('rest'))
      .execute();
  },
  '0005_agents': async (db, dialect) => {
    const pk = (c: ColumnDefinitionBuilder) =>
      dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement();
    // People: a user signs in with an email and a password (scrypt) and is a member of accounts with a role.
    await db.schema
      .createTable('users')
      .addColumn('id', id(dialect), pk)
      .addColumn('email', 'text', (c) => c.notNull().unique())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('password_changed_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('memberships')
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('memberships_pk', ['user_id', 'account_id'])
      .execute();
    await db.schema
      .createTable('sessions')
      .addColumn('id', id(dialect), pk)
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('csrf', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .execute();
    // A key may act on behalf of a user (null: a service key).
    await db.schema
      .alterTable('app_keys')
      .addColumn('user_id', 'integer', (c) => c.references('users.id').onDelete('set null'))
      .execute();
    // OAuth 2.1: registered clients, authorization codes, grants (one per consent) and their tokens.
    await db.schema
      .createTable('oauth_clients')
      .addColumn('id', id(dialect), pk)
      .addColumn('client_id', 'text', (c) => c.notNull().unique())
      .addColumn('secret_hash', 'text')
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('redirect_uris', 'text', (c) => c.notNull())
      .addColumn('auth_method', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('oauth_grants')
      .addColumn('id', id(dialect), pk)
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('resource', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_used_at', 'text')
      .addColumn('revoked_at', 'text')
      .addColumn('revoked_reason', 'text')
      .execute();
    await db.schema
      .createTable('oauth_codes')
      .addColumn('id', id(dialect), pk)
      .addColumn('code_hash', 'text', (c) => c.notNull().unique())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('redirect_uri', 'text', (c) => c.notNull())
      .addColumn('code_challenge', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('resource', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('used_at', 'text')
      .addColumn('grant_id', 'integer')
      .execute();
    await db.schema
      .createTable('oauth_tokens')
      .addColumn('id', id(dialect), pk)
      .addColumn('public_id', 'text', (c) => c.notNull().unique())
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('grant_id', 'integer', (c) => c.notNull().references('oauth_grants.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('used_at', 'text')
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema.createIndex('oauth_tokens_grant').on('oauth_tokens').columns(['grant_id']).execute();
    // The execution log: who (credential, on whose behalf), what it touched, why it failed, and a hash chain per
    // account (seq, prev_hash, hash) whose head is kept in audit_heads so that concurrent writers extend it in turn.
    for (const [column, type] of [
      ['credential', 'text'],
      ['on_behalf_of', 'text'],
      ['error', 'text'],
      ['touched', 'text'],
      ['seq', 'integer'],
      ['prev_hash', 'text'],
      ['hash', 'text'],
    ] as const)
      await db.schema.alterTable('audit_log').addColumn(column, type).execute();
    await db.schema
      .createIndex('audit_log_account_seq')
      .on('audit_log')
      .columns(['account_id', 'seq'])
      .execute();
    await db.schema
      .createTable('audit_heads')
      .addColumn('account_id', 'integer', (c) => c.primaryKey())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .execute();
    // Runs of every action (reads too) per hour, for success and error rates and durations (GET /v1/actions).
    let stats = db.schema
      .createTable('action_stats')
      .addColumn('account_id', 'integer', (c) => c.notNull())
      .addColumn('hour', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('edge', 'text', (c) => c.notNull())
      .addColumn('calls', 'integer', (c) => c.notNull())
      .addColumn('errors', 'integer', (c) => c.notNull());
    // counts per duration bucket (DURATION_BUCKETS_MS in store/action-stats.ts, then one for longer), so that runs
    // from many processes add up with one upsert
    for (let b = 0; b < 12; b++) stats = stats.addColumn(`b${b}`, 'integer', (c) => c.notNull().defaultTo(0));
    await stats
      .addPrimaryKeyConstraint('action_stats_pk', ['account_id', 'hour', 'action', 'edge'])
      .execute();
  },
  '0006_distribution': async (db, dialect) => {
    const pk = (c: ColumnDefinitionBuilder) =>
      dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement();
    // The holder's phone (E.164), beside their email: where an SMS goes by default.
    await db.schema.alterTable('passes').addColumn('owner_phone', 'text').execute();
    // Every message sent to a pass holder (email, SMS): queued with a job, then what the provider said of it.
    await db.schema
      .createTable('messages')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('pass_id', 'integer', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('recipient', 'text', (c) => c.notNull())
      .addColumn('body', 'text')
      .addColumn('integration_id', 'integer')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('provider_id', 'text')
      .addColumn('error_code', 'text')
      .addColumn('error_message', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('messages_pass').on('messages').columns(['pass_id', 'id']).execute();
    // emails queued before there were messages get theirs, so that their jobs find it
    const emails = await db
      .selectFrom('jobs')
      .select(['id', 'accountId', 'payload', 'createdAt'])
      .where('kind', '=', 'email')
      .where('status', 'in', ['pending', 'running'])
      .execute();
    for (const job of emails as { id: number; accountId: number; payload: string; createdAt: string }[]) {
      const payload = JSON.parse(job.payload) as { passId: number; email: string };
      const message = await db
        .insertInto('messages')
        .values({
          accountId: job.accountId,
          passId: payload.passId,
          channel: 'email',
          recipient: payload.email,
          status: 'queued',
          createdAt: job.createdAt,
          updatedAt: job.createdAt,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await db
        .updateTable('jobs')
        .set({ payload: JSON.stringify({ messageId: message.id, ...payload }) })
        .where('id', '=', job.id)
        .execute();
    }
    await db.schema
      .createIndex('messages_provider')
      .on('messages')
      .columns(['integration_id', 'provider_id'])
      .execute();
    // Stripe events as received (verified), one row per event id and integration, worked off by a job.
    await db.schema
      .createTable('stripe_events')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('integration_id', 'integer', (c) => c.notNull())
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('payload', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('note', 'text')
      .addColumn('pass_id', 'integer')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('processed_at', 'text')
      .addUniqueConstraint('stripe_events_event', ['integration_id', 'event_id'])
      .execute();
    // One row per Checkout Session that was fulfilled: the one pass it issued, and its payment for refunds.
    await db.schema
      .createTable('stripe_checkouts')
      .addColumn('id', id(dialect), pk)
      .addColumn('account_id', 'integer', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
      .addColumn('integration_id', 'integer', (c) => c.notNull())
      .addColumn('session_id', 'text', (c) => c.notNull())
      .addColumn('payment_intent', 'text')
      .addColumn('event_id', 'text', (c) => c.notNull())
      .addColumn('pass_id', 'integer')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addUniqueConstraint('stripe_checkouts_session', ['integration_id', 'session_id'])
      .execute();
    await db.schema
      .createIndex('stripe_checkouts_payment')
      .on('stripe_checkouts')
      .columns(['integration_id', 'payment_intent'])
      .execute();
  },
  '0007_relevance': async (db) => {
    // A pass's own relevance (locations, maxDistance, relevantDates), over its template's: where and when Wallet
    // surfaces it on the lock screen.
    await db.schema.alterTable('passes').addColumn('relevance', 'text').execute();
  },
  '0008_forms': async (db) => {
    // How a template's public form asks for its values: labels, input types, choices, what is required, whether to
    // email the pass and whether one pass per email.
    await db.schema.alterTable('templates').addColumn('form', 'text').execute();
  },
  '0009_messages': async (db) => {
    // What a template's passes say when they are sent: the email's subject, text and HTML, and the SMS text.
    await db.schema.alterTable('templates').addColumn('messages', 'text').execute();
  },
  '0010_job_data': async (db) => {
    // A long job's input (an import's CSV) and the items it failed, apart from the job row: the row's progress is
    // saved after every batch, and rewriting megabytes of input with it made a large import quadratic.
    await db.schema
      .createTable('job_inputs')
      .addColumn('job_id', 'integer', (c) => c.primaryKey().references('jobs.id').onDelete('cascade'))
      .addColumn('data', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('job_failures')
      .addColumn('job_id', 'integer', (c) => c.notNull().references('jobs.id').onDelete('cascade'))
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('job_failures_pk', ['job_id', 'seq'])
      .execute();
  },
  '0011_redemptions': async (db) => {
    // How many times a pass was redeemed, against its template's redemptionRestriction.
    await db.schema
      .alterTable('passes')
      .addColumn('redemptions', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
  '0012_localizations': async (db) => {
    // A template's languages: the pass.strings table of each.
    await db.schema.alterTable('templates').addColumn('localizations', 'text').execute();
  },
  '0013_retention': async (db) => {
    // Execution records pruned by retention leave their chain's anchor: the last pruned record's seq and hash.
    await db.schema
      .alterTable('audit_heads')
      .addColumn('pruned_seq', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.alterTable('audit_heads').addColumn('pruned_hash', 'text').execute();
  },
  '0014_list_indexes': async (db) => {
    // Lists are ordered by id: a template's and a status's passes are read in that order from their own index, so a
    // page costs the same with a million passes as with a thousand (bench/scale.ts).
    await db.schema.createIndex('passes_template_id').on('passes').columns(['template_id', 'id']).execute();
    await db.schema.dropIndex('passes_template').execute();
    await db.schema
      .createIndex('passes_account_status')
      .on('passes')
      .columns(['account_id', 'status', 'id'])
      .execute();
  },
  '0015_google_wallet': async (db) => {
    // an account's Google Wallet issuer and service account (its private key sealed like the APNs key)
    for (const column of ['google_issuer_id', 'google_client_email', 'google_key_enc'])
      await db.schema.alterTable('accounts').addColumn(column, 'text').execute();
  },
  '0016_google_objects': async (db) => {
    // what Google Wallet holds of each pass (its object inserted, the version and message sent, Google's last refusal,
    // whether a holder saved it), of each template (its class and the version sent), and the callbacks already seen
    await db.schema
      .createTable('google_objects')
      .addColumn('pass_id', 'integer', (c) => c.primaryKey().references('passes.id').onDelete('cascade'))
      .addColumn('account_id', 'integer', (c) => c.notNull())
      .addColumn('object_id', 'text', (c) => c.notNull())
      .addColumn('inserted', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('synced_version', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('message', 'text')
      .addColumn('error', 'text')
      .addColumn('saved', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('google_classes')
      .addColumn('class_id', 'text', (c) => c.primaryKey())
      .addColumn('account_id', 'integer', (c) => c.notNull())
      .addColumn('template_id', 'integer', (c) => c.notNull())
      .addColumn('template_version', 'integer', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('google_callbacks')
      .addColumn('nonce', 'text', (c) => c.primaryKey())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
  },
  '0017_scan_barcodes': async (db, dialect) => {
    // what a scanner reads, kept with each pass's current version so that a scan finds its pass by one index lookup
    await db.schema.alterTable('pass_renders').addColumn('barcode', 'text').execute();
    await sql`update pass_renders set barcode = ${
      dialect === 'postgres'
        ? sql`coalesce(pass_json::json -> 'barcodes' -> 0 ->> 'message', pass_json::json -> 'barcode' ->> 'message')`
        : sql`coalesce(json_extract(pass_json, '$.barcodes[0].message'), json_extract(pass_json, '$.barcode.message'))`
    }`.execute(db);
    await db.schema.createIndex('pass_renders_barcode').on('pass_renders').column('barcode').execute();
    // the key that signs an account's barcodes (templates with signedBarcodes), sealed like its other secrets
    await db.schema.alterTable('accounts').addColumn('barcode_key_enc', 'text').execute();
  },
  '0018_scanner_keys': async (db) => {
    // scanners sign in with a key of their own (scope scans:write), and their scans name them
    await db.schema.alterTable('app_keys').addColumn('scanner_id', 'integer').execute();
  },
};
