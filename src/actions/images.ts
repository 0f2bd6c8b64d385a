// Image actions of passes and of templates: list, get, set and delete images by type and resolution (PassSlot's
// normal/high/ultra for @1x/@2x/@3x). A pass image change re-renders the pass and pushes it; a template image change
// re-renders every pass of the template in the background.
import { type TProperties, Type } from '@sinclair/typebox';
import { notFound } from '../errors.js';
import type { Scope } from '../store/keys.js';
import type { TemplateRow } from '../store/schema.js';
import { findPass, findTemplate } from './access.js';
import { normalizeImage } from './pass-images.js';
import { writePassVersion } from './pass-versions.js';
import { type ActionContext, defineAction, FileOut } from './registry.js';
import { Id, ImageType, PassRef, RESOLUTIONS, Resolution, resolutionOf } from './schemas.js';
import { refreshTemplate } from './templates.js';

const ImageInfo = Type.Object({
  type: Type.String(),
  resolution: Resolution,
  width: Type.Integer(),
  height: Type.Integer(),
  size: Type.Integer(),
  contentType: Type.Literal('image/png'),
});

type Owner = { kind: 'pass' | 'template'; id: number; accountId: number };
type Target =
  | { owner: Owner; found: Awaited<ReturnType<typeof findPass>>; template?: undefined }
  | { owner: Owner; template: TemplateRow; found?: undefined };
type Slot = { type?: string; resolution?: keyof typeof RESOLUTIONS };
/** An image action's input as its handler reads it: the owner's reference (read by find) and the slot. */
type Loose = Slot & Record<string, unknown>;

function slotQuery(ctx: ActionContext, owner: Owner, slot: Slot) {
  let q = ctx.app.db.selectFrom('images').where('ownerKind', '=', owner.kind).where('ownerId', '=', owner.id);
  if (slot.type) q = q.where('type', '=', slot.type);
  if (slot.resolution) q = q.where('scale', '=', RESOLUTIONS[slot.resolution]);
  return q;
}

/** After a change of images: a pass gets a new version and a push; a template's passes are refreshed in the background. */
async function afterChange(ctx: ActionContext, target: Target, what: string): Promise<void> {
  if (target.found) {
    await writePassVersion(ctx, target.found, {}, { type: 'pass.updated', extra: { images: what } });
    return;
  }
  await refreshTemplate(ctx, target.template, {});
}

const ImageSlot = { type: ImageType, resolution: Resolution };
const OptionalSlot = { type: Type.Optional(ImageType), resolution: Type.Optional(Resolution) };

/**
 * The four image actions of an owner. Images of a pass are the passes scopes' business, images of a template the
 * templates scopes'; the owner is found with the key's restrictions applied.
 */
