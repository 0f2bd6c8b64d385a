// Images given with a pass or for a pass or template: PNG, JPEG or GIF in, PNG out (Wallet reads only PNG), with
// clear field errors for what cannot be read.
import sharp from 'sharp';
import { readImageHeader } from '../engine/index.js';
import { invalid } from '../errors.js';
import { type ImageInput, RESOLUTIONS } from './schemas.js';

export const MAX_IMAGE_BYTES = 5 * 1024 * 1024;
/** Wallet's largest images are about 1,100 pixels wide at @3x; anything far beyond is refused before decoding. */
export const MAX_IMAGE_SIDE = 4096;

export interface NormalizedImage {
  type: string;
  scale: number;
  data: Buffer;
  width: number;
  height: number;
}

/** Accepts PNG, JPEG or GIF and returns PNG (Wallet reads only PNG). */
export async function normalizeImage(
  field: string,
  type: string,
  scale: number,
  bytes: Buffer,
): Promise<NormalizedImage> {
  if (bytes.length > MAX_IMAGE_BYTES)
    throw invalid([
      { field, reasons: [`the image is ${bytes.length} bytes; the limit is ${MAX_IMAGE_BYTES}`] },
    ]);
  const header = readImageHeader(bytes);
  if (!header) throw invalid([{ field, reasons: ['is not a PNG, JPEG or GIF image'] }]);
  // the header's size, checked before any decoding: a small file may declare a huge image (a decompression bomb)
  if (header.width > MAX_IMAGE_SIDE || header.height > MAX_IMAGE_SIDE)
    throw invalid([
      {
        field,
        reasons: [
          `the image is ${header.width}×${header.height} pixels; at most ${MAX_IMAGE_SIDE}×${MAX_IMAGE_SIDE}`,
        ],
      },
    ]);
  if (header.format === 'png')
    return { type, scale, data: bytes, width: header.width, height: header.height };
  try {
    const png = await sharp(bytes, { limitInputPixels: MAX_IMAGE_SIDE * MAX_IMAGE_SIDE })
      .png()
      .toBuffer();
    return { type, scale, data: png, width: header.width, height: header.height };
  } catch (err) {
    throw invalid([
      { field, reasons: [`cannot read the ${header.format.toUpperCase()} image: ${(err as Error).message}`] },
    ]);
  }
}

export async function decodeImages(images: ImageInput[] | undefined): Promise<NormalizedImage[]> {
  const out: NormalizedImage[] = [];
  for (const [i, img] of (images ?? []).entries())
    out.push(
      await normalizeImage(
        `images[${i}]`,
        img.type,
        RESOLUTIONS[img.resolution],
        Buffer.from(img.data, 'base64'),
      ),
    );
  return out;
}

export const imageFiles = (images: NormalizedImage[]): Record<string, Uint8Array> =>
  Object.fromEntries(images.map((i) => [`${i.type}${i.scale === 1 ? '' : `@${i.scale}x`}.png`, i.data]));
