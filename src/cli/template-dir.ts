// Reads a template directory: pass.json (with placeholders), images at the root, and <lang>.lproj folders holding
// pass.strings and localized images.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  decodeStringsText,
  type JsonObject,
  type Localization,
  LPROJ_DIR,
  type PassAssets,
  parseImageName,
  parseStrings,
} from '../engine/index.js';
import { CommandError } from './io.js';

export interface TemplateDir {
  passJson: JsonObject;
  assets: PassAssets;
  /** Files that were skipped, with the reason. */
  skipped: string[];
}

export function readTemplateDir(dir: string): TemplateDir {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new CommandError(`${dir} is not a directory`);
    names = readdirSync(dir);
  } catch (err) {
    if (err instanceof CommandError) throw err;
    throw new CommandError(`cannot read the template directory ${dir}: ${(err as Error).message}`);
  }
  if (!names.includes('pass.json')) throw new CommandError(`the template directory ${dir} has no pass.json`);
  let passJson: unknown;
  try {
    passJson = JSON.parse(readFileSync(join(dir, 'pass.json'), 'utf8').replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new CommandError(`${join(dir, 'pass.json')} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof passJson !== 'object' || passJson === null || Array.isArray(passJson))
    throw new CommandError(`${join(dir, 'pass.json')} must hold a JSON object`);
  const images: Record<string, Uint8Array> = {};
  const localizations: Record<string, Localization> = {};
  const skipped: string[] = [];
  for (const name of names.sort()) {
    if (name === 'pass.json') continue;
    const path = join(dir, name);
    const lproj = LPROJ_DIR.exec(name);
    if (lproj && statSync(path).isDirectory()) {
      const loc: Localization = {};
      for (const inner of readdirSync(path).sort()) {
        const innerPath = join(path, inner);
        if (inner === 'pass.strings') {
          try {
            loc.strings = parseStrings(decodeStringsText(readFileSync(innerPath)).text);
          } catch (err) {
            throw new CommandError(`${innerPath}: ${(err as Error).message}`);
          }
        } else if (parseImageName(inner)) {
          loc.images = { ...loc.images, [inner]: readFileSync(innerPath) };
        } else skipped.push(`${name}/${inner}`);
      }
      localizations[lproj[1]!] = loc;
    } else if (parseImageName(name)) {
      images[name] = readFileSync(path);
    } else skipped.push(name);
  }
  return { passJson: passJson as JsonObject, assets: { images, localizations }, skipped };
}
