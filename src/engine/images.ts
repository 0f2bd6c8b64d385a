// Pass images: names, PNG headers and Apple's sizes. A size off Apple's is a warning, not an error.
import { Collector, type Problem } from './problems.js';

export const IMAGE_KINDS = [
  'icon',
  'logo',
  'strip',
  'thumbnail',
  'background',
  'footer',
  'artwork',
  'primaryLogo',
  'secondaryLogo',
  'personalizationLogo',
] as const;
export type ImageKind = (typeof IMAGE_KINDS)[number];
export type Scale = 1 | 2 | 3;

/** Allowed point sizes: `exact` lists the accepted sizes (current and legacy), `max` bounds the size. */
const SIZES: Record<ImageKind, { exact?: [number, number][]; max?: [number, number] }> = {
  icon: {
    exact: [
      [38, 38],
      [29, 29],
    ],
  },
  logo: { max: [160, 50] },
  strip: {
    exact: [
      [375, 144],
      [375, 123],
      [375, 98],
    ],
  },
  thumbnail: { max: [90, 90] },
  background: {
    exact: [
      [345, 505],
      [343, 503],
      [180, 220],
    ],
  },
  footer: { max: [286, 15] },
  artwork: { exact: [[358, 448]] },
  primaryLogo: { max: [126, 30] },
  secondaryLogo: { max: [135, 12] },
  personalizationLogo: { max: [150, 40] },
};

/** Which images each style shows (Apple's layouts); others are carried but not displayed. */
const STYLE_IMAGES: Record<string, ImageKind[]> = {
  boardingPass: ['icon', 'logo', 'footer', 'personalizationLogo'],
  coupon: ['icon', 'logo', 'strip', 'personalizationLogo'],
  eventTicket: [
    'icon',
    'logo',
    'strip',
    'background',
    'thumbnail',
    'artwork',
    'primaryLogo',
    'secondaryLogo',
    'personalizationLogo',
  ],
  generic: ['icon', 'logo', 'thumbnail', 'personalizationLogo'],
  storeCard: ['icon', 'logo', 'strip', 'personalizationLogo'],
  posterGeneric: ['icon', 'logo', 'background', 'artwork', 'primaryLogo', 'personalizationLogo'],
};

const IMAGE_FILE = new RegExp(`^(${IMAGE_KINDS.join('|')})(?:@([23])x)?\\.png$`);

/** Parses an image file name such as `logo@2x.png`. */
export function parseImageName(fileName: string): { kind: ImageKind; scale: Scale } | undefined {
  const m = IMAGE_FILE.exec(fileName);
  if (!m) return undefined;
  return { kind: m[1] as ImageKind, scale: (m[2] ? Number(m[2]) : 1) as Scale };
}

export const imageFileName = (kind: ImageKind, scale: Scale): string =>
  `${kind}${scale === 1 ? '' : `@${scale}x`}.png`;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export type ImageFormat = 'png' | 'jpeg' | 'gif';

/** Reads an image's format and pixel size from its header; undefined when it is none of PNG, JPEG or GIF. */
export function readImageHeader(
  bytes: Uint8Array,
): { format: ImageFormat; width: number; height: number } | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length >= 24 && b.subarray(0, 8).equals(PNG_SIGNATURE) && b.toString('latin1', 12, 16) === 'IHDR')
    return { format: 'png', width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  if (b.length >= 10 && (b.toString('latin1', 0, 6) === 'GIF87a' || b.toString('latin1', 0, 6) === 'GIF89a'))
    return { format: 'gif', width: b.readUInt16LE(6), height: b.readUInt16LE(8) };
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    // walk JPEG segments to the first start-of-frame marker
    let at = 2;
    while (at + 9 < b.length) {
      if (b[at] !== 0xff) return undefined;
      const marker = b[at + 1]!;
      const length = b.readUInt16BE(at + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc)
        return { format: 'jpeg', height: b.readUInt16BE(at + 5), width: b.readUInt16BE(at + 7) };
      at += 2 + length;
    }
  }
  return undefined;
}

/** Checks one image file of a pass: a real PNG, with a size Apple expects for its kind and scale. */
export function checkImage(path: string, fileName: string, bytes: Uint8Array, style?: string): Problem[] {
  const c = new Collector();
  const name = parseImageName(fileName);
  if (!name) {
    c.warn(
      path,
      'is not an image name Wallet uses (icon, logo, strip, thumbnail, background, footer, artwork, ... with @2x/@3x)',
    );
    return c.problems;
  }
  const header = readImageHeader(bytes);
  if (!header) {
    c.error(path, 'is not an image: its bytes do not start with a PNG header');
    return c.problems;
  }
  if (header.format !== 'png') {
    c.error(path, `is a ${header.format.toUpperCase()} file; Wallet needs PNG`);
    return c.problems;
  }
  const { exact, max } = SIZES[name.kind];
  const px = ([w, h]: [number, number]): string => `${w * name.scale}×${h * name.scale}`;
  if (exact && !exact.some(([w, h]) => header.width === w * name.scale && header.height === h * name.scale))
    c.warn(
      path,
      `is ${header.width}×${header.height} pixels; Apple's size at @${name.scale}x is ${exact.map(px).join(' (or legacy ')}${exact.length > 1 ? ')' : ''}`,
    );
  if (max && (header.width > max[0] * name.scale || header.height > max[1] * name.scale))
    c.warn(
      path,
      `is ${header.width}×${header.height} pixels; at @${name.scale}x it should fit within ${px(max)}`,
    );
  if (style && STYLE_IMAGES[style] && !STYLE_IMAGES[style].includes(name.kind))
    c.warn(path, `is not shown on a ${style} pass`);
  return c.problems;
}

/** Checks the set of images of a pass: an icon is required; @2x/@3x missing are warnings. */
export function checkImageSet(fileNames: Iterable<string>): Problem[] {
  const c = new Collector();
  const present = new Map<ImageKind, Set<Scale>>();
  for (const f of fileNames) {
    const n = parseImageName(f.slice(f.lastIndexOf('/') + 1));
    if (!n) continue;
    const scales = present.get(n.kind) ?? new Set<Scale>();
    scales.add(n.scale);
    present.set(n.kind, scales);
  }
  const icon = present.get('icon');
  if (!icon) c.error('icon.png', 'every pass needs an icon (icon.png, with icon@2x.png and icon@3x.png)');
  for (const [kind, scales] of present) {
    if (!scales.has(2))
      c.warn(imageFileName(kind, 2), `is missing: ${kind} has no @2x version for Retina screens`);
    if (kind === 'icon' && !scales.has(3)) c.warn('icon@3x.png', 'is missing: recent iPhones use @3x');
  }
  return c.problems;
}
