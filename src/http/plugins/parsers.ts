// Body parsing as tolerant as PassSlot's clients need: JSON with any content type, empty bodies with a JSON content
// type, `null`, form-encoded bodies, and multipart (files up to 5 MB).
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../../errors.js';

/** JSON nested deeper than this is refused before parsing: no input of Passslot needs more, and deep nesting is how
 * a small body exhausts the stack of every recursive walk over it. */
export const MAX_JSON_DEPTH = 32;

/** How deep the text's arrays and objects nest (brackets inside strings do not count), up to the first excess. */
function nestingExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // a backslash escapes the next character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

function parseJsonText(text: string): unknown {
  if (text.trim() === '') return undefined;
  if (nestingExceeds(text, MAX_JSON_DEPTH))
    throw badRequest(`The JSON body nests deeper than ${MAX_JSON_DEPTH} levels of arrays and objects`);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`Malformed JSON body: ${(err as Error).message}`);
  }
}

export async function parsers(fastify: FastifyInstance): Promise<void> {
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonText(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  fastify.removeContentTypeParser('text/plain');
  // a CSV (imports) is kept as text
  fastify.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  fastify.addContentTypeParser(
    ['application/x-www-form-urlencoded', 'text/plain', '*'],
    { parseAs: 'string' },
    (req, body, done) => {
      const text = body as string;
      try {
        if (
          req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') &&
          !/^\s*[[{"n]/.test(text)
        )
          done(null, Object.fromEntries(new URLSearchParams(text)));
        else done(null, parseJsonText(text));
      } catch (err) {
        done(err as Error, undefined);
      }
    },
  );
  await fastify.register(multipart, { limits: { fileSize: 5 * 1024 * 1024, files: 30, fields: 20 } });
}
