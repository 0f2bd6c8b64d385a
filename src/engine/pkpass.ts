// The .pkpass package: pass.json, images and localizations, manifest.json with the SHA-1 of every file, the detached
// CMS signature of the manifest, all zipped at the archive root. A factory prepares what a template's passes share
// (images hashed once, template compiled once) so that building one more pass costs little beyond its signature.
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { identityWarnings, type PassIdentity } from './identity.js';
import { checkImage, checkImageSet, parseImageName } from './images.js';
import { hasErrors, PassProblemsError, type Problem } from './problems.js';
import { PASS_STYLES, validatePassJson } from './rules.js';
import { encodeStrings, LPROJ_DIR } from './strings.js';
import { compileTemplate, type JsonObject, type JsonValue, type Template } from './template.js';
import { writeStoredZip, type ZipInput } from './zip.js';

export const PKPASS_MIME = 'application/vnd.apple.pkpass';
export const PKPASSES_MIME = 'application/vnd.apple.pkpasses';

export interface Localization {
  /** The pass.strings table; values may hold placeholders. */
  strings?: Record<string, string>;
  /** Localized images by file name (`logo@2x.png`). */
  images?: Record<string, Uint8Array>;
}

export interface PassAssets {
  /** Images at the package root by file name: `icon.png`, `logo@2x.png`, ... */
  images?: Record<string, Uint8Array>;
  /** By language directory stem: `en`, `fr`, `zh-Hans`. */
  localizations?: Record<string, Localization>;
}

interface PreparedFile extends ZipInput {
  name: string;
  sha1: string;
}

function prepareFile(name: string, data: Uint8Array): PreparedFile {
  return {
    name,
    nameBytes: Buffer.from(name, 'utf8'),
    data,
    sha1: createHash('sha1').update(data).digest('hex'),
    crc: crc32(data),
  };
}

export interface FactoryOptions {
  identity: PassIdentity;
  /** The pass.json template (placeholders allowed). */
  template: JsonObject;
  assets?: PassAssets;
  /** Allow a plain-http webServiceURL (development). */
  allowHttpWebService?: boolean;
}

export interface BuildInput {
  values?: Readonly<Record<string, unknown>>;
  /** Top-level pass.json keys set after rendering: serialNumber, webServiceURL, authenticationToken, voided, ... */
  overrides?: JsonObject;
  /** Per-pass images by file name; they replace the template's of the same name. */
  images?: Record<string, Uint8Array>;
  /** Signing time (default now). */
  now?: Date;
  /** A last change to the rendered pass.json before it is checked and signed (e.g. a notification field). */
  transform?: (passJson: JsonObject) => JsonObject;
}

export interface BuiltPass {
  pkpass: Buffer;
  passJson: JsonObject;
  manifest: Record<string, string>;
  /** Warnings of the pass (errors throw PassProblemsError). */
  warnings: Problem[];
}

export interface PassFactory {
  readonly placeholders: readonly string[];
  readonly template: Template;
  /** Problems of the template's own assets, found once. */
  readonly assetProblems: readonly Problem[];
  build(input?: BuildInput): BuiltPass;
}

/** Keys Apple defines as text: a number or boolean that a placeholder put there becomes its text. */
const TEXT_KEYS = new Set([
  'label',
  'message',
  'altText',
  'description',
  'organizationName',
  'logoText',
  'eventLogoText',
  'relevantText',
  'serialNumber',
  'changeMessage',
  'groupingIdentifier',
]);
const FREE_FORM = new Set(['userInfo', 'semantics']);

function textKeysAsText(node: JsonValue): void {
  if (Array.isArray(node)) for (const item of node) textKeysAsText(item);
  else if (node !== null && typeof node === 'object')
    for (const [k, v] of Object.entries(node)) {
      if (FREE_FORM.has(k)) continue;
      if (TEXT_KEYS.has(k) && (typeof v === 'number' || typeof v === 'boolean')) node[k] = String(v);
      else textKeysAsText(v);
    }
}

function styleOf(pass: JsonObject): string | undefined {
  return PASS_STYLES.find((s) => pass[s] !== undefined);
}

function checkAssetNames(assets: PassAssets): Problem[] {
  const problems: Problem[] = [];
  for (const lang of Object.keys(assets.localizations ?? {}))
    if (!LPROJ_DIR.test(`${lang}.lproj`))
      problems.push({
        path: `${lang}.lproj`,
        message: 'is not a language identifier such as en, fr or zh-Hans',
        severity: 'error',
      });
  return problems;
}

