// Reading what HTTP requests carry into action inputs: path and query values, JSON bodies, and multipart bodies
// (pass values with images, one uploaded image).
import type { FastifyRequest } from 'fastify';
import { IMAGE_TYPES, type ImageInput, type Resolution } from '../actions/schemas.js';
import { AppError, badRequest, invalid } from '../errors.js';

export type Query = Record<string, string | undefined>;
export type Params = Record<string, string>;

export const params = (req: FastifyRequest): Params => req.params as Params;
export const query = (req: FastifyRequest): Query => req.query as Query;
/** A query value that looks like an integer becomes a number; anything else is left for validation to refuse. */
export const num = (v: string | undefined): number | string | undefined =>
  v !== undefined && /^-?\d+$/.test(v) ? Number(v) : v;
/** A path id that looks like a positive integer becomes a number (validation refuses anything else). */
export const int = (v: string | undefined): number | string | undefined =>
  v !== undefined && /^\d+$/.test(v) ? Number(v) : v;

/** A JSON body as an object: PassSlot's clients send nothing or null for "no fields". */
export function requireBody(value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw badRequest('the body must be a JSON object');
  return value as Record<string, unknown>;
}

const IMAGE_PART = new RegExp(`^(${IMAGE_TYPES.join('|')})(?:@?([23])x)?$`);

/** `strip@2x` → the strip image at high resolution. */
function imagePart(name: string): { type: (typeof IMAGE_TYPES)[number]; resolution: Resolution } | undefined {
  const m = IMAGE_PART.exec(name);
  if (!m) return undefined;
  return {
    type: m[1] as (typeof IMAGE_TYPES)[number],
    resolution: m[2] === '3' ? 'ultra' : m[2] === '2' ? 'high' : 'normal',
  };
}

function jsonText(text: string, field: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalid([{ field, reasons: [`is not valid JSON: ${(err as Error).message}`] }]);
  }
}

/** The parts of a multipart body; a malformed body is a 400, not a 500. */
async function* partsOf(req: FastifyRequest, fileSize?: number) {
  try {
    for await (const part of req.parts(fileSize ? { limits: { fileSize } } : undefined)) yield part;
  } catch (err) {
    if (err instanceof AppError || (err as { statusCode?: number }).statusCode) throw err;
    throw badRequest(`Malformed multipart body: ${(err as Error).message}`);
  }
}

/** Pass values from JSON (the body is the values) or multipart (a `values` part and image parts such as strip@2x). */
export async function valuesAndImages(
  req: FastifyRequest,
): Promise<{ values: unknown; images?: ImageInput[] }> {
  if (!req.isMultipart()) return { values: req.body ?? {} };
  let values: unknown = {};
  const images: ImageInput[] = [];
  for await (const part of partsOf(req)) {
    if (part.type === 'file') {
      const buf = await part.toBuffer();
      if (part.fieldname === 'values') values = jsonText(buf.toString('utf8'), 'values');
      else {
        const slot = imagePart(part.fieldname);
        if (!slot)
          throw invalid([
            {
              field: part.fieldname,
              reasons: [`is not an image part: use ${IMAGE_TYPES.join(', ')} with @2x or @3x`],
            },
          ]);
        images.push({ ...slot, data: buf.toString('base64') });
      }
    } else if (part.fieldname === 'values')
      // @fastify/multipart parses a field sent with Content-Type application/json (the Ruby SDK) itself
      values = typeof part.value === 'string' ? jsonText(part.value, 'values') : part.value;
  }
  return { values, images: images.length ? images : undefined };
}

/** The bytes of the multipart part named "image", base64. */
export async function uploadedImage(req: FastifyRequest): Promise<string> {
  if (!req.isMultipart()) throw badRequest('send the image as multipart/form-data in a part named "image"');
  for await (const part of partsOf(req))
    if (part.type === 'file' && part.fieldname === 'image') return (await part.toBuffer()).toString('base64');
  throw invalid([
    { field: 'image', reasons: ['is required: a multipart part named "image" with a PNG, JPEG or GIF file'] },
  ]);
}

/** The largest CSV file a multipart upload may carry (a text/csv body has the body limit). */
export const MAX_CSV_BYTES = 12 * 1024 * 1024;

/** The text of a CSV: a text/csv body, the multipart part named "file", or the `csv` of a JSON body. */
export async function uploadedCsv(req: FastifyRequest): Promise<string> {
  if (req.isMultipart()) {
    for await (const part of partsOf(req, MAX_CSV_BYTES))
      if (part.type === 'file' && part.fieldname === 'file') return (await part.toBuffer()).toString('utf8');
    throw invalid([{ field: 'file', reasons: ['is required: a multipart part named "file" with the CSV'] }]);
  }
  if (typeof req.body === 'string') return req.body;
  if (req.body === undefined || req.body === null) return '';
  const csv = (req.body as { csv?: unknown }).csv;
  if (typeof req.body === 'object' && typeof csv === 'string') return csv;
  throw badRequest(
    'send the CSV as a text/csv body, as multipart/form-data in a part named "file", or as {"csv": "..."} in JSON',
  );
}
