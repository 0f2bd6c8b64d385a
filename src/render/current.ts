// The .pkpass of a pass version: built by the renderer (Wallet's rules broken are a 422 with field errors, nothing
// saved), stored with the version it renders, and served from there until the pass changes.

import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import {
  type BuiltPass,
  type JsonObject,
  MissingValuesError,
  PassProblemsError,
  ValueTypeError,
} from '../engine/index.js';
import { fieldErrors, invalid } from '../errors.js';
import type { RowCache } from '../store/cache.js';
import type { Db } from '../store/db.js';
import { hotQueries, preparedIn } from '../store/prepared.js';
import type { PassRow, PassTypeRow, TemplateRow } from '../store/schema.js';
import type { Secrets } from '../store/secrets.js';
import type { RenderContext, Renderer } from './renderer.js';

/** What rendering needs of the App. */
export interface RenderDeps {
  db: Db;
  secrets: Secrets;
  renderer: Renderer;
  rows: RowCache;
  clock: Clock;
  config: Pick<Config, 'publicUrl'>;
}

const renderContext = (deps: RenderDeps): RenderContext => ({
  db: deps.db,
  secrets: deps.secrets,
  publicUrl: deps.config.publicUrl,
  now: deps.clock.now(),
});

/** Maps engine failures to PassSlot's 422 with field errors. */
export function toValidationError(err: unknown): never {
  if (err instanceof MissingValuesError)
    throw invalid(
      err.names.map((n) => ({ field: `values.${n}`, reasons: ['is required by the template'] })),
      err.message,
    );
  if (err instanceof ValueTypeError)
    throw invalid([{ field: `values.${err.placeholder}`, reasons: [err.message] }]);
  if (err instanceof PassProblemsError)
    throw invalid(
      fieldErrors(
        err.problems
          .filter((p) => p.severity === 'error')
          .map((p) => ({ field: p.path || 'pass.json', reason: p.message })),
      ),
      'The rendered pass.json would be rejected by Wallet',
    );
  throw err;
}

export async function buildOr422(
  deps: RenderDeps,
  pass: Parameters<Renderer['build']>[1],
  template: TemplateRow,
  passType: PassTypeRow,
  images?: Record<string, Uint8Array>,
  here = false,
): Promise<BuiltPass> {
  try {
    return await deps.renderer.build(renderContext(deps), pass, template, passType, images, here);
  } catch (err) {
    return toValidationError(err);
  }
}

export async function templateOf(deps: RenderDeps, pass: PassRow): Promise<TemplateRow> {
  return deps.rows.template(deps.db, pass.templateId);
}

export async function storeRender(
  db: Db,
  passId: number,
  version: number,
  built: BuiltPass,
  now: Date,
): Promise<void> {
  await upsertRender(
    db,
    passId,
    version,
    built.pkpass,
    JSON.stringify(built.passJson),
    barcodeOf(built.passJson),
    now.toISOString(),
  );
}

/** The message of a pass's first barcode (what a scanner reads), or null when it has none. */
export function barcodeOf(passJson: JsonObject): string | null {
  const list = Array.isArray(passJson.barcodes) ? passJson.barcodes : [];
  const first = list[0] ?? passJson.barcode;
  const message =
    typeof first === 'object' && first !== null && !Array.isArray(first) ? first.message : undefined;
  return typeof message === 'string' && message ? message : null;
}

const upsertRender = preparedIn(
  6,
  (
    db,
    passId: number,
    version: number,
    pkpass: Uint8Array,
    passJson: string,
    barcode: string | null,
    createdAt: string,
  ) =>
    db
      .insertInto('passRenders')
      .values({ passId, version, pkpass, passJson, barcode, createdAt })
      .onConflict((oc) => oc.column('passId').doUpdateSet({ version, pkpass, passJson, barcode, createdAt })),
);

/** The pass.json of a pass's current version (rendered now when it was not). */
const passJsonOf = preparedIn(1, (db, passId: number) =>
  db.selectFrom('passRenders').select(['version', 'passJson']).where('passId', '=', passId),
);

export async function currentPassJson(
  deps: RenderDeps,
  pass: PassRow,
  passType: PassTypeRow,
): Promise<string> {
  // the stored version's pass.json when it is current (not the .pkpass beside it), else rendered now
  const [stored] = await passJsonOf(deps.db, pass.id);
  if (stored && stored.version === pass.version) return stored.passJson;
  await currentPkpass(deps, pass, passType);
  const row = await deps.db
    .selectFrom('passRenders')
    .select('passJson')
    .where('passId', '=', pass.id)
    .executeTakeFirstOrThrow();
  return row.passJson;
}

/** The .pkpass of a pass's current version, from the cache or rendered now (and cached). */
export async function currentPkpass(
  deps: RenderDeps,
  pass: PassRow,
  passType: PassTypeRow,
): Promise<Uint8Array> {
  const [cached] = await hotQueries(deps.db).renderOf(pass.id);
  if (cached && cached.version === pass.version) return cached.pkpass;
  const template = await templateOf(deps, pass);
  const built = await buildOr422(deps, pass, template, passType);
  await storeRender(deps.db, pass.id, pass.version, built, deps.clock.now());
  return built.pkpass;
}
