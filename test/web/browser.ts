// Headless Chromium for the web app's tests: Debian's chromium package driven by playwright-core (nothing downloads a
// browser), with the flags this closed network needs, axe-core for accessibility, and a fake camera that films a
// barcode (a Y4M video Chromium plays as its webcam).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import QRCode from 'qrcode';

export const CHROMIUM = process.env.PASSSLOT_CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots kept as the test's artifacts (and by docs/dashboard.md). */
export const ARTIFACTS = join(process.cwd(), 'test-artifacts');

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export async function launch(options: { fakeVideo?: string } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium is not at ${CHROMIUM}: install it (apt-get install -y chromium; .ci/run does) or set PASSSLOT_CHROMIUM`,
    );
  const args = [...FLAGS];
  if (options.fakeVideo)
    args.push(
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-video-capture=${options.fakeVideo}`,
    );
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** The serious and critical WCAG 2.2 A/AA violations axe-core finds on the page as it is now. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  // evaluated over the DevTools protocol, which the page's Content-Security-Policy does not govern
  await page.evaluate(axeSource);
  const found = (await page.evaluate(() =>
    (
      globalThis as unknown as {
        axe: { run(opts: unknown): Promise<{ violations: AxeViolation[] }> };
      }
    ).axe.run({
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    }),
  )) as { violations: AxeViolation[] };
  return found.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 3).map((n) => ({ target: n.target })),
    }));
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

/**
 * A Y4M video (what Chromium's fake camera plays) of `text` as a QR code, black on white, 640 × 480: the frames
 * Chromium loops are the same picture, as a phone held still in front of the camera.
 */
export function barcodeVideo(dir: string, name: string, text: string): string {
  const W = 640;
  const H = 480;
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const size = qr.modules.size;
  const scale = Math.floor(360 / (size + 8));
  const side = (size + 8) * scale;
  const x0 = Math.floor((W - side) / 2) + 4 * scale;
  const y0 = Math.floor((H - side) / 2) + 4 * scale;
  const y = Buffer.alloc(W * H, 235);
  for (let r = 0; r < size; r++)
    for (let c = 0; c < size; c++) {
      if (!qr.modules.get(r, c)) continue;
      for (let dy = 0; dy < scale; dy++)
        y.fill(
          16,
          (y0 + r * scale + dy) * W + x0 + c * scale,
          (y0 + r * scale + dy) * W + x0 + (c + 1) * scale,
        );
    }
  const chroma = Buffer.alloc((W / 2) * (H / 2) * 2, 128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, chroma]);
  const frames = Array.from({ length: 5 }, () => frame);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.y4m`);
  writeFileSync(
    path,
    Buffer.concat([Buffer.from(`YUV4MPEG2 W${W} H${H} F5:1 Ip A1:1 C420jpeg\n`), ...frames]),
  );
  return path;
}
