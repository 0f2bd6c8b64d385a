// Turning stored passes into .pkpass files: identities and template factories are prepared once and cached in memory;
// each pass version's .pkpass is rendered when first needed and cached in the database (pass_renders).
import {
  type BuiltPass,
  createPassFactory,
  type ImageKind,
  imageFileName,
  type JsonObject,
  type JsonValue,
  loadIdentityFromPem,
  type PassFactory,
  type PassIdentity,
  type Scale,
} from '../engine/index.js';
import { barcodeKeyOf, signedCode } from '../store/barcode-keys.js';
import type { Db } from '../store/db.js';
import type { PassRow, PassTypeRow, TemplateRow } from '../store/schema.js';
import type { Secrets } from '../store/secrets.js';
import { localizationAssets, stringsOf } from './localizations.js';
import { withNotification } from './notification.js';
import { type FactorySpec, RenderPool, renderWorkersAvailable } from './render-pool.js';

export interface RenderContext {
  db: Db;
  secrets: Secrets;
  publicUrl: string;
  now: Date;
}

const LIMIT = 500;

/** A small insertion-ordered cache that drops its oldest entry beyond LIMIT. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > LIMIT) this.map.delete(this.map.keys().next().value as string);
  }
}

export async function loadImages(
  db: Db,
  ownerKind: 'template' | 'pass',
  ownerId: number,
): Promise<Record<string, Uint8Array>> {
  const rows = await db
    .selectFrom('images')
    .select(['type', 'scale', 'data'])
    .where('ownerKind', '=', ownerKind)
    .where('ownerId', '=', ownerId)
    .execute();
  const out: Record<string, Uint8Array> = {};
  for (const r of rows) out[imageFileName(r.type as ImageKind, r.scale as Scale)] = r.data;
  return out;
}

export class Renderer {
  private readonly identities = new Lru<PassIdentity>();
  private readonly factories = new Lru<PassFactory>();
  private readonly pool: RenderPool | undefined;

  /** With threads > 0 (and the compiled worker present) passes are built on worker threads. */
  constructor(threads = 0) {
    this.pool = threads > 0 && renderWorkersAvailable() ? new RenderPool(threads) : undefined;
  }

  get threads(): number {
    return this.pool ? this.pool.size : 0;
  }

  close(): Promise<void> {
    return this.pool?.close() ?? Promise.resolve();
  }

  identity(passType: PassTypeRow, secrets: Secrets): PassIdentity {
    const cacheKey = `${passType.id}:${passType.updatedAt}`;
    let identity = this.identities.get(cacheKey);
    if (!identity) {
      identity = loadIdentityFromPem(
        { certificate: passType.certificatePem, privateKey: secrets.decrypt(passType.privateKeyEnc) },
        { wwdr: passType.wwdrPem ?? undefined },
      );
      this.identities.set(cacheKey, identity);
    }
    return identity;
  }

  async factory(ctx: RenderContext, template: TemplateRow, passType: PassTypeRow): Promise<PassFactory> {
    const cacheKey = `${template.id}:${template.version}:${passType.id}:${passType.updatedAt}`;
    let factory = this.factories.get(cacheKey);
    if (!factory) {
      factory = createPassFactory({
        identity: this.identity(passType, ctx.secrets),
        template: JSON.parse(template.body) as JsonObject,
        assets: {
          images: await loadImages(ctx.db, 'template', template.id),
          localizations: localizationAssets(stringsOf(template)),
        },
        allowHttpWebService: ctx.publicUrl.startsWith('http://'),
      });
      this.factories.set(cacheKey, factory);
    }
    return factory;
  }

  /**
   * Builds a pass's .pkpass from its rows (no cache). Throws the engine's errors for bad values. `here`: on this
   * thread even when there are render threads (a batch builds on both while this thread would only wait).
   */
  async build(
    ctx: RenderContext,
    pass: Pick<
      PassRow,
      | 'id'
      | 'serialNumber'
      | 'authToken'
      | 'values'
      | 'voided'
      | 'deletedAt'
      | 'notification'
      | 'relevance'
      | 'redemptions'
    >,
    template: TemplateRow,
    passType: PassTypeRow,
    passImages?: Record<string, Uint8Array>,
    here = false,
  ): Promise<BuiltPass> {
    const overrides: JsonObject = {
      serialNumber: pass.serialNumber,
      webServiceURL: `${ctx.publicUrl}/wallet`,
      authenticationToken: pass.authToken,
    };
    const restrictions = JSON.parse(template.restrictions) as {
      sharingRestriction?: boolean;
      signedBarcodes?: boolean;
      redemptionRestriction?: number | null;
    };
    // revoked, deleted, or used up: every redemption its template allows was made (Apple: "a one time use coupon that
    // has been redeemed" is void). Counted, not read from the status, which PassSlot lets anyone set by hand.
    const limit = restrictions.redemptionRestriction ?? null;
    if (
      pass.voided ||
      pass.deletedAt ||
      (limit !== null && pass.redemptions > 0 && pass.redemptions >= limit)
    )
      overrides.voided = true;
    // PassSlot's sharingRestriction: Wallet hides the pass's share button
    if (restrictions.sharingRestriction) overrides.sharingProhibited = true;
    // signed barcodes: every barcode of the pass carries its signed code (store/barcode-keys.ts)
    if (restrictions.signedBarcodes) {
      const code = signedCode(await barcodeKeyOf(ctx, template.accountId), pass.serialNumber);
      const body = JSON.parse(template.body) as JsonObject;
      const signed = (b: JsonValue) => ({ ...(b as JsonObject), message: code, altText: pass.serialNumber });
      if (Array.isArray(body.barcodes)) overrides.barcodes = body.barcodes.map(signed);
      if (body.barcode && typeof body.barcode === 'object') overrides.barcode = signed(body.barcode);
    }
    // the pass's own relevance replaces its template's, key by key (locations, maxDistance, relevantDates)
    if (pass.relevance) Object.assign(overrides, JSON.parse(pass.relevance) as JsonObject);
    const values = JSON.parse(pass.values) as Record<string, unknown>;
    const images = passImages ?? (pass.id > 0 ? await loadImages(ctx.db, 'pass', pass.id) : undefined);
    if (this.pool && !here) {
      const key = `${template.id}:${template.version}:${passType.id}:${passType.updatedAt}`;
      const spec = async (): Promise<FactorySpec> => ({
        certificatePem: passType.certificatePem,
        privateKeyPem: ctx.secrets.decrypt(passType.privateKeyEnc),
        wwdrPem: passType.wwdrPem ?? undefined,
        template: JSON.parse(template.body) as JsonObject,
        images: await loadImages(ctx.db, 'template', template.id),
        strings: stringsOf(template),
        allowHttpWebService: ctx.publicUrl.startsWith('http://'),
      });
      return this.pool.build(key, spec, {
        values,
        overrides,
        images,
        now: ctx.now.getTime(),
        notification: pass.notification,
      });
    }
    const factory = await this.factory(ctx, template, passType);
    return factory.build({
      values,
      overrides,
      images,
      now: ctx.now,
      transform:
        pass.notification === null ? undefined : (json) => withNotification(json, pass.notification!),
    });
  }
}
