// Image actions for passes and templates: list, get, set and delete images by type and resolution (PassSlot's
// normal/high/ultra for @1x/@2x/@3x). A pass image change re-renders the pass and pushes it; a template image change
// re-renders every pass of the template in the background.
import { Type } from '@sinclair/typebox';
import { notFound } from '../errors.js';
import { enqueueJob } from '../store/jobs.js';
import { findPass, findTemplate } from './access.js';
import { normalizeImage, writePassVersion } from './pass-ops.js';
import { type ActionContext, defineAction } from './registry.js';
import { ImageType, PassRef, RESOLUTIONS, Resolution, resolutionOf } from './schemas.js';

const ImageInfo = Type.Object({
  type: Type.String(),
  resolution: Resolution,
  width: Type.Integer(),
  height: Type.Integer(),
  size: Type.Integer(),
  contentType: Type.Literal('image/png'),
});

const Slot = { type: Type.Optional(ImageType), resolution: Type.Optional(Resolution) };

type Owner = { kind: 'pass' | 'template'; id: number; accountId: number };

async function ownerOf(
  ctx: ActionContext,
  input: { passTypeIdentifier?: string; serialNumber?: string; templateId?: number },
) {
  if (input.templateId !== undefined) {
    const t = await findTemplate(ctx, { id: input.templateId });
    return { owner: { kind: 'template', id: t.id, accountId: t.accountId } as Owner, template: t };
  }
  const found = await findPass(ctx, input.passTypeIdentifier!, input.serialNumber!);
  return { owner: { kind: 'pass', id: found.pass.id, accountId: found.pass.accountId } as Owner, found };
}

function slotQuery(
  ctx: ActionContext,
  owner: Owner,
  slot: { type?: string; resolution?: keyof typeof RESOLUTIONS },
) {
  let q = ctx.app.db.selectFrom('images').where('ownerKind', '=', owner.kind).where('ownerId', '=', owner.id);
  if (slot.type) q = q.where('type', '=', slot.type);
  if (slot.resolution) q = q.where('scale', '=', RESOLUTIONS[slot.resolution]);
  return q;
}

export async function imageBytes(
  ctx: ActionContext,
  input: {
    passTypeIdentifier?: string;
    serialNumber?: string;
    templateId?: number;
    type: string;
    resolution: keyof typeof RESOLUTIONS;
  },
): Promise<Uint8Array> {
  const { owner } = await ownerOf(ctx, input);
  const row = await slotQuery(ctx, owner, input).select('data').executeTakeFirst();
  if (!row) throw notFound(`image ${input.type} (${input.resolution})`);
  return row.data;
}

/** After a change of images: a pass gets a new version and a push; a template's passes are refreshed in the background. */
async function afterChange(
  ctx: ActionContext,
  target: Awaited<ReturnType<typeof ownerOf>>,
  what: string,
): Promise<void> {
  if (target.found) {
    await writePassVersion(ctx, target.found, {}, { type: 'pass.updated', extra: { images: what } });
    return;
  }
  const t = target.template!;
  const now = ctx.app.clock.now();
  await ctx.app.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('templates')
      .set({ version: t.version + 1, updatedAt: now.toISOString() })
      .where('id', '=', t.id)
      .execute();
    await enqueueJob(
      trx,
      {
        accountId: t.accountId,
        kind: 'template_passes',
        payload: { templateId: t.id, version: t.version + 1 },
      },
      now,
    );
  });
  ctx.app.wake('template_passes');
}

const Target = {
  passTypeIdentifier: Type.Optional(PassRef.passTypeIdentifier),
  serialNumber: Type.Optional(PassRef.serialNumber),
  templateId: Type.Optional(Type.Integer({ minimum: 1 })),
};

export const listImages = defineAction({
  name: 'list_images',
  title: 'List the images of a pass or template',
  description:
    'Lists the images of a pass (passTypeIdentifier + serialNumber) or of a template (templateId), optionally of one type and resolution.',
  scope: 'passes:read',
  mutates: false,
  input: Type.Object({ ...Target, ...Slot }),
  output: Type.Array(ImageInfo),
  async handler(ctx, input) {
    const { owner } = await ownerOf(ctx, input);
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

export const setImage = defineAction({
  name: 'set_image',
  title: 'Set an image of a pass or template',
  description:
    'Sets one image (type and resolution) of a pass or template from PNG, JPEG or GIF bytes (base64); it is stored ' +
    'as PNG. The pass, or every pass of the template, is updated on the phones.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({
    ...Target,
    type: ImageType,
    resolution: Resolution,
    data: Type.String({ description: 'image bytes, base64' }),
  }),
  output: ImageInfo,
  async handler(ctx, input) {
    const target = await ownerOf(ctx, input);
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

export const deleteImages = defineAction({
  name: 'delete_images',
  title: 'Delete images of a pass or template',
  description:
    'Deletes the images of a pass or template: all of them, those of one type, or one type at one resolution.',
  scope: 'passes:write',
  mutates: true,
  input: Type.Object({ ...Target, ...Slot }),
  output: Type.Object({ deleted: Type.Integer() }),
  async handler(ctx, input) {
    const target = await ownerOf(ctx, input);
    let q = ctx.app.db
      .deleteFrom('images')
      .where('ownerKind', '=', target.owner.kind)
      .where('ownerId', '=', target.owner.id);
    if (input.type) q = q.where('type', '=', input.type);
    if (input.resolution) q = q.where('scale', '=', RESOLUTIONS[input.resolution]);
    const result = await q.executeTakeFirst();
    const deleted = Number(result.numDeletedRows);
    if (deleted > 0) await afterChange(ctx, target, 'images deleted');
    return { deleted };
  },
});

export const imageActions = [listImages, setImage, deleteImages];