/** Prepares a template for building passes under one identity. */
export function createPassFactory(options: FactoryOptions): PassFactory {
  const { identity } = options;
  const template = compileTemplate(options.template);
  const assets = options.assets ?? {};
  const rootImages = new Map<string, PreparedFile>();
  for (const [name, data] of Object.entries(assets.images ?? {}))
    rootImages.set(name, prepareFile(name, data));
  const localized: PreparedFile[] = [];
  const localizedStrings: { lang: string; table: Record<string, string>; constant?: PreparedFile }[] = [];
  for (const [lang, loc] of Object.entries(assets.localizations ?? {})) {
    for (const [name, data] of Object.entries(loc.images ?? {}))
      localized.push(prepareFile(`${lang}.lproj/${name}`, data));
    if (loc.strings) {
      const hasPlaceholder = Object.values(loc.strings).some((v) => v.includes('${'));
      localizedStrings.push({
        lang,
        table: loc.strings,
        constant: hasPlaceholder
          ? undefined
          : prepareFile(`${lang}.lproj/pass.strings`, encodeStrings(loc.strings)),
      });
    }
  }
  const templateStyle = styleOf(options.template);
  const assetProblems: Problem[] = [...checkAssetNames(assets)];
  for (const f of [...rootImages.values(), ...localized])
    assetProblems.push(
      ...checkImage(f.name, f.name.slice(f.name.lastIndexOf('/') + 1), f.data, templateStyle),
    );

  return {
    placeholders: template.placeholders,
    template,
    assetProblems,
    build(input = {}) {
      const now = input.now ?? new Date();
      const values = input.values ?? {};
      let passJson = template.render(values);
      if (passJson.passTypeIdentifier === undefined)
        passJson.passTypeIdentifier = identity.passTypeIdentifier;
      if (passJson.teamIdentifier === undefined) passJson.teamIdentifier = identity.teamIdentifier;
      if (passJson.formatVersion === undefined) passJson.formatVersion = 1;
      Object.assign(passJson, input.overrides);
      if (input.transform) passJson = input.transform(passJson);
      textKeysAsText(passJson);

      const problems: Problem[] = [...assetProblems];
      let images = rootImages;
      if (input.images && Object.keys(input.images).length > 0) {
        images = new Map(rootImages);
        const style = styleOf(passJson);
        for (const [name, data] of Object.entries(input.images)) {
          problems.push(...checkImage(name, name, data, style));
          images.set(name, prepareFile(name, data));
        }
      }
      const files: PreparedFile[] = [...images.values(), ...localized];
      for (const s of localizedStrings) {
        if (s.constant) files.push(s.constant);
        else {
          const table: Record<string, string> = {};
          for (const [k, v] of Object.entries(s.table)) table[k] = template.renderText(v, values);
          files.push(prepareFile(`${s.lang}.lproj/pass.strings`, encodeStrings(table)));
        }
      }
      const fileNames = files.map((f) => f.name);
      const imageKinds = new Set<string>();
      for (const name of fileNames) {
        const parsed = parseImageName(name.slice(name.lastIndexOf('/') + 1));
        if (parsed) imageKinds.add(parsed.kind);
      }
      problems.push(...checkImageSet(fileNames));
      problems.push(
        ...validatePassJson(passJson, {
          allowHttpWebService: options.allowHttpWebService,
          images: imageKinds,
        }),
      );
      if (passJson.passTypeIdentifier !== identity.passTypeIdentifier)
        problems.push({
          path: 'passTypeIdentifier',
          message: `is ${JSON.stringify(passJson.passTypeIdentifier)} but the certificate is for ${identity.passTypeIdentifier}`,
          severity: 'error',
        });
      if (passJson.teamIdentifier !== identity.teamIdentifier)
        problems.push({
          path: 'teamIdentifier',
          message: `is ${JSON.stringify(passJson.teamIdentifier)} but the certificate's team is ${identity.teamIdentifier}`,
          severity: 'error',
        });
      for (const w of identityWarnings(identity, now))
        problems.push({ path: 'certificate', message: w, severity: 'warning' });
      if (hasErrors(problems)) throw new PassProblemsError(problems);

      const passFile = prepareFile('pass.json', Buffer.from(JSON.stringify(passJson), 'utf8'));
      const manifest: Record<string, string> = { 'pass.json': passFile.sha1 };
      for (const f of files) manifest[f.name] = f.sha1;
      const manifestBytes = Buffer.from(JSON.stringify(manifest), 'utf8');
      const signature = identity.signer.sign(manifestBytes, now);
      const pkpass = writeStoredZip(
        [
          passFile,
          ...files,
          { nameBytes: MANIFEST_NAME, data: manifestBytes },
          { nameBytes: SIGNATURE_NAME, data: signature },
        ],
        now,
      );
      return { pkpass, passJson, manifest, warnings: problems };
    },
  };
}

const MANIFEST_NAME = Buffer.from('manifest.json');
const SIGNATURE_NAME = Buffer.from('signature');

/** Builds one pass from a finished (or templated) pass.json. */
export function buildPass(options: FactoryOptions & BuildInput): BuiltPass {
  return createPassFactory(options).build(options);
}

export const MAX_BUNDLE_PASSES = 10;
const MAX_BUNDLE_BYTES = 150 * 1024 * 1024;

/** Bundles up to 10 .pkpass files into one .pkpasses archive (MIME application/vnd.apple.pkpasses). */
export function bundlePasses(passes: readonly Uint8Array[], now = new Date()): Buffer {
  if (passes.length === 0) throw new RangeError('a .pkpasses bundle needs at least one pass');
  if (passes.length > MAX_BUNDLE_PASSES)
    throw new RangeError(
      `a .pkpasses bundle holds at most ${MAX_BUNDLE_PASSES} passes, got ${passes.length}`,
    );
  const total = passes.reduce((n, p) => n + p.length, 0);
  if (total > MAX_BUNDLE_BYTES)
    throw new RangeError(`a .pkpasses bundle is limited to 150 MB, these passes make ${total} bytes`);
  return writeStoredZip(
    passes.map((data, i) => ({ nameBytes: Buffer.from(`pass-${i + 1}.pkpass`), data })),
    now,
  );
}
