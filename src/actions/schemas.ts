// Schemas shared by several actions. Each is a JSON Schema (TypeBox) and, through Static<>, the TypeScript type.
import { type Static, Type } from '@sinclair/typebox';
import { IMAGE_KINDS, type ImageKind } from '../engine/index.js';
import { Cursor, Limit, NextCursor } from './paging.js';

/** The largest row id: PostgreSQL's integer (so that a larger number is a 422, not a database error). */
const MAX_ID = 2_147_483_647;
/** A row id. */
export const Id = Type.Integer({ minimum: 1, maximum: MAX_ID });
/** A row id with a description of what it names. */
export const describedId = (description: string) =>
  Type.Integer({ minimum: 1, maximum: MAX_ID, description });

export const PlaceholderValue = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()], {
  description: 'a placeholder value: string, number, boolean or null',
});
export const Values = Type.Record(Type.String(), PlaceholderValue, {
  description: 'placeholder values by name, e.g. {"firstName": "Ada", "points": 120}',
});
export type Values = Static<typeof Values>;

export const PASS_STATUSES = ['valid', 'invalid', 'redeemed', 'unpaid', 'locked', 'incomplete'] as const;
export const PassStatus = Type.Union(
  PASS_STATUSES.map((s) => Type.Literal(s)),
  { description: 'the pass status, as PassSlot: valid, invalid, redeemed, unpaid, locked or incomplete' },
);
export type PassStatus = Static<typeof PassStatus>;

/** The image slots a pass or template may fill (the engine's, but the personalization logo, which only NFC rewards
 * enrollment uses). */
export const IMAGE_TYPES = IMAGE_KINDS.filter(
  (k): k is Exclude<ImageKind, 'personalizationLogo'> => k !== 'personalizationLogo',
);
export const ImageType = Type.Union(IMAGE_TYPES.map((t) => Type.Literal(t)));
export type ImageType = Static<typeof ImageType>;
export const RESOLUTIONS = { normal: 1, high: 2, ultra: 3 } as const;
export const Resolution = Type.Union([Type.Literal('normal'), Type.Literal('high'), Type.Literal('ultra')], {
  description: 'normal (@1x), high (@2x) or ultra (@3x)',
});
export type Resolution = Static<typeof Resolution>;
export const resolutionOf = (scale: number): Resolution =>
  scale === 3 ? 'ultra' : scale === 2 ? 'high' : 'normal';

export const ImageInput = Type.Object({
  type: ImageType,
  resolution: Resolution,
  data: Type.String({ description: 'the image bytes (PNG, JPEG or GIF), base64' }),
});
export type ImageInput = Static<typeof ImageInput>;

/** A phone number in E.164: + and 8 to 15 digits, no spaces (+15558675310). */
export const E164 = '^\\+[1-9][0-9]{7,14}$';
export const Phone = Type.String({
  pattern: E164,
  description: 'a phone number in E.164 form: + then 8 to 15 digits, e.g. +15558675310',
});

export const Owner = {
  email: Type.Optional(
    Type.String({ format: 'email', maxLength: 320, description: "the pass holder's email" }),
  ),
  userId: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'your user id for the holder' }),
  ),
  externalId: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'an id in another system (CRM)' }),
  ),
  phone: Type.Optional({ ...Phone, description: "the pass holder's phone (E.164), where an SMS goes" }),
};

export const PassRef = {
  passTypeIdentifier: Type.String({
    minLength: 1,
    maxLength: 255,
    description: 'the pass type id, e.g. pass.com.example.member',
  }),
  serialNumber: Type.String({ minLength: 1, maxLength: 255, description: 'the serial number of the pass' }),
};

export const PassCreated = Type.Object({
  serialNumber: Type.String(),
  passTypeIdentifier: Type.String(),
  url: Type.String({ description: 'the link that serves the pass to phones' }),
  googleUrl: Type.Optional(
    Type.String({
      description:
        'when the account has Google Wallet: the pass page link that saves the pass, as it is then, to Google Wallet',
    }),
  ),
  googleSaveUrl: Type.Optional(
    Type.String({
      description:
        'when the account has Google Wallet (create_pass): the "Save to Google Wallet" link itself, ' +
        'https://pay.google.com/gp/v/save/<JWT>, signed with the service account',
    }),
  ),
});

export const PassListItem = Type.Object({
  serialNumber: Type.String(),
  passType: Type.String({ description: 'the pass type id (PassSlot name)' }),
  passTypeIdentifier: Type.String(),
  templateId: Type.Integer(),
  status: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  userId: Type.Union([Type.String(), Type.Null()]),
  externalId: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  url: Type.String(),
  wallets: Type.Optional(
    Type.Array(Type.Union([Type.Literal('apple'), Type.Literal('google')]), {
      description: 'the wallets that hold the pass now (search_passes_by_user)',
    }),
  ),
});
export type PassListItem = Static<typeof PassListItem>;

export const PassPage = Type.Object({
  passes: Type.Array(PassListItem),
  nextCursor: NextCursor,
});

export const ListFilters = {
  email: Type.Optional(Type.String({ maxLength: 320 })),
  userId: Type.Optional(Type.String({ maxLength: 200 })),
  externalId: Type.Optional(Type.String({ maxLength: 200 })),
  status: Type.Optional(PassStatus),
  templateId: Type.Optional(Id),
  updatedSince: Type.Optional(
    Type.String({
      format: 'date-time',
      description:
        'only passes changed at or after this time; the list then comes in the order of their last change',
    }),
  ),
  limit: Limit,
  cursor: Cursor,
};

export const Empty = Type.Object({});