function imageActionsOf(spec: {
  kind: 'pass' | 'template';
  ref: TProperties;
  read: Scope;
  write: Scope;
  /** The owner the (validated) input names. */
  find(ctx: ActionContext, input: Record<string, unknown>): Promise<Target>;
  /** What a change reaches: the pass, or every pass of the template. */
  reach: string;
}) {
  const { kind, ref, find } = spec;
  const list = defineAction({
    name: `list_${kind}_images`,
    title: `List the images of a ${kind}`,
    description: `Lists the images of a ${kind} (type, resolution, size), optionally of one type and resolution.`,
    scope: spec.read,
    mutates: false,
    input: Type.Object({ ...ref, ...OptionalSlot }),
    output: Type.Array(ImageInfo),
    async handler(ctx, input: Loose) {
      const { owner } = await find(ctx, input);
      const rows = await slotQuery(ctx, owner, input)
        .select(['type', 'scale', 'width', 'height', 'data'])
        .orderBy('type')
        .orderBy('scale')
        .execute();
      return rows.map((r) => ({
        type: r.type,
        resolution: resolutionOf(r.scale),
        width: r.width,
        height: r.height,
        size: r.data.length,
        contentType: 'image/png' as const,
      }));
    },
  });
  const get = defineAction({
    name: `get_${kind}_image`,
    title: `Get one image of a ${kind}`,
    description: `Returns the PNG bytes of one image (type and resolution) of a ${kind}.`,
    scope: spec.read,
    mutates: false,
    answers: 'bytes',
    input: Type.Object({ ...ref, ...ImageSlot }),
    output: FileOut,
    async handler(ctx, input: Loose & Required<Slot>) {
      const { owner } = await find(ctx, input);
      const row = await slotQuery(ctx, owner, input).select('data').executeTakeFirst();
      if (!row) throw notFound(`image ${input.type} (${input.resolution})`);
      return { contentType: 'image/png', data: row.data };
    },
  });
  const set = defineAction({
    name: `set_${kind}_image`,
    title: `Set an image of a ${kind}`,
    description:
      `Sets one image (type and resolution) of a ${kind} from PNG, JPEG or GIF bytes (base64); it is stored as PNG. ` +
      `${spec.reach} is updated on the phones.`,
    scope: spec.write,
    mutates: true,
    input: Type.Object({ ...ref, ...ImageSlot, data: Type.String({ description: 'image bytes, base64' }) }),
    output: ImageInfo,
    async handler(ctx, input: Loose & Required<Slot> & { data: string }) {
      const target = await find(ctx, input);
      const img = await normalizeImage(
        'image',
        input.type,
        RESOLUTIONS[input.resolution],
        Buffer.from(input.data, 'base64'),
      );
      await ctx.app.db.transaction().execute(async (trx) => {
        await trx
          .deleteFrom('images')
          .where('ownerKind', '=', target.owner.kind)
          .where('ownerId', '=', target.owner.id)
          .where('type', '=', img.type)
          .where('scale', '=', img.scale)
          .execute();
        await trx
          .insertInto('images')
          .values({
            accountId: target.owner.accountId,
            ownerKind: target.owner.kind,
            ownerId: target.owner.id,
            type: img.type,
            scale: img.scale,
            width: img.width,
            height: img.height,
            data: img.data,
            createdAt: ctx.app.clock.now().toISOString(),
          })
          .execute();
      });
      await afterChange(ctx, target, `${img.type} set`);
      return {
        type: img.type,
        resolution: input.resolution,
        width: img.width,
        height: img.height,
        size: img.data.length,
        contentType: 'image/png' as const,
      };
    },
  });
  const remove = defineAction({
    name: `delete_${kind}_images`,
    title: `Delete images of a ${kind}`,
    description: `Deletes the images of a ${kind}: all of them, those of one type, or one type at one resolution. ${spec.reach} is updated on the phones.`,
    scope: spec.write,
    mutates: true,
    input: Type.Object({ ...ref, ...OptionalSlot }),
    output: Type.Object({ deleted: Type.Integer() }),
    async handler(ctx, input: Loose) {
      const target = await find(ctx, input);
      const deleted = Number(
        (
          await ctx.app.db
            .deleteFrom('images')
            .where('ownerKind', '=', target.owner.kind)
            .where('ownerId', '=', target.owner.id)
            .where((eb) => {
              const conds = [];
              if (input.type) conds.push(eb('type', '=', input.type));
              if (input.resolution) conds.push(eb('scale', '=', RESOLUTIONS[input.resolution]));
              return eb.and(conds);
            })
            .executeTakeFirst()
        ).numDeletedRows,
      );
      if (deleted > 0) await afterChange(ctx, target, 'images deleted');
      return { deleted };
    },
  });
  return [list, get, set, remove];
}

export const passImageActions = imageActionsOf({
  kind: 'pass',
  ref: PassRef,
  read: 'passes:read',
  write: 'passes:write',
  reach: 'The pass',
  async find(ctx, input) {
    const ref = input as { passTypeIdentifier: string; serialNumber: string };
    const found = await findPass(ctx, ref.passTypeIdentifier, ref.serialNumber);
    return { owner: { kind: 'pass', id: found.pass.id, accountId: found.pass.accountId }, found };
  },
});

export const templateImageActions = imageActionsOf({
  kind: 'template',
  ref: { templateId: Id },
  read: 'templates:read',
  write: 'templates:write',
  reach: 'Every pass of the template',
  async find(ctx, input) {
    const template = await findTemplate(ctx, { id: input.templateId as number });
    return { owner: { kind: 'template', id: template.id, accountId: template.accountId }, template };
  },
});

export const imageActions = [...passImageActions, ...templateImageActions];
