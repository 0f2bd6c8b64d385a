// Generated from the action registry by scripts/gen-client.ts (npm run gen:client). Do not edit: change the
// actions' schemas and generate again; test/client/generated.test.ts fails when this file is stale.
import type { CallOptions } from './options.js';

/** The input of create_passes. */
export interface CreatePassesInput {
  templateId: number;
  passes: {
    /** placeholder values by name, e.g. {"firstName": "Ada", "points": 120} */
    values: Record<string, string | number | boolean | null>;
    /** the pass holder's email */
    email?: string;
    /** your user id for the holder */
    userId?: string;
    /** an id in another system (CRM) */
    externalId?: string;
    /** the pass holder's phone (E.164), where an SMS goes */
    phone?: string;
  }[];
}

/** The output of create_passes. */
export interface CreatePassesOutput {
  created: {
    index: number;
    serialNumber: string;
    passTypeIdentifier: string;
    /** the link that serves the pass to phones */
    url: string;
    /**
     * when the account has Google Wallet: the pass page link that saves the pass, as it is then, to Google
     * Wallet
     */
    googleUrl?: string;
    /**
     * when the account has Google Wallet (create_pass): the "Save to Google Wallet" link itself,
     * https://pay.google.com/gp/v/save/<JWT>, signed with the service account
     */
    googleSaveUrl?: string;
  }[];
  failed: {
    index: number;
    message: string;
    errors: {
      field: string;
      reasons: string[];
    }[];
  }[];
}

/** The input of create_pass. */
export interface CreatePassInput {
  templateId?: number;
  templateName?: string;
  /** placeholder values by name, e.g. {"firstName": "Ada", "points": 120} */
  values: Record<string, string | number | boolean | null>;
  /** the pass holder's email */
  email?: string;
  /** your user id for the holder */
  userId?: string;
  /** an id in another system (CRM) */
  externalId?: string;
  /** the pass holder's phone (E.164), where an SMS goes */
  phone?: string;
  images?: {
    type: 'icon' | 'logo' | 'strip' | 'thumbnail' | 'background' | 'footer' | 'artwork' | 'primaryLogo' | 'secondaryLogo';
    /** normal (@1x), high (@2x) or ultra (@3x) */
    resolution: 'normal' | 'high' | 'ultra';
    /** the image bytes (PNG, JPEG or GIF), base64 */
    data: string;
  }[];
}

/** The output of create_pass. */
export interface CreatePassOutput {
  serialNumber: string;
  passTypeIdentifier: string;
  /** the link that serves the pass to phones */
  url: string;
  /**
   * when the account has Google Wallet: the pass page link that saves the pass, as it is then, to Google
   * Wallet
   */
  googleUrl?: string;
  /**
   * when the account has Google Wallet (create_pass): the "Save to Google Wallet" link itself,
   * https://pay.google.com/gp/v/save/<JWT>, signed with the service account
   */
  googleSaveUrl?: string;
}

/** The input of get_passes. */
export interface GetPassesInput {
  email?: string;
  userId?: string;
  externalId?: string;
  /** the pass status, as PassSlot: valid, invalid, redeemed, unpaid, locked or incomplete */
  status?: 'valid' | 'invalid' | 'redeemed' | 'unpaid' | 'locked' | 'incomplete';
  templateId?: number;
  /** only passes changed at or after this time; the list then comes in the order of their last change */
  updatedSince?: string;
  limit?: number;
  /** the nextCursor of the previous page */
  cursor?: string;
}

/** The output of get_passes. */
export interface GetPassesOutput {
  passes: {
    serialNumber: string;
    /** the pass type id (PassSlot name) */
    passType: string;
    passTypeIdentifier: string;
    templateId: number;
    status: string;
    email: string | null;
    userId: string | null;
    externalId: string | null;
    createdAt: string;
    updatedAt: string;
    url: string;
    /** the wallets that hold the pass now (search_passes_by_user) */
    wallets?: ('apple' | 'google')[];
  }[];
  /** give it as cursor for the next page; null at the end */
  nextCursor: string | null;
}

/** The input of get_passes_by_pass_type. */
export interface GetPassesByPassTypeInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  email?: string;
  userId?: string;
  externalId?: string;
  /** the pass status, as PassSlot: valid, invalid, redeemed, unpaid, locked or incomplete */
  status?: 'valid' | 'invalid' | 'redeemed' | 'unpaid' | 'locked' | 'incomplete';
  templateId?: number;
  /** only passes changed at or after this time; the list then comes in the order of their last change */
  updatedSince?: string;
  limit?: number;
  /** the nextCursor of the previous page */
  cursor?: string;
}

/** The output of get_passes_by_pass_type. */
export interface GetPassesByPassTypeOutput {
  passes: {
    serialNumber: string;
    /** the pass type id (PassSlot name) */
    passType: string;
    passTypeIdentifier: string;
    templateId: number;
    status: string;
    email: string | null;
    userId: string | null;
    externalId: string | null;
    createdAt: string;
    updatedAt: string;
    url: string;
    /** the wallets that hold the pass now (search_passes_by_user) */
    wallets?: ('apple' | 'google')[];
  }[];
  /** give it as cursor for the next page; null at the end */
  nextCursor: string | null;
}

/** The input of search_passes_by_user. */
export interface SearchPassesByUserInput {
  email?: string;
  userId?: string;
  externalId?: string;
  /** the pass status, as PassSlot: valid, invalid, redeemed, unpaid, locked or incomplete */
  status?: 'valid' | 'invalid' | 'redeemed' | 'unpaid' | 'locked' | 'incomplete';
  templateId?: number;
  /** only passes changed at or after this time; the list then comes in the order of their last change */
  updatedSince?: string;
  limit?: number;
  /** the nextCursor of the previous page */
  cursor?: string;
}

/** The output of search_passes_by_user. */
export interface SearchPassesByUserOutput {
  passes: {
    serialNumber: string;
    /** the pass type id (PassSlot name) */
    passType: string;
    passTypeIdentifier: string;
    templateId: number;
    status: string;
    email: string | null;
    userId: string | null;
    externalId: string | null;
    createdAt: string;
    updatedAt: string;
    url: string;
    /** the wallets that hold the pass now (search_passes_by_user) */
    wallets?: ('apple' | 'google')[];
  }[];
  /** give it as cursor for the next page; null at the end */
  nextCursor: string | null;
}

/** The input of get_pass_details. */
export interface GetPassDetailsInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
}

/** The output of get_pass_details. */
export interface GetPassDetailsOutput {
  serialNumber: string;
  passTypeIdentifier: string;
  /** placeholder values by name, e.g. {"firstName": "Ada", "points": 120} */
  values: Record<string, string | number | boolean | null>;
  status: string;
  price: number | null;
  owner: {
    email: string | null;
    userId: string | null;
    externalId: string | null;
    phone: string | null;
  };
  template: {
    id: number;
    name: string;
  };
  notification: string | null;
  voided: boolean;
  version: number;
  url: string;
  /** the link that saves the pass to Google Wallet; null when the account has no Google Wallet */
  googleUrl: string | null;
  /**
   * the "Save to Google Wallet" link itself (https://pay.google.com/gp/v/save/<JWT>); null without Google
   * Wallet
   */
  googleSaveUrl: string | null;
  /** the wallets that hold the pass now */
  wallets: ('apple' | 'google')[];
  createdAt: string;
  updatedAt: string;
  personalization: Record<string, string> | null;
  devices: {
    deviceLibraryIdentifier: string;
    registeredAt: string;
  }[];
  /** the last 50 pushes, newest first */
  pushes: {
    deviceLibraryIdentifier: string;
    /** the APNs HTTP status; 0 when APNs did not answer */
    status: number;
    reason: string | null;
    apnsId: string | null;
    at: string;
  }[];
  /** times the pass link served the .pkpass */
  downloads: number;
  /** Wallet's last 20 log messages about this pass */
  logs: {
    message: string;
    at: string;
  }[];
}

/** The input of download_pass. */
export interface DownloadPassInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
}

/** The output of download_pass (the file's bytes, its content type and name). */
export interface DownloadPassOutput {
  contentType: string;
  filename?: string;
  data: Uint8Array;
}

/** The input of get_pass_values. */
export interface GetPassValuesInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
}

/** The output of get_pass_values. */
export type GetPassValuesOutput = Record<string, string | number | boolean | null>;

/** The input of get_pass_json. */
export interface GetPassJsonInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
}

/** The output of get_pass_json. */
export type GetPassJsonOutput = Record<string, unknown>;

/** The input of get_pass_url. */
export interface GetPassUrlInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
}

/** The output of get_pass_url. */
export interface GetPassUrlOutput {
  url: string;
}

/** The input of get_pass_status. */
export interface GetPassStatusInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
}

/** The output of get_pass_status. */
export interface GetPassStatusOutput {
  status: string;
}

/** The input of get_pass_price. */
export interface GetPassPriceInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
}

/** The output of get_pass_price. */
export interface GetPassPriceOutput {
  price: number | null;
}

/** The input of update_pass. */
export interface UpdatePassInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  /** placeholder values by name, e.g. {"firstName": "Ada", "points": 120} */
  values: Record<string, string | number | boolean | null>;
}

/** The output of update_pass. */
export type UpdatePassOutput = Record<string, string | number | boolean | null>;

/** The input of set_pass_status. */
export interface SetPassStatusInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  /** the pass status, as PassSlot: valid, invalid, redeemed, unpaid, locked or incomplete */
  status: 'valid' | 'invalid' | 'redeemed' | 'unpaid' | 'locked' | 'incomplete';
}

/** The output of set_pass_status. */
export interface SetPassStatusOutput {
  /** the pass status, as PassSlot: valid, invalid, redeemed, unpaid, locked or incomplete */
  status: 'valid' | 'invalid' | 'redeemed' | 'unpaid' | 'locked' | 'incomplete';
}

/** The input of set_pass_price. */
export interface SetPassPriceInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  price: number;
}

/** The output of set_pass_price. */
export interface SetPassPriceOutput {
  price: number;
}

/** The input of delete_pass_price. */
export interface DeletePassPriceInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
}

/** The output of delete_pass_price. */
export type DeletePassPriceOutput = Record<string, never>;

/** The input of revoke_pass. */
export interface RevokePassInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  reason?: string;
}

/** The output of revoke_pass. */
export interface RevokePassOutput {
  status: string;
  voided: boolean;
}

/** The input of send_pass_notification. */
export interface SendPassNotificationInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  message?: string;
  near?: {
    latitude: number;
    longitude: number;
    /** the pass's maxDistance */
    radiusMeters?: number;
    /** shown on the lock screen near the place */
    text: string;
  };
  at?: string;
  /** with `at`: the message */
  text?: string;
}

/** The output of send_pass_notification. */
export interface SendPassNotificationOutput {
  message: string | null;
  /** with near or at: the pass’s own relevance now */
  relevance?: unknown;
}

/** The input of sync_pass_state. */
export interface SyncPassStateInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
}

/** The output of sync_pass_state. */
export type SyncPassStateOutput = Record<string, never>;

/** The input of delete_pass. */
export interface DeletePassInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
}

/** The output of delete_pass. */
export type DeletePassOutput = Record<string, never>;

/** The input of email_pass. */
export interface EmailPassInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  email?: string;
}

/** The output of email_pass. */
export interface EmailPassOutput {
  email: string;
  jobId: number;
  messageId: number;
}

/** The input of sms_pass. */
export interface SmsPassInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  /** a phone number in E.164 form: + then 8 to 15 digits, e.g. +15558675310 */
  to?: string;
  message?: string;
}

/** The output of sms_pass. */
export interface SmsPassOutput {
  channel: 'email' | 'sms';
  /** the address or number it goes to */
  to: string;
  /** the message, named by its delivery.* events (messageId) */
  messageId: number;
  /** the job that sends it */
  jobId: number;
}

/** The input of send_pass. */
export interface SendPassInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  channel: 'email' | 'sms';
  to?: string;
  message?: string;
}

/** The output of send_pass. */
export interface SendPassOutput {
  channel: 'email' | 'sms';
  /** the address or number it goes to */
  to: string;
  /** the message, named by its delivery.* events (messageId) */
  messageId: number;
  /** the job that sends it */
  jobId: number;
}

/** The input of list_pass_templates. */
export type ListPassTemplatesInput = Record<string, never>;

/** The output of list_pass_templates. */
export type ListPassTemplatesOutput = {
  id: number;
  name: string;
  formatVersion: number;
  /** the pass type id the template issues passes under */
  passType: string;
  /** the pass.json body with ${placeholders} */
  description: Record<string, unknown>;
  /** the placeholder names, in order of appearance */
  placeholder: string[];
}[];

/** The input of get_template. */
export interface GetTemplateInput {
  id: number;
}

/** The output of get_template. */
export interface GetTemplateOutput {
  id: number;
  name: string;
  formatVersion: number;
  /** the pass type id the template issues passes under */
  passType: string;
  /** the pass.json body with ${placeholders} */
  description: Record<string, unknown>;
  /** the placeholder names, in order of appearance */
  placeholder: string[];
}

/** The input of create_template. */
export interface CreateTemplateInput {
  name: string;
  /** one of your pass type ids */
  passType: string;
  /** pass.json body; ${name} placeholders in any string */
  description: Record<string, unknown>;
}

/** The output of create_template. */
export interface CreateTemplateOutput {
  id: number;
  name: string;
  formatVersion: number;
  /** the pass type id the template issues passes under */
  passType: string;
  /** the pass.json body with ${placeholders} */
  description: Record<string, unknown>;
  /** the placeholder names, in order of appearance */
  placeholder: string[];
}

/** The input of preview_template. */
export interface PreviewTemplateInput {
  /** one of your pass type ids */
  passType: string;
  /** pass.json body; ${name} placeholders in any string */
  description: Record<string, unknown>;
  /** sample values by placeholder name (default "sample") */
  values?: Record<string, string | number | boolean>;
  /** a saved template whose images to check too (an icon is required; @2x and @3x expected) */
  templateId?: number;
}

/** The output of preview_template. */
export interface PreviewTemplateOutput {
  /** pass.json as rendered */
  pass: Record<string, unknown>;
  placeholders: string[];
  problems: {
    /** where, as description.<path> */
    field: string;
    severity: 'error' | 'warning';
    message: string;
  }[];
}

/** The input of get_template_sample. */
export interface GetTemplateSampleInput {
  id: number;
  /** sample values by placeholder name (default "sample") */
  values?: Record<string, string | number | boolean>;
}

/** The output of get_template_sample (the file's bytes, its content type and name). */
export interface GetTemplateSampleOutput {
  contentType: string;
  filename?: string;
  data: Uint8Array;
}

/** The input of update_template. */
export interface UpdateTemplateInput {
  id: number;
  name?: string;
  /** one of your pass type ids */
  passType?: string;
  /** pass.json body; ${name} placeholders in any string */
  description?: Record<string, unknown>;
}

/** The output of update_template. */
export interface UpdateTemplateOutput {
  id: number;
  name: string;
  passType: string;
  /** the background job refreshing the template's passes (get_job) */
  jobId: number;
  /** over MCP with a progress token: the job's status once it was followed to its end */
  status?: string;
}

/** The input of delete_template. */
export interface DeleteTemplateInput {
  id: number;
}

/** The output of delete_template. */
export type DeleteTemplateOutput = Record<string, never>;

/** The input of get_template_url. */
export interface GetTemplateUrlInput {
  id: number;
}

/** The output of get_template_url. */
export interface GetTemplateUrlOutput {
  url: string;
}

/** The input of get_template_restrictions. */
export interface GetTemplateRestrictionsInput {
  id: number;
}

/** The output of get_template_restrictions. */
export interface GetTemplateRestrictionsOutput {
  quantityRestriction?: number | null;
  redemptionRestriction?: number | null;
  passwordProtection?: string | null;
  dateRestriction?: string | null;
  sharingRestriction?: boolean | null;
  /**
   * give each pass the barcode PS1:<serial number>:<signature> (an HMAC under a key of the account): a forged
   * or edited code is refused at the door (POST /v1/scans) without a lookup
   */
  signedBarcodes?: boolean | null;
}

/** The input of set_template_restrictions. */
export interface SetTemplateRestrictionsInput {
  id: number;
  quantityRestriction?: number | null;
  redemptionRestriction?: number | null;
  passwordProtection?: string | null;
  dateRestriction?: string | null;
  sharingRestriction?: boolean | null;
  /**
   * give each pass the barcode PS1:<serial number>:<signature> (an HMAC under a key of the account): a forged
   * or edited code is refused at the door (POST /v1/scans) without a lookup
   */
  signedBarcodes?: boolean | null;
}

/** The output of set_template_restrictions. */
export interface SetTemplateRestrictionsOutput {
  quantityRestriction?: number | null;
  redemptionRestriction?: number | null;
  passwordProtection?: string | null;
  dateRestriction?: string | null;
  sharingRestriction?: boolean | null;
  /**
   * give each pass the barcode PS1:<serial number>:<signature> (an HMAC under a key of the account): a forged
   * or edited code is refused at the door (POST /v1/scans) without a lookup
   */
  signedBarcodes?: boolean | null;
}

/** The input of get_template_stats. */
export interface GetTemplateStatsInput {
  id: number;
  /** default: 30 days before `to` */
  from?: string;
  /** default: now */
  to?: string;
  /** the series’ step, default day */
  interval?: 'day' | 'month';
}

/** The output of get_template_stats. */
export interface GetTemplateStatsOutput {
  from: string;
  to: string;
  interval: string;
  counts: {
    issued: number;
    opened: number;
    downloaded: number;
    installed: number;
    removed: number;
    redeemed: number;
  };
  /** each stage as a share of the passes issued in the window (0 when none were issued) */
  conversion: {
    opened: number;
    downloaded: number;
    installed: number;
    redeemed: number;
  };
  series: {
    date: string;
    issued: number;
    opened: number;
    downloaded: number;
    installed: number;
    removed: number;
    redeemed: number;
  }[];
}

/** The input of get_account_stats. */
export interface GetAccountStatsInput {
  /** default: 30 days before `to` */
  from?: string;
  /** default: now */
  to?: string;
  /** the series’ step, default day */
  interval?: 'day' | 'month';
}

/** The output of get_account_stats. */
export interface GetAccountStatsOutput {
  from: string;
  to: string;
  interval: string;
  counts: {
    issued: number;
    opened: number;
    downloaded: number;
    installed: number;
    removed: number;
    redeemed: number;
  };
  /** each stage as a share of the passes issued in the window (0 when none were issued) */
  conversion: {
    opened: number;
    downloaded: number;
    installed: number;
    redeemed: number;
  };
  series: {
    date: string;
    issued: number;
    opened: number;
    downloaded: number;
    installed: number;
    removed: number;
    redeemed: number;
  }[];
}

/** The input of get_template_form. */
export interface GetTemplateFormInput {
  id: number;
}

/** The output of get_template_form. */
export interface GetTemplateFormOutput {
  settings: {
    /** by placeholder name */
    fields?: Record<string, {
      label?: string;
      type?: 'text' | 'email' | 'tel' | 'date' | 'number' | 'select';
      options?: string[];
      required?: boolean;
      /** not asked: the value is `default` */
      hidden?: boolean;
      default?: string;
    }>;
    /** ask for the holder’s email (default true) */
    askEmail?: boolean;
    /** ask for the holder’s mobile number, kept for SMS (default false) */
    askPhone?: boolean;
    /** email the pass after the form (default false) */
    emailPass?: boolean;
    /** one pass per email address (or phone, when only the phone is asked; default true) */
    onePerEmail?: boolean;
    title?: string;
    intro?: string;
  };
  fields: {
    name: string;
    label: string;
    type: 'text' | 'email' | 'tel' | 'date' | 'number' | 'select';
    required: boolean;
    options: string[] | null;
  }[];
}

/** The input of set_template_form. */
export interface SetTemplateFormInput {
  id: number;
  /** by placeholder name */
  fields?: Record<string, {
    label?: string;
    type?: 'text' | 'email' | 'tel' | 'date' | 'number' | 'select';
    options?: string[];
    required?: boolean;
    /** not asked: the value is `default` */
    hidden?: boolean;
    default?: string;
  }>;
  /** ask for the holder’s email (default true) */
  askEmail?: boolean;
  /** ask for the holder’s mobile number, kept for SMS (default false) */
  askPhone?: boolean;
  /** email the pass after the form (default false) */
  emailPass?: boolean;
  /** one pass per email address (or phone, when only the phone is asked; default true) */
  onePerEmail?: boolean;
  title?: string;
  intro?: string;
}

/** The output of set_template_form. */
export interface SetTemplateFormOutput {
  settings: {
    /** by placeholder name */
    fields?: Record<string, {
      label?: string;
      type?: 'text' | 'email' | 'tel' | 'date' | 'number' | 'select';
      options?: string[];
      required?: boolean;
      /** not asked: the value is `default` */
      hidden?: boolean;
      default?: string;
    }>;
    /** ask for the holder’s email (default true) */
    askEmail?: boolean;
    /** ask for the holder’s mobile number, kept for SMS (default false) */
    askPhone?: boolean;
    /** email the pass after the form (default false) */
    emailPass?: boolean;
    /** one pass per email address (or phone, when only the phone is asked; default true) */
    onePerEmail?: boolean;
    title?: string;
    intro?: string;
  };
  fields: {
    name: string;
    label: string;
    type: 'text' | 'email' | 'tel' | 'date' | 'number' | 'select';
    required: boolean;
    options: string[] | null;
  }[];
}

/** The input of get_template_messages. */
export interface GetTemplateMessagesInput {
  id: number;
}

/** The output of get_template_messages. */
export interface GetTemplateMessagesOutput {
  messages: {
    email?: {
      subject?: string;
      text?: string;
      html?: string;
    };
    sms?: string;
  };
  defaults: Record<string, string>;
}

/** The input of set_template_messages. */
export interface SetTemplateMessagesInput {
  id: number;
  email?: {
    subject?: string;
    text?: string;
    html?: string;
  };
  sms?: string;
}

/** The output of set_template_messages. */
export interface SetTemplateMessagesOutput {
  messages: {
    email?: {
      subject?: string;
      text?: string;
      html?: string;
    };
    sms?: string;
  };
  defaults: Record<string, string>;
}

/** The input of get_template_localizations. */
export interface GetTemplateLocalizationsInput {
  id: number;
}

/** The output of get_template_localizations. */
export interface GetTemplateLocalizationsOutput {
  /** by language (fr, de, pt-BR, zh-Hans): the strings Wallet shows on a phone in that language */
  localizations: Record<string, Record<string, string>>;
}

/** The input of set_template_localizations. */
export interface SetTemplateLocalizationsInput {
  id: number;
  /** by language (fr, de, pt-BR, zh-Hans): the strings Wallet shows on a phone in that language */
  localizations: Record<string, Record<string, string>>;
}

/** The output of set_template_localizations. */
export interface SetTemplateLocalizationsOutput {
  /** by language (fr, de, pt-BR, zh-Hans): the strings Wallet shows on a phone in that language */
  localizations: Record<string, Record<string, string>>;
  jobId: number;
}

/** The input of import_passes. */
export interface ImportPassesInput {
  templateId: number;
  /** the CSV text, header first */
  csv: string;
  dryRun?: boolean;
  deliver?: 'email' | 'sms';
}

/** The output of import_passes. */
export interface ImportPassesOutput {
  jobId: number;
  /** the rows after the header */
  rows: number;
  dryRun: boolean;
}

/** The input of list_pass_images. */
export interface ListPassImagesInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  type?: 'icon' | 'logo' | 'strip' | 'thumbnail' | 'background' | 'footer' | 'artwork' | 'primaryLogo' | 'secondaryLogo';
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution?: 'normal' | 'high' | 'ultra';
}

/** The output of list_pass_images. */
export type ListPassImagesOutput = {
  type: string;
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution: 'normal' | 'high' | 'ultra';
  width: number;
  height: number;
  size: number;
  contentType: 'image/png';
}[];

/** The input of get_pass_image. */
export interface GetPassImageInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  type: 'icon' | 'logo' | 'strip' | 'thumbnail' | 'background' | 'footer' | 'artwork' | 'primaryLogo' | 'secondaryLogo';
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution: 'normal' | 'high' | 'ultra';
}

/** The output of get_pass_image (the file's bytes, its content type and name). */
export interface GetPassImageOutput {
  contentType: string;
  filename?: string;
  data: Uint8Array;
}

/** The input of set_pass_image. */
export interface SetPassImageInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  type: 'icon' | 'logo' | 'strip' | 'thumbnail' | 'background' | 'footer' | 'artwork' | 'primaryLogo' | 'secondaryLogo';
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution: 'normal' | 'high' | 'ultra';
  /** image bytes, base64 */
  data: string;
}

/** The output of set_pass_image. */
export interface SetPassImageOutput {
  type: string;
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution: 'normal' | 'high' | 'ultra';
  width: number;
  height: number;
  size: number;
  contentType: 'image/png';
}

/** The input of delete_pass_images. */
export interface DeletePassImagesInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  type?: 'icon' | 'logo' | 'strip' | 'thumbnail' | 'background' | 'footer' | 'artwork' | 'primaryLogo' | 'secondaryLogo';
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution?: 'normal' | 'high' | 'ultra';
}

/** The output of delete_pass_images. */
export interface DeletePassImagesOutput {
  deleted: number;
}

/** The input of list_template_images. */
export interface ListTemplateImagesInput {
  templateId: number;
  type?: 'icon' | 'logo' | 'strip' | 'thumbnail' | 'background' | 'footer' | 'artwork' | 'primaryLogo' | 'secondaryLogo';
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution?: 'normal' | 'high' | 'ultra';
}

/** The output of list_template_images. */
export type ListTemplateImagesOutput = {
  type: string;
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution: 'normal' | 'high' | 'ultra';
  width: number;
  height: number;
  size: number;
  contentType: 'image/png';
}[];

/** The input of get_template_image. */
export interface GetTemplateImageInput {
  templateId: number;
  type: 'icon' | 'logo' | 'strip' | 'thumbnail' | 'background' | 'footer' | 'artwork' | 'primaryLogo' | 'secondaryLogo';
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution: 'normal' | 'high' | 'ultra';
}

/** The output of get_template_image (the file's bytes, its content type and name). */
export interface GetTemplateImageOutput {
  contentType: string;
  filename?: string;
  data: Uint8Array;
}

/** The input of set_template_image. */
export interface SetTemplateImageInput {
  templateId: number;
  type: 'icon' | 'logo' | 'strip' | 'thumbnail' | 'background' | 'footer' | 'artwork' | 'primaryLogo' | 'secondaryLogo';
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution: 'normal' | 'high' | 'ultra';
  /** image bytes, base64 */
  data: string;
}

/** The output of set_template_image. */
export interface SetTemplateImageOutput {
  type: string;
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution: 'normal' | 'high' | 'ultra';
  width: number;
  height: number;
  size: number;
  contentType: 'image/png';
}

/** The input of delete_template_images. */
export interface DeleteTemplateImagesInput {
  templateId: number;
  type?: 'icon' | 'logo' | 'strip' | 'thumbnail' | 'background' | 'footer' | 'artwork' | 'primaryLogo' | 'secondaryLogo';
  /** normal (@1x), high (@2x) or ultra (@3x) */
  resolution?: 'normal' | 'high' | 'ultra';
}

/** The output of delete_template_images. */
export interface DeleteTemplateImagesOutput {
  deleted: number;
}

/** The input of update_passes_of_template. */
export interface UpdatePassesOfTemplateInput {
  templateId: number;
  /** which passes: all the given conditions hold (values: each named value is equal) */
  filter?: {
    /** the pass status, as PassSlot: valid, invalid, redeemed, unpaid, locked or incomplete */
    status?: 'valid' | 'invalid' | 'redeemed' | 'unpaid' | 'locked' | 'incomplete';
    email?: string;
    userId?: string;
    externalId?: string;
    /** placeholder values by name, e.g. {"firstName": "Ada", "points": 120} */
    values?: Record<string, string | number | boolean | null>;
  };
  /** placeholder values by name, e.g. {"firstName": "Ada", "points": 120} */
  values: Record<string, string | number | boolean | null>;
}

/** The output of update_passes_of_template. */
export interface UpdatePassesOfTemplateOutput {
  jobId: number;
  status: string;
}

/** The input of get_job. */
export interface GetJobInput {
  id: number;
}

/** The output of get_job. */
export interface GetJobOutput {
  id: number;
  kind: string;
  /** pending, running, done or failed */
  status: string;
  attempts: number;
  /** total, processed, updated and failed passes */
  progress: unknown;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The input of get_pass_types. */
export type GetPassTypesInput = Record<string, never>;

/** The output of get_pass_types. */
export type GetPassTypesOutput = {
  /** the pass type id */
  id: string;
  passTypeIdentifier: string;
  teamIdentifier: string;
  organizationName: string;
  certificateExpirationDate: string;
  healthy: boolean;
  unhealthyReason: string | null;
}[];

/** The input of get_pass_type. */
export interface GetPassTypeInput {
  id: string;
}

/** The output of get_pass_type. */
export interface GetPassTypeOutput {
  /** the pass type id */
  id: string;
  passTypeIdentifier: string;
  teamIdentifier: string;
  organizationName: string;
  certificateExpirationDate: string;
  healthy: boolean;
  unhealthyReason: string | null;
}

/** The input of create_pass_type. */
export interface CreatePassTypeInput {
  /** the .p12 file, base64 */
  p12?: string;
  password?: string;
  /** PEM certificate */
  certificate?: string;
  /** PEM private key */
  privateKey?: string;
  /** PEM intermediate; default Apple WWDR G4 */
  wwdrCertificate?: string;
}

/** The output of create_pass_type. */
export interface CreatePassTypeOutput {
  /** the pass type id */
  id: string;
  passTypeIdentifier: string;
  teamIdentifier: string;
  organizationName: string;
  certificateExpirationDate: string;
  healthy: boolean;
  unhealthyReason: string | null;
}

/** The input of update_pass_type. */
export interface UpdatePassTypeInput {
  id: string;
  /** the .p12 file, base64 */
  p12?: string;
  password?: string;
  /** PEM certificate */
  certificate?: string;
  /** PEM private key */
  privateKey?: string;
  /** PEM intermediate; default Apple WWDR G4 */
  wwdrCertificate?: string;
}

/** The output of update_pass_type. */
export interface UpdatePassTypeOutput {
  /** the pass type id */
  id: string;
  passTypeIdentifier: string;
  teamIdentifier: string;
  organizationName: string;
  certificateExpirationDate: string;
  healthy: boolean;
  unhealthyReason: string | null;
}

/** The input of delete_pass_type. */
export interface DeletePassTypeInput {
  id: string;
}

/** The output of delete_pass_type. */
export type DeletePassTypeOutput = Record<string, never>;

/** The input of set_apns_key. */
export interface SetApnsKeyInput {
  keyId: string;
  teamId: string;
  /** the .p8 file (PEM, EC P-256 private key) */
  p8: string;
}

/** The output of set_apns_key. */
export interface SetApnsKeyOutput {
  keyId: string;
  teamId: string;
}

/** The input of delete_apns_key. */
export type DeleteApnsKeyInput = Record<string, never>;

/** The output of delete_apns_key. */
export type DeleteApnsKeyOutput = Record<string, never>;

/** The input of list_scanners. */
export type ListScannersInput = Record<string, never>;

/** The output of list_scanners. */
export type ListScannersOutput = {
  id: number;
  name: string;
  type: string;
  fullAccess: boolean;
  allowedTemplates: number[];
  createdAt: string;
  updatedAt: string;
}[];

/** The input of get_scanner. */
export interface GetScannerInput {
  id: number;
}

/** The output of get_scanner. */
export interface GetScannerOutput {
  id: number;
  name: string;
  type: string;
  fullAccess: boolean;
  allowedTemplates: number[];
  createdAt: string;
  updatedAt: string;
}

/** The input of create_scanner. */
export interface CreateScannerInput {
  name: string;
  type: 'PassVerifier' | 'Browser';
  fullAccess: boolean;
  allowedTemplates?: number[];
}

/** The output of create_scanner. */
export interface CreateScannerOutput {
  id: number;
  name: string;
  type: string;
  fullAccess: boolean;
  allowedTemplates: number[];
  createdAt: string;
  updatedAt: string;
}

/** The input of update_scanner. */
export interface UpdateScannerInput {
  id: number;
  name: string;
  type: 'PassVerifier' | 'Browser';
  fullAccess: boolean;
  allowedTemplates?: number[];
}

/** The output of update_scanner. */
export interface UpdateScannerOutput {
  id: number;
  name: string;
  type: string;
  fullAccess: boolean;
  allowedTemplates: number[];
  createdAt: string;
  updatedAt: string;
}

/** The input of delete_scanner. */
export interface DeleteScannerInput {
  id: number;
}

/** The output of delete_scanner. */
export type DeleteScannerOutput = Record<string, never>;

/** The input of create_scanner_key. */
export interface CreateScannerKeyInput {
  id: number;
}

/** The output of create_scanner_key. */
export interface CreateScannerKeyOutput {
  /** the secret key, shown this once */
  key: string;
  keyId: number;
  /** the scanner page, signed in with this key */
  signInUrl: string;
}

/** The input of redeem_pass. */
export interface RedeemPassInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
  /** the scanner redeeming it (one of the account’s, allowed this pass’s template), for the event */
  scanner?: number;
}

/** The output of redeem_pass. */
export interface RedeemPassOutput {
  /**
   * redeemed: this call used one redemption; already_redeemed: the pass has used every redemption its
   * template allows; not_valid: the pass is revoked or its status is not valid (status says which)
   */
  outcome: 'redeemed' | 'already_redeemed' | 'not_valid';
  /** the pass status after this call */
  status: string;
  /** redemptions used so far */
  redemptions: number;
  /** redemptions left, or null when the template sets no limit */
  remaining: number | null;
}

/** The input of scan_barcode. */
export interface ScanBarcodeInput {
  /** the barcode message as read */
  barcode: string;
  /** false: only check; default true: redeem */
  redeem?: boolean;
  /** the scanner scanning (one of the account’s), for the event and access */
  scanner?: number;
}

/** The output of scan_barcode. */
export interface ScanBarcodeOutput {
  /**
   * valid: the pass may be used (a check, redeem false); redeemed: this scan used it; already_redeemed: it
   * has used every redemption its template allows (when and by which scanner, in lastRedemption); revoked:
   * revoked or deleted; expired: past its expiration date, or invalid; not_yet_valid: waiting for payment or
   * completion (status unpaid, incomplete or locked); unknown: no pass of the account carries this code;
   * forged: a signed code (PS1:...) whose signature is not the account's
   */
  result: 'valid' | 'redeemed' | 'already_redeemed' | 'revoked' | 'expired' | 'not_yet_valid' | 'unknown' | 'forged';
  /** what to show, in a sentence */
  message: string;
  pass: null | {
    serialNumber: string;
    passTypeIdentifier: string;
    templateId: number;
    /** the pass's description (or its organization) */
    name: string;
    status: string;
    fields: {
      label: string;
      value: string;
    }[];
    redemptions: number;
    remaining: number | null;
  };
  lastRedemption: null | {
    at: string;
    scanner: number | null;
  };
}

/** The input of list_app_keys. */
export type ListAppKeysInput = Record<string, never>;

/** The output of list_app_keys. */
export type ListAppKeysOutput = {
  id: number;
  name: string;
  /** the public start of the key, to recognise it */
  prefix: string;
  scopes: string[];
  templateIds: number[] | null;
  passTypeIds: string[] | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** the person on whose behalf the key acts; null for a service key */
  userId: number | null;
}[];

/** The input of create_app_key. */
export interface CreateAppKeyInput {
  name: string;
  scopes: ('passes:read' | 'passes:write' | 'templates:read' | 'templates:write' | 'passtypes:read' | 'passtypes:write' | 'scanners:read' | 'scanners:write' | 'scans:write' | 'audit:read' | 'events:read' | 'webhooks:read' | 'webhooks:write' | 'integrations:read' | 'integrations:write' | '*')[];
  templateIds?: number[] | null;
  passTypeIds?: string[] | null;
  /**
   * a member of the account on whose behalf the key acts (its runs are logged as theirs; its scopes stay
   * within their role); without it, a service key
   */
  user?: string;
}

/** The output of create_app_key. */
export interface CreateAppKeyOutput {
  /** the secret key, shown this once */
  key: string;
  id: number;
  name: string;
  /** the public start of the key, to recognise it */
  prefix: string;
  scopes: string[];
  templateIds: number[] | null;
  passTypeIds: string[] | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** the person on whose behalf the key acts; null for a service key */
  userId: number | null;
}

/** The input of rotate_app_key. */
export interface RotateAppKeyInput {
  id: number;
}

/** The output of rotate_app_key. */
export interface RotateAppKeyOutput {
  /** the secret key, shown this once */
  key: string;
  id: number;
  name: string;
  /** the public start of the key, to recognise it */
  prefix: string;
  scopes: string[];
  templateIds: number[] | null;
  passTypeIds: string[] | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  /** the person on whose behalf the key acts; null for a service key */
  userId: number | null;
}

/** The input of revoke_app_key. */
export interface RevokeAppKeyInput {
  id: number;
}

/** The output of revoke_app_key. */
export type RevokeAppKeyOutput = Record<string, never>;

/** The input of set_google_wallet. */
export interface SetGoogleWalletInput {
  /** Google's issuer id (digits) */
  issuerId: string;
  /** the service account's JSON key file */
  serviceAccountKey: {
    client_email: string;
    private_key: string;
    [key: string]: unknown;
  };
}

/** The output of set_google_wallet. */
export interface SetGoogleWalletOutput {
  issuerId: string;
  /** the service account's client_email */
  clientEmail: string;
}

/** The input of get_google_wallet. */
export type GetGoogleWalletInput = Record<string, never>;

/** The output of get_google_wallet. */
export interface GetGoogleWalletOutput {
  issuerId: string;
  /** the service account's client_email */
  clientEmail: string;
}

/** The input of delete_google_wallet. */
export type DeleteGoogleWalletInput = Record<string, never>;

/** The output of delete_google_wallet. */
export type DeleteGoogleWalletOutput = Record<string, never>;

/** The input of get_template_google. */
export interface GetTemplateGoogleInput {
  id: number;
}

/** The output of get_template_google. */
export interface GetTemplateGoogleOutput {
  /** the Google pass type: generic, eventTicket, loyalty, offer, flight or transit */
  type: string;
  /** what does not map to Google Wallet, and why */
  warnings: string[];
  class: Record<string, unknown>;
}

/** The input of get_pass_google. */
export interface GetPassGoogleInput {
  /** the pass type id, e.g. pass.com.example.member */
  passTypeIdentifier: string;
  /** the serial number of the pass */
  serialNumber: string;
}

/** The output of get_pass_google. */
export interface GetPassGoogleOutput {
  saveUrl: string;
  /** the Google pass type: generic, eventTicket, loyalty, offer, flight or transit */
  type: string;
  /** what does not map to Google Wallet, and why */
  warnings: string[];
  object: Record<string, unknown>;
  /** what Google Wallet has of the pass */
  sync: {
    /** Google has the object (inserted through its API, or saved) */
    inserted: boolean;
    /** the pass version Google has */
    syncedVersion: number;
    /** the pass is in a holder's Google Wallet */
    saved: boolean;
    /** Google's refusal of the last sync, until one succeeds */
    error: string | null;
  };
}

/** The input of list_executions. */
export interface ListExecutionsInput {
  action?: string;
  /** rest, cli, mcp, job, page or wallet */
  edge?: 'rest' | 'cli' | 'mcp' | 'job' | 'page' | 'wallet' | 'trigger';
  since?: string;
  limit?: number;
  /** the nextCursor of the previous page */
  cursor?: string;
  /** a person's email or a key's name */
  user?: string;
  outcome?: 'ok' | 'error';
}

/** The output of list_executions. */
export interface ListExecutionsOutput {
  executions: {
    id: number;
    createdAt: string;
    action: string;
    /** where it was run from: rest, cli, mcp, job, page, wallet or trigger */
    edge: string;
    /** the app key; null for OAuth and Passslot itself */
    keyId: number | null;
    credential: string | null;
    onBehalfOf: string | null;
    requestId: string;
    target: string | null;
    /** the status of the run, as HTTP would answer it */
    outcome: number;
    ok: boolean;
    error: string | null;
    durationMs: number;
    /** the input, secrets redacted */
    input: unknown;
    touched: {
      passes: string[];
      templates: number[];
    } | null;
    /** position in the account’s hash chain */
    seq: number | null;
    hash: string | null;
  }[];
  /** give it as cursor for the next page; null at the end */
  nextCursor: string | null;
}

/** The input of list_audit_log. */
export interface ListAuditLogInput {
  action?: string;
  /** rest, cli, mcp, job, page or wallet */
  edge?: 'rest' | 'cli' | 'mcp' | 'job' | 'page' | 'wallet' | 'trigger';
  since?: string;
  limit?: number;
  /** the nextCursor of the previous page */
  cursor?: string;
  keyId?: number;
}

/** The output of list_audit_log. */
export interface ListAuditLogOutput {
  entries: {
    id: number;
    createdAt: string;
    action: string;
    /** where it was run from: rest, cli, mcp, job, page, wallet or trigger */
    edge: string;
    /** the app key; null for OAuth and Passslot itself */
    keyId: number | null;
    credential: string | null;
    onBehalfOf: string | null;
    requestId: string;
    target: string | null;
    /** the status of the run, as HTTP would answer it */
    outcome: number;
    ok: boolean;
    error: string | null;
    durationMs: number;
    /** the input, secrets redacted */
    input: unknown;
    touched: {
      passes: string[];
      templates: number[];
    } | null;
    /** position in the account’s hash chain */
    seq: number | null;
    hash: string | null;
  }[];
  /** give it as cursor for the next page; null at the end */
  nextCursor: string | null;
}

/** The input of export_audit_log. */
export interface ExportAuditLogInput {
  since?: string;
  until?: string;
}

/** The output of export_audit_log (the file's bytes, its content type and name). */
export interface ExportAuditLogOutput {
  contentType: string;
  filename?: string;
  data: Uint8Array;
}

/** The input of verify_audit_log. */
export type VerifyAuditLogInput = Record<string, never>;

/** The output of verify_audit_log. */
export interface VerifyAuditLogOutput {
  ok: boolean;
  /** records verified before the first break (all of them when ok) */
  records: number;
  broken: {
    seq: number;
    id: number;
    reason: string;
  } | null;
}

/** The input of list_action_stats. */
export interface ListActionStatsInput {
  /** the window, default 24 */
  hours?: number;
}

/** The output of list_action_stats. */
export interface ListActionStatsOutput {
  since: string;
  actions: {
    action: string;
    calls: number;
    errors: number;
    errorRate: number;
    p50Ms: number | null;
    p95Ms: number | null;
    edges: Record<string, number>;
  }[];
}

/** The input of list_events. */
export interface ListEventsInput {
  /** comma-separated event types or families, e.g. pass.*,registration.created */
  type?: string;
  passTypeIdentifier?: string;
  serialNumber?: string;
  /** only events at or after this time */
  since?: string;
  limit?: number;
  /** the nextCursor of the previous page */
  cursor?: string;
}

/** The output of list_events. */
export interface ListEventsOutput {
  events: {
    /** the event id (a UUID), the same on every delivery of the event */
    id: string;
    /**
     * one of pass.created, pass.updated, pass.downloaded, pass.link_opened, registration.created,
     * registration.deleted, scan.performed, pass.deleted, pass.status_changed, pass.revoked, pass.notified,
     * pass.personalized, push.failed, passtype.certificate_expiring, webhook.disabled, integration.disabled,
     * delivery.sent, delivery.delivered, delivery.failed
     */
    type: string;
    /** when it happened (ISO 8601) */
    created: string;
    data: Record<string, unknown>;
  }[];
  /** give it as cursor for the next page; null at the end */
  nextCursor: string | null;
}

/** The input of get_event. */
export interface GetEventInput {
  id: string;
}

/** The output of get_event. */
export interface GetEventOutput {
  /** the event id (a UUID), the same on every delivery of the event */
  id: string;
  /**
   * one of pass.created, pass.updated, pass.downloaded, pass.link_opened, registration.created,
   * registration.deleted, scan.performed, pass.deleted, pass.status_changed, pass.revoked, pass.notified,
   * pass.personalized, push.failed, passtype.certificate_expiring, webhook.disabled, integration.disabled,
   * delivery.sent, delivery.delivered, delivery.failed
   */
  type: string;
  /** when it happened (ISO 8601) */
  created: string;
  data: Record<string, unknown>;
}

/** The input of create_webhook. */
export interface CreateWebhookInput {
  /** where to POST the events (http or https) */
  url: string;
  /** the event types to send: ["pass.*", "registration.created"], or ["*"] for all */
  events: string[];
  description?: string;
  enabled?: boolean;
}

/** The output of create_webhook. */
export interface CreateWebhookOutput {
  id: number;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  /** why it was disabled, if it was */
  disabledReason: string | null;
  /** since when every delivery failed */
  failingSince: string | null;
  lastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** until when the secret before the last rotation still signs (both signatures are sent) */
  previousSecretExpiresAt: string | null;
  /** the signing secret (whsec_...), shown this once */
  secret: string;
}

/** The input of list_webhooks. */
export type ListWebhooksInput = Record<string, never>;

/** The output of list_webhooks. */
export type ListWebhooksOutput = {
  id: number;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  /** why it was disabled, if it was */
  disabledReason: string | null;
  /** since when every delivery failed */
  failingSince: string | null;
  lastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** until when the secret before the last rotation still signs (both signatures are sent) */
  previousSecretExpiresAt: string | null;
}[];

/** The input of get_webhook. */
export interface GetWebhookInput {
  id: number;
}

/** The output of get_webhook. */
export interface GetWebhookOutput {
  id: number;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  /** why it was disabled, if it was */
  disabledReason: string | null;
  /** since when every delivery failed */
  failingSince: string | null;
  lastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** until when the secret before the last rotation still signs (both signatures are sent) */
  previousSecretExpiresAt: string | null;
}

/** The input of update_webhook. */
export interface UpdateWebhookInput {
  id: number;
  /** where to POST the events (http or https) */
  url?: string;
  /** the event types to send: ["pass.*", "registration.created"], or ["*"] for all */
  events?: string[];
  description?: string;
  enabled?: boolean;
}

/** The output of update_webhook. */
export interface UpdateWebhookOutput {
  id: number;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  /** why it was disabled, if it was */
  disabledReason: string | null;
  /** since when every delivery failed */
  failingSince: string | null;
  lastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** until when the secret before the last rotation still signs (both signatures are sent) */
  previousSecretExpiresAt: string | null;
}

/** The input of delete_webhook. */
export interface DeleteWebhookInput {
  id: number;
}

/** The output of delete_webhook. */
export type DeleteWebhookOutput = Record<string, never>;

/** The input of rotate_webhook_secret. */
export interface RotateWebhookSecretInput {
  id: number;
}

/** The output of rotate_webhook_secret. */
export interface RotateWebhookSecretOutput {
  id: number;
  url: string;
  description: string;
  events: string[];
  enabled: boolean;
  /** why it was disabled, if it was */
  disabledReason: string | null;
  /** since when every delivery failed */
  failingSince: string | null;
  lastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** until when the secret before the last rotation still signs (both signatures are sent) */
  previousSecretExpiresAt: string | null;
  /** the signing secret (whsec_...), shown this once */
  secret: string;
}

/** The input of list_webhook_deliveries. */
export interface ListWebhookDeliveriesInput {
  id: number;
  status?: 'pending' | 'running' | 'delivered' | 'failed' | 'skipped';
  limit?: number;
  /** the nextCursor of the previous page */
  cursor?: string;
}

/** The output of list_webhook_deliveries. */
export interface ListWebhookDeliveriesOutput {
  deliveries: {
    id: number;
    eventId: string;
    eventType: string;
    /** failed deliveries are kept for a retry or a replay */
    status: 'pending' | 'running' | 'delivered' | 'failed' | 'skipped';
    attempts: number;
    nextAttemptAt: string | null;
    lastStatus: number | null;
    lastError: string | null;
    createdAt: string;
    deliveredAt: string | null;
    attemptLog: {
      at: string;
      /** the HTTP status answered, null if none */
      status: number | null;
      latencyMs: number;
      error: string | null;
      /** the start of the answer body */
      response: string | null;
    }[];
  }[];
  nextCursor: string | null;
}

/** The input of retry_webhook_delivery. */
export interface RetryWebhookDeliveryInput {
  id: number;
  deliveryId: number;
}

/** The output of retry_webhook_delivery. */
export interface RetryWebhookDeliveryOutput {
  id: number;
  eventId: string;
  eventType: string;
  /** failed deliveries are kept for a retry or a replay */
  status: 'pending' | 'running' | 'delivered' | 'failed' | 'skipped';
  attempts: number;
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  attemptLog: {
    at: string;
    /** the HTTP status answered, null if none */
    status: number | null;
    latencyMs: number;
    error: string | null;
    /** the start of the answer body */
    response: string | null;
  }[];
}

/** The input of replay_webhook. */
export interface ReplayWebhookInput {
  id: number;
  /** replay the events at or after this time */
  since: string;
}

/** The output of replay_webhook. */
export interface ReplayWebhookOutput {
  /** how many events were queued again */
  queued: number;
}

/** The input of create_integration. */
export interface CreateIntegrationInput {
  type: 'hubspot' | 'salesforce' | 'twilio' | 'stripe';
  /**
   * HubSpot: a private app token (accessToken), or OAuth (clientId, clientSecret, refreshToken). Salesforce:
   * OAuth (clientId, clientSecret, refreshToken; optionally accessToken and instanceUrl). Twilio: accountSid
   * (AC...) and authToken. Stripe: signingSecret (whsec_..., the endpoint secret).
   */
  credentials: {
    accessToken?: string;
    refreshToken?: string;
    clientId?: string;
    clientSecret?: string;
    instanceUrl?: string;
    accountSid?: string;
    authToken?: string;
    signingSecret?: string;
  };
  /**
   * CRMs: CRM property (HubSpot) or field (Salesforce) -> the event field it takes: email, userId,
   * externalId, pid, serialNumber, passTypeIdentifier, templateId, templateName, status, walletStatus,
   * installed, devicesInstalled, url, event, eventId, eventTime, or values.<name>. Stripe: placeholder -> a
   * dotted path in the Checkout Session (customer_details.name, amount_total, currency, metadata.tier,
   * client_reference_id).
   */
  mapping?: Record<string, string>;
  events?: string[];
  settings?: {
    /** HubSpot API base, default https://api.hubapi.com; Twilio API base, default https://api.twilio.com */
    baseUrl?: string;
    /** Salesforce login, default https://login.salesforce.com */
    loginUrl?: string;
    /** Salesforce, default v67.0 */
    apiVersion?: string;
    /** Salesforce object, default Contact (or Lead, or a custom object) */
    object?: string;
    /** Salesforce external id field, default Passslot_Id__c */
    externalIdField?: string;
    /** the event field that is the external id, default pid */
    externalIdFrom?: string;
    /** Twilio: the number SMS are sent from (E.164) */
    from?: string;
    /** Twilio: a Messaging Service (MG...) that picks the sender, instead of from */
    messagingServiceSid?: string;
    /** Stripe: the template a paid checkout issues a pass from */
    templateId?: number;
    /** Stripe: how the new pass reaches the customer: email, sms (the checkout's email and phone) */
    deliver?: ('email' | 'sms')[];
  };
  description?: string;
}

/** The output of create_integration. */
export interface CreateIntegrationOutput {
  id: number;
  type: 'hubspot' | 'salesforce' | 'twilio' | 'stripe';
  description: string;
  events: string[];
  mapping: Record<string, string>;
  settings: Record<string, string | number | string[]>;
  auth: 'token' | 'oauth';
  accessTokenExpiresAt: string | null;
  /**
   * Stripe: the URL to give Stripe as the webhook endpoint. Twilio: where Twilio posts SMS statuses (set by
   * Passslot)
   */
  endpoint?: string;
  enabled: boolean;
  /** why it was disabled, if it was */
  disabledReason: string | null;
  /** since when every delivery failed */
  failingSince: string | null;
  lastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The input of list_integrations. */
export type ListIntegrationsInput = Record<string, never>;

/** The output of list_integrations. */
export type ListIntegrationsOutput = {
  id: number;
  type: 'hubspot' | 'salesforce' | 'twilio' | 'stripe';
  description: string;
  events: string[];
  mapping: Record<string, string>;
  settings: Record<string, string | number | string[]>;
  auth: 'token' | 'oauth';
  accessTokenExpiresAt: string | null;
  /**
   * Stripe: the URL to give Stripe as the webhook endpoint. Twilio: where Twilio posts SMS statuses (set by
   * Passslot)
   */
  endpoint?: string;
  enabled: boolean;
  /** why it was disabled, if it was */
  disabledReason: string | null;
  /** since when every delivery failed */
  failingSince: string | null;
  lastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
}[];

/** The input of get_integration. */
export interface GetIntegrationInput {
  id: number;
}

/** The output of get_integration. */
export interface GetIntegrationOutput {
  id: number;
  type: 'hubspot' | 'salesforce' | 'twilio' | 'stripe';
  description: string;
  events: string[];
  mapping: Record<string, string>;
  settings: Record<string, string | number | string[]>;
  auth: 'token' | 'oauth';
  accessTokenExpiresAt: string | null;
  /**
   * Stripe: the URL to give Stripe as the webhook endpoint. Twilio: where Twilio posts SMS statuses (set by
   * Passslot)
   */
  endpoint?: string;
  enabled: boolean;
  /** why it was disabled, if it was */
  disabledReason: string | null;
  /** since when every delivery failed */
  failingSince: string | null;
  lastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The input of update_integration. */
export interface UpdateIntegrationInput {
  id: number;
  /**
   * HubSpot: a private app token (accessToken), or OAuth (clientId, clientSecret, refreshToken). Salesforce:
   * OAuth (clientId, clientSecret, refreshToken; optionally accessToken and instanceUrl). Twilio: accountSid
   * (AC...) and authToken. Stripe: signingSecret (whsec_..., the endpoint secret).
   */
  credentials?: {
    accessToken?: string;
    refreshToken?: string;
    clientId?: string;
    clientSecret?: string;
    instanceUrl?: string;
    accountSid?: string;
    authToken?: string;
    signingSecret?: string;
  };
  /**
   * CRMs: CRM property (HubSpot) or field (Salesforce) -> the event field it takes: email, userId,
   * externalId, pid, serialNumber, passTypeIdentifier, templateId, templateName, status, walletStatus,
   * installed, devicesInstalled, url, event, eventId, eventTime, or values.<name>. Stripe: placeholder -> a
   * dotted path in the Checkout Session (customer_details.name, amount_total, currency, metadata.tier,
   * client_reference_id).
   */
  mapping?: Record<string, string>;
  events?: string[];
  settings?: {
    /** HubSpot API base, default https://api.hubapi.com; Twilio API base, default https://api.twilio.com */
    baseUrl?: string;
    /** Salesforce login, default https://login.salesforce.com */
    loginUrl?: string;
    /** Salesforce, default v67.0 */
    apiVersion?: string;
    /** Salesforce object, default Contact (or Lead, or a custom object) */
    object?: string;
    /** Salesforce external id field, default Passslot_Id__c */
    externalIdField?: string;
    /** the event field that is the external id, default pid */
    externalIdFrom?: string;
    /** Twilio: the number SMS are sent from (E.164) */
    from?: string;
    /** Twilio: a Messaging Service (MG...) that picks the sender, instead of from */
    messagingServiceSid?: string;
    /** Stripe: the template a paid checkout issues a pass from */
    templateId?: number;
    /** Stripe: how the new pass reaches the customer: email, sms (the checkout's email and phone) */
    deliver?: ('email' | 'sms')[];
  };
  description?: string;
  enabled?: boolean;
}

/** The output of update_integration. */
export interface UpdateIntegrationOutput {
  id: number;
  type: 'hubspot' | 'salesforce' | 'twilio' | 'stripe';
  description: string;
  events: string[];
  mapping: Record<string, string>;
  settings: Record<string, string | number | string[]>;
  auth: 'token' | 'oauth';
  accessTokenExpiresAt: string | null;
  /**
   * Stripe: the URL to give Stripe as the webhook endpoint. Twilio: where Twilio posts SMS statuses (set by
   * Passslot)
   */
  endpoint?: string;
  enabled: boolean;
  /** why it was disabled, if it was */
  disabledReason: string | null;
  /** since when every delivery failed */
  failingSince: string | null;
  lastSuccessAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** The input of delete_integration. */
export interface DeleteIntegrationInput {
  id: number;
}

/** The output of delete_integration. */
export type DeleteIntegrationOutput = Record<string, never>;

/** The input of list_integration_deliveries. */
export interface ListIntegrationDeliveriesInput {
  id: number;
  status?: 'pending' | 'running' | 'delivered' | 'failed' | 'skipped';
  limit?: number;
  /** the nextCursor of the previous page */
  cursor?: string;
}

/** The output of list_integration_deliveries. */
export interface ListIntegrationDeliveriesOutput {
  deliveries: {
    id: number;
    eventId: string;
    eventType: string;
    /** failed deliveries are kept for a retry or a replay */
    status: 'pending' | 'running' | 'delivered' | 'failed' | 'skipped';
    attempts: number;
    nextAttemptAt: string | null;
    lastStatus: number | null;
    lastError: string | null;
    createdAt: string;
    deliveredAt: string | null;
    attemptLog: {
      at: string;
      /** the HTTP status answered, null if none */
      status: number | null;
      latencyMs: number;
      error: string | null;
      /** the start of the answer body */
      response: string | null;
    }[];
  }[];
  nextCursor: string | null;
}

/** The input of retry_integration_delivery. */
export interface RetryIntegrationDeliveryInput {
  id: number;
  deliveryId: number;
}

/** The output of retry_integration_delivery. */
export interface RetryIntegrationDeliveryOutput {
  id: number;
  eventId: string;
  eventType: string;
  /** failed deliveries are kept for a retry or a replay */
  status: 'pending' | 'running' | 'delivered' | 'failed' | 'skipped';
  attempts: number;
  nextAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
  attemptLog: {
    at: string;
    /** the HTTP status answered, null if none */
    status: number | null;
    latencyMs: number;
    error: string | null;
    /** the start of the answer body */
    response: string | null;
  }[];
}

/** The input of replay_integration. */
export interface ReplayIntegrationInput {
  id: number;
  /** replay the events at or after this time */
  since: string;
}

/** The output of replay_integration. */
export interface ReplayIntegrationOutput {
  /** how many events were queued again */
  queued: number;
}

/** The input of list_oauth_grants. */
export type ListOauthGrantsInput = Record<string, never>;

/** The output of list_oauth_grants. */
export interface ListOauthGrantsOutput {
  grants: {
    id: number;
    clientId: string;
    clientName: string;
    /** the email of the person who consented */
    user: string;
    scopes: string[];
    /** where its tokens may be used (…/mcp, …/v1, or the whole service) */
    resource: string;
    createdAt: string;
    lastUsedAt: string | null;
    revokedAt: string | null;
    revokedReason: string | null;
  }[];
}

/** The input of revoke_oauth_grant. */
export interface RevokeOauthGrantInput {
  id: number;
}

/** The output of revoke_oauth_grant. */
export type RevokeOauthGrantOutput = Record<string, never>;

/** Every action a credential can call: its input and output. */
export interface Actions {
  create_passes: { input: CreatePassesInput; output: CreatePassesOutput };
  create_pass: { input: CreatePassInput; output: CreatePassOutput };
  get_passes: { input: GetPassesInput; output: GetPassesOutput };
  get_passes_by_pass_type: { input: GetPassesByPassTypeInput; output: GetPassesByPassTypeOutput };
  search_passes_by_user: { input: SearchPassesByUserInput; output: SearchPassesByUserOutput };
  get_pass_details: { input: GetPassDetailsInput; output: GetPassDetailsOutput };
  download_pass: { input: DownloadPassInput; output: DownloadPassOutput };
  get_pass_values: { input: GetPassValuesInput; output: GetPassValuesOutput };
  get_pass_json: { input: GetPassJsonInput; output: GetPassJsonOutput };
  get_pass_url: { input: GetPassUrlInput; output: GetPassUrlOutput };
  get_pass_status: { input: GetPassStatusInput; output: GetPassStatusOutput };
  get_pass_price: { input: GetPassPriceInput; output: GetPassPriceOutput };
  update_pass: { input: UpdatePassInput; output: UpdatePassOutput };
  set_pass_status: { input: SetPassStatusInput; output: SetPassStatusOutput };
  set_pass_price: { input: SetPassPriceInput; output: SetPassPriceOutput };
  delete_pass_price: { input: DeletePassPriceInput; output: DeletePassPriceOutput };
  revoke_pass: { input: RevokePassInput; output: RevokePassOutput };
  send_pass_notification: { input: SendPassNotificationInput; output: SendPassNotificationOutput };
  sync_pass_state: { input: SyncPassStateInput; output: SyncPassStateOutput };
  delete_pass: { input: DeletePassInput; output: DeletePassOutput };
  email_pass: { input: EmailPassInput; output: EmailPassOutput };
  sms_pass: { input: SmsPassInput; output: SmsPassOutput };
  send_pass: { input: SendPassInput; output: SendPassOutput };
  list_pass_templates: { input: ListPassTemplatesInput; output: ListPassTemplatesOutput };
  get_template: { input: GetTemplateInput; output: GetTemplateOutput };
  create_template: { input: CreateTemplateInput; output: CreateTemplateOutput };
  preview_template: { input: PreviewTemplateInput; output: PreviewTemplateOutput };
  get_template_sample: { input: GetTemplateSampleInput; output: GetTemplateSampleOutput };
  update_template: { input: UpdateTemplateInput; output: UpdateTemplateOutput };
  delete_template: { input: DeleteTemplateInput; output: DeleteTemplateOutput };
  get_template_url: { input: GetTemplateUrlInput; output: GetTemplateUrlOutput };
  get_template_restrictions: { input: GetTemplateRestrictionsInput; output: GetTemplateRestrictionsOutput };
  set_template_restrictions: { input: SetTemplateRestrictionsInput; output: SetTemplateRestrictionsOutput };
  get_template_stats: { input: GetTemplateStatsInput; output: GetTemplateStatsOutput };
  get_account_stats: { input: GetAccountStatsInput; output: GetAccountStatsOutput };
  get_template_form: { input: GetTemplateFormInput; output: GetTemplateFormOutput };
  set_template_form: { input: SetTemplateFormInput; output: SetTemplateFormOutput };
  get_template_messages: { input: GetTemplateMessagesInput; output: GetTemplateMessagesOutput };
  set_template_messages: { input: SetTemplateMessagesInput; output: SetTemplateMessagesOutput };
  get_template_localizations: { input: GetTemplateLocalizationsInput; output: GetTemplateLocalizationsOutput };
  set_template_localizations: { input: SetTemplateLocalizationsInput; output: SetTemplateLocalizationsOutput };
  import_passes: { input: ImportPassesInput; output: ImportPassesOutput };
  list_pass_images: { input: ListPassImagesInput; output: ListPassImagesOutput };
  get_pass_image: { input: GetPassImageInput; output: GetPassImageOutput };
  set_pass_image: { input: SetPassImageInput; output: SetPassImageOutput };
  delete_pass_images: { input: DeletePassImagesInput; output: DeletePassImagesOutput };
  list_template_images: { input: ListTemplateImagesInput; output: ListTemplateImagesOutput };
  get_template_image: { input: GetTemplateImageInput; output: GetTemplateImageOutput };
  set_template_image: { input: SetTemplateImageInput; output: SetTemplateImageOutput };
  delete_template_images: { input: DeleteTemplateImagesInput; output: DeleteTemplateImagesOutput };
  update_passes_of_template: { input: UpdatePassesOfTemplateInput; output: UpdatePassesOfTemplateOutput };
  get_job: { input: GetJobInput; output: GetJobOutput };
  get_pass_types: { input: GetPassTypesInput; output: GetPassTypesOutput };
  get_pass_type: { input: GetPassTypeInput; output: GetPassTypeOutput };
  create_pass_type: { input: CreatePassTypeInput; output: CreatePassTypeOutput };
  update_pass_type: { input: UpdatePassTypeInput; output: UpdatePassTypeOutput };
  delete_pass_type: { input: DeletePassTypeInput; output: DeletePassTypeOutput };
  set_apns_key: { input: SetApnsKeyInput; output: SetApnsKeyOutput };
  delete_apns_key: { input: DeleteApnsKeyInput; output: DeleteApnsKeyOutput };
  list_scanners: { input: ListScannersInput; output: ListScannersOutput };
  get_scanner: { input: GetScannerInput; output: GetScannerOutput };
  create_scanner: { input: CreateScannerInput; output: CreateScannerOutput };
  update_scanner: { input: UpdateScannerInput; output: UpdateScannerOutput };
  delete_scanner: { input: DeleteScannerInput; output: DeleteScannerOutput };
  create_scanner_key: { input: CreateScannerKeyInput; output: CreateScannerKeyOutput };
  redeem_pass: { input: RedeemPassInput; output: RedeemPassOutput };
  scan_barcode: { input: ScanBarcodeInput; output: ScanBarcodeOutput };
  list_app_keys: { input: ListAppKeysInput; output: ListAppKeysOutput };
  create_app_key: { input: CreateAppKeyInput; output: CreateAppKeyOutput };
  rotate_app_key: { input: RotateAppKeyInput; output: RotateAppKeyOutput };
  revoke_app_key: { input: RevokeAppKeyInput; output: RevokeAppKeyOutput };
  set_google_wallet: { input: SetGoogleWalletInput; output: SetGoogleWalletOutput };
  get_google_wallet: { input: GetGoogleWalletInput; output: GetGoogleWalletOutput };
  delete_google_wallet: { input: DeleteGoogleWalletInput; output: DeleteGoogleWalletOutput };
  get_template_google: { input: GetTemplateGoogleInput; output: GetTemplateGoogleOutput };
  get_pass_google: { input: GetPassGoogleInput; output: GetPassGoogleOutput };
  list_executions: { input: ListExecutionsInput; output: ListExecutionsOutput };
  list_audit_log: { input: ListAuditLogInput; output: ListAuditLogOutput };
  export_audit_log: { input: ExportAuditLogInput; output: ExportAuditLogOutput };
  verify_audit_log: { input: VerifyAuditLogInput; output: VerifyAuditLogOutput };
  list_action_stats: { input: ListActionStatsInput; output: ListActionStatsOutput };
  list_events: { input: ListEventsInput; output: ListEventsOutput };
  get_event: { input: GetEventInput; output: GetEventOutput };
  create_webhook: { input: CreateWebhookInput; output: CreateWebhookOutput };
  list_webhooks: { input: ListWebhooksInput; output: ListWebhooksOutput };
  get_webhook: { input: GetWebhookInput; output: GetWebhookOutput };
  update_webhook: { input: UpdateWebhookInput; output: UpdateWebhookOutput };
  delete_webhook: { input: DeleteWebhookInput; output: DeleteWebhookOutput };
  rotate_webhook_secret: { input: RotateWebhookSecretInput; output: RotateWebhookSecretOutput };
  list_webhook_deliveries: { input: ListWebhookDeliveriesInput; output: ListWebhookDeliveriesOutput };
  retry_webhook_delivery: { input: RetryWebhookDeliveryInput; output: RetryWebhookDeliveryOutput };
  replay_webhook: { input: ReplayWebhookInput; output: ReplayWebhookOutput };
  create_integration: { input: CreateIntegrationInput; output: CreateIntegrationOutput };
  list_integrations: { input: ListIntegrationsInput; output: ListIntegrationsOutput };
  get_integration: { input: GetIntegrationInput; output: GetIntegrationOutput };
  update_integration: { input: UpdateIntegrationInput; output: UpdateIntegrationOutput };
  delete_integration: { input: DeleteIntegrationInput; output: DeleteIntegrationOutput };
  list_integration_deliveries: { input: ListIntegrationDeliveriesInput; output: ListIntegrationDeliveriesOutput };
  retry_integration_delivery: { input: RetryIntegrationDeliveryInput; output: RetryIntegrationDeliveryOutput };
  replay_integration: { input: ReplayIntegrationInput; output: ReplayIntegrationOutput };
  list_oauth_grants: { input: ListOauthGrantsInput; output: ListOauthGrantsOutput };
  revoke_oauth_grant: { input: RevokeOauthGrantInput; output: RevokeOauthGrantOutput };
}

export type ActionName = keyof Actions;

/** The list actions, a page at a time, and the type of their items (client.paginate iterates over them). */
export interface Pages {
  get_passes: GetPassesOutput['passes'][number];
  get_passes_by_pass_type: GetPassesByPassTypeOutput['passes'][number];
  search_passes_by_user: SearchPassesByUserOutput['passes'][number];
  list_executions: ListExecutionsOutput['executions'][number];
  list_audit_log: ListAuditLogOutput['entries'][number];
  list_events: ListEventsOutput['events'][number];
  list_webhook_deliveries: ListWebhookDeliveriesOutput['deliveries'][number];
  list_integration_deliveries: ListIntegrationDeliveriesOutput['deliveries'][number];
}

export type PageName = keyof Pages;

/**
 * What the client needs to know of each action at run time: whether it changes state (then every call carries
 * an Idempotency-Key), what it answers (JSON or a file's bytes), and the property holding a page's items.
 */
export const ACTIONS = {
  create_passes: { mutates: true, answers: 'json' },
  create_pass: { mutates: true, answers: 'json' },
  get_passes: { mutates: false, answers: 'json', items: 'passes' },
  get_passes_by_pass_type: { mutates: false, answers: 'json', items: 'passes' },
  search_passes_by_user: { mutates: false, answers: 'json', items: 'passes' },
  get_pass_details: { mutates: false, answers: 'json' },
  download_pass: { mutates: false, answers: 'bytes' },
  get_pass_values: { mutates: false, answers: 'json' },
  get_pass_json: { mutates: false, answers: 'json' },
  get_pass_url: { mutates: false, answers: 'json' },
  get_pass_status: { mutates: false, answers: 'json' },
  get_pass_price: { mutates: false, answers: 'json' },
  update_pass: { mutates: true, answers: 'json' },
  set_pass_status: { mutates: true, answers: 'json' },
  set_pass_price: { mutates: true, answers: 'json' },
  delete_pass_price: { mutates: true, answers: 'json' },
  revoke_pass: { mutates: true, answers: 'json' },
  send_pass_notification: { mutates: true, answers: 'json' },
  sync_pass_state: { mutates: true, answers: 'json' },
  delete_pass: { mutates: true, answers: 'json' },
  email_pass: { mutates: true, answers: 'json' },
  sms_pass: { mutates: true, answers: 'json' },
  send_pass: { mutates: true, answers: 'json' },
  list_pass_templates: { mutates: false, answers: 'json' },
  get_template: { mutates: false, answers: 'json' },
  create_template: { mutates: true, answers: 'json' },
  preview_template: { mutates: false, answers: 'json' },
  get_template_sample: { mutates: false, answers: 'bytes' },
  update_template: { mutates: true, answers: 'json' },
  delete_template: { mutates: true, answers: 'json' },
  get_template_url: { mutates: false, answers: 'json' },
  get_template_restrictions: { mutates: false, answers: 'json' },
  set_template_restrictions: { mutates: true, answers: 'json' },
  get_template_stats: { mutates: false, answers: 'json' },
  get_account_stats: { mutates: false, answers: 'json' },
  get_template_form: { mutates: false, answers: 'json' },
  set_template_form: { mutates: true, answers: 'json' },
  get_template_messages: { mutates: false, answers: 'json' },
  set_template_messages: { mutates: true, answers: 'json' },
  get_template_localizations: { mutates: false, answers: 'json' },
  set_template_localizations: { mutates: true, answers: 'json' },
  import_passes: { mutates: true, answers: 'json' },
  list_pass_images: { mutates: false, answers: 'json' },
  get_pass_image: { mutates: false, answers: 'bytes' },
  set_pass_image: { mutates: true, answers: 'json' },
  delete_pass_images: { mutates: true, answers: 'json' },
  list_template_images: { mutates: false, answers: 'json' },
  get_template_image: { mutates: false, answers: 'bytes' },
  set_template_image: { mutates: true, answers: 'json' },
  delete_template_images: { mutates: true, answers: 'json' },
  update_passes_of_template: { mutates: true, answers: 'json' },
  get_job: { mutates: false, answers: 'json' },
  get_pass_types: { mutates: false, answers: 'json' },
  get_pass_type: { mutates: false, answers: 'json' },
  create_pass_type: { mutates: true, answers: 'json' },
  update_pass_type: { mutates: true, answers: 'json' },
  delete_pass_type: { mutates: true, answers: 'json' },
  set_apns_key: { mutates: true, answers: 'json' },
  delete_apns_key: { mutates: true, answers: 'json' },
  list_scanners: { mutates: false, answers: 'json' },
  get_scanner: { mutates: false, answers: 'json' },
  create_scanner: { mutates: true, answers: 'json' },
  update_scanner: { mutates: true, answers: 'json' },
  delete_scanner: { mutates: true, answers: 'json' },
  create_scanner_key: { mutates: true, answers: 'json' },
  redeem_pass: { mutates: true, answers: 'json' },
  scan_barcode: { mutates: true, answers: 'json' },
  list_app_keys: { mutates: false, answers: 'json' },
  create_app_key: { mutates: true, answers: 'json' },
  rotate_app_key: { mutates: true, answers: 'json' },
  revoke_app_key: { mutates: true, answers: 'json' },
  set_google_wallet: { mutates: true, answers: 'json' },
  get_google_wallet: { mutates: false, answers: 'json' },
  delete_google_wallet: { mutates: true, answers: 'json' },
  get_template_google: { mutates: false, answers: 'json' },
  get_pass_google: { mutates: false, answers: 'json' },
  list_executions: { mutates: false, answers: 'json', items: 'executions' },
  list_audit_log: { mutates: false, answers: 'json', items: 'entries' },
  export_audit_log: { mutates: false, answers: 'bytes' },
  verify_audit_log: { mutates: false, answers: 'json' },
  list_action_stats: { mutates: false, answers: 'json' },
  list_events: { mutates: false, answers: 'json', items: 'events' },
  get_event: { mutates: false, answers: 'json' },
  create_webhook: { mutates: true, answers: 'json' },
  list_webhooks: { mutates: false, answers: 'json' },
  get_webhook: { mutates: false, answers: 'json' },
  update_webhook: { mutates: true, answers: 'json' },
  delete_webhook: { mutates: true, answers: 'json' },
  rotate_webhook_secret: { mutates: true, answers: 'json' },
  list_webhook_deliveries: { mutates: false, answers: 'json', items: 'deliveries' },
  retry_webhook_delivery: { mutates: true, answers: 'json' },
  replay_webhook: { mutates: true, answers: 'json' },
  create_integration: { mutates: true, answers: 'json' },
  list_integrations: { mutates: false, answers: 'json' },
  get_integration: { mutates: false, answers: 'json' },
  update_integration: { mutates: true, answers: 'json' },
  delete_integration: { mutates: true, answers: 'json' },
  list_integration_deliveries: { mutates: false, answers: 'json', items: 'deliveries' },
  retry_integration_delivery: { mutates: true, answers: 'json' },
  replay_integration: { mutates: true, answers: 'json' },
  list_oauth_grants: { mutates: false, answers: 'json' },
  revoke_oauth_grant: { mutates: true, answers: 'json' },
} as const;

export const ACTION_NAMES = Object.keys(ACTIONS) as ActionName[];

/** One typed method per action, each a `run` of it (camelCase of the action name). */
export abstract class ActionMethods {
  abstract run<N extends ActionName>(
    name: N,
    input: Actions[N]['input'],
    options?: CallOptions,
  ): Promise<Actions[N]['output']>;

  /**
   * Create many passes. Issues up to 1000 passes from one template in one call, for importers and agents:
   * each item has the values of its placeholders and optionally its holder (email, userId, externalId,
   * phone). Every valid item is issued (in one transaction); the answer lists the passes created and, by
   * index, the items refused with their field errors (or the template closing when its quantityRestriction
   * runs out). Example: {"templateId": 3, "passes": [{"values": {"firstName": "Ada"}, "email":
   * "ada@example.com"}]}. (create_passes, scope passes:write)
   */
  createPasses(input: CreatePassesInput, options?: CallOptions): Promise<CreatePassesOutput> {
    return this.run('create_passes', input, options);
  }

  /**
   * Create a pass. Issues a new Wallet pass from a template: give templateId (or templateName) and the values
   * of its placeholders. Optionally record the holder (email, userId, externalId, phone) and per-pass images.
   * Returns the serial number and the link to send to the holder. Fails with the missing placeholder names,
   * or with what Wallet would reject. (create_pass, scope passes:write)
   */
  createPass(input: CreatePassInput, options?: CallOptions): Promise<CreatePassOutput> {
    return this.run('create_pass', input, options);
  }

  /**
   * List passes. Lists the passes of the account, oldest first, a page at a time (limit up to 1000, then pass
   * nextCursor as cursor). Filters: status, templateId, updatedSince (then in the order of last change: a
   * sync), and the holder (email, userId, externalId). (get_passes, scope passes:read)
   */
  getPasses(input: GetPassesInput = {}, options?: CallOptions): Promise<GetPassesOutput> {
    return this.run('get_passes', input, options);
  }

  /**
   * List the passes of one pass type. Lists the passes issued under one pass type id (e.g.
   * pass.com.example.member), with the same filters and paging as get_passes. (get_passes_by_pass_type, scope
   * passes:read)
   */
  getPassesByPassType(input: GetPassesByPassTypeInput, options?: CallOptions): Promise<GetPassesByPassTypeOutput> {
    return this.run('get_passes_by_pass_type', input, options);
  }

  /**
   * Find the passes of a person. Finds the passes held by one person, by their email, your userId for them,
   * or their externalId (e.g. a CRM id). Give at least one of the three. Use this to answer "which passes
   * does this customer have?". (search_passes_by_user, scope passes:read)
   */
  searchPassesByUser(input: SearchPassesByUserInput = {}, options?: CallOptions): Promise<SearchPassesByUserOutput> {
    return this.run('search_passes_by_user', input, options);
  }

  /**
   * Get everything about a pass. Returns one pass in full: its placeholder values, status, price, holder,
   * template, version, link and timestamps, the devices it is installed on, its recent pushes (APNs status
   * and reason), downloads and Wallet log messages. Use it before changing a pass, or to answer questions
   * about one ("is it installed? did the update reach the phone?"). (get_pass_details, scope passes:read)
   */
  getPassDetails(input: GetPassDetailsInput, options?: CallOptions): Promise<GetPassDetailsOutput> {
    return this.run('get_pass_details', input, options);
  }

  /**
   * Download the .pkpass of a pass. Returns the signed .pkpass file of a pass's current version: the file
   * Wallet installs (application/vnd.apple.pkpass). (download_pass, scope passes:read)
   */
  downloadPass(input: DownloadPassInput, options?: CallOptions): Promise<DownloadPassOutput> {
    return this.run('download_pass', input, options);
  }

  /**
   * Get the values of a pass. Returns the placeholder values of one pass as a flat object. (get_pass_values,
   * scope passes:read)
   */
  getPassValues(input: GetPassValuesInput, options?: CallOptions): Promise<GetPassValuesOutput> {
    return this.run('get_pass_values', input, options);
  }

  /**
   * Get the pass.json of a pass. Returns the pass.json of the current version of a pass, as Wallet receives
   * it. (get_pass_json, scope passes:read)
   */
  getPassJson(input: GetPassJsonInput, options?: CallOptions): Promise<GetPassJsonOutput> {
    return this.run('get_pass_json', input, options);
  }

  /**
   * Get the link of a pass. Returns the link that installs the pass: phones get the .pkpass, browsers a page
   * with a download button. (get_pass_url, scope passes:read)
   */
  getPassUrl(input: GetPassUrlInput, options?: CallOptions): Promise<GetPassUrlOutput> {
    return this.run('get_pass_url', input, options);
  }

  /**
   * Get the status of a pass. Returns the status of a pass: valid, invalid, redeemed, unpaid, locked or
   * incomplete. (get_pass_status, scope passes:read)
   */
  getPassStatus(input: GetPassStatusInput, options?: CallOptions): Promise<GetPassStatusOutput> {
    return this.run('get_pass_status', input, options);
  }

  /**
   * Get the price of a pass. Returns the price set on a pass, or null. (get_pass_price, scope passes:read)
   */
  getPassPrice(input: GetPassPriceInput, options?: CallOptions): Promise<GetPassPriceOutput> {
    return this.run('get_pass_price', input, options);
  }

  /**
   * Change the values of a pass. Changes placeholder values of a pass (the others keep theirs). The pass is
   * re-rendered and every device that installed it is told to update. Returns all the values after the
   * change. (update_pass, scope passes:write)
   */
  updatePass(input: UpdatePassInput, options?: CallOptions): Promise<UpdatePassOutput> {
    return this.run('update_pass', input, options);
  }

  /**
   * Set the status of a pass. Sets the status (valid, invalid, redeemed, unpaid, locked, incomplete). As in
   * PassSlot this changes only the status: the pass on the phone is not updated. To make a pass unusable on
   * the phone, use revoke_pass. (set_pass_status, scope passes:write)
   */
  setPassStatus(input: SetPassStatusInput, options?: CallOptions): Promise<SetPassStatusOutput> {
    return this.run('set_pass_status', input, options);
  }

  /**
   * Set the price of a pass. Sets a price on a pass; as in PassSlot the pass status becomes unpaid.
   * (set_pass_price, scope passes:write)
   */
  setPassPrice(input: SetPassPriceInput, options?: CallOptions): Promise<SetPassPriceOutput> {
    return this.run('set_pass_price', input, options);
  }

  /**
   * Remove the price of a pass. Removes the price of a pass; an unpaid pass becomes valid again.
   * (delete_pass_price, scope passes:write)
   */
  deletePassPrice(input: DeletePassPriceInput, options?: CallOptions): Promise<DeletePassPriceOutput> {
    return this.run('delete_pass_price', input, options);
  }

  /**
   * Revoke a pass. Makes a pass unusable: status invalid and the pass is voided on every phone that installed
   * it (a push is sent). Give a reason for the record. The pass stays listed; use delete_pass to remove it.
   * (revoke_pass, scope passes:write)
   */
  revokePass(input: RevokePassInput, options?: CallOptions): Promise<RevokePassOutput> {
    return this.run('revoke_pass', input, options);
  }

  /**
   * Send a message to the lock screen of a pass holder. Makes the pass speak on the lock screen of every
   * phone holding it, one of three ways (give exactly one): `message` shows the text now (it goes into the
   * pass’s notification field, a back field whose changeMessage is %@, added if the template has none, and a
   * push is sent); `near` {latitude, longitude, radiusMeters?, text} makes Wallet surface the pass with the
   * text when the phone comes within radiusMeters of the place (the pass’s own locations and maxDistance;
   * Wallet also caps the distance by the pass style, about 100 m for most); `at` (an ISO date) with `text`
   * makes Wallet surface it around that time (relevantDates), with the text in its notification field. The
   * pass is pushed so phones pick the change up. Example: {"passTypeIdentifier": "pass.com.example",
   * "serialNumber": "…", "near": {"latitude": 48.8584, "longitude": 2.2945, "radiusMeters": 100, "text":
   * "Your table is ready"}}. (send_pass_notification, scope passes:write)
   */
  sendPassNotification(input: SendPassNotificationInput, options?: CallOptions): Promise<SendPassNotificationOutput> {
    return this.run('send_pass_notification', input, options);
  }

  /**
   * Re-render a pass and push it to phones. Re-renders a pass from its template and values and tells every
   * phone that holds it to fetch it, even when nothing changed (PassSlot push). Use after changing template
   * images or when a phone shows an old version. (sync_pass_state, scope passes:write)
   */
  syncPassState(input: SyncPassStateInput, options?: CallOptions): Promise<SyncPassStateOutput> {
    return this.run('sync_pass_state', input, options);
  }

  /**
   * Delete a pass. Deletes a pass: it disappears from the API and phones that installed it receive it voided,
   * so it stops working. This cannot be undone. (delete_pass, scope passes:write)
   */
  deletePass(input: DeletePassInput, options?: CallOptions): Promise<DeletePassOutput> {
    return this.run('delete_pass', input, options);
  }

  /**
   * Email a pass. Emails the pass to an address (default: the holder's email), with the .pkpass attached and
   * its link. Sending is queued and retried until the mail server accepts it; a delivery.sent event follows.
   * (email_pass, scope passes:write)
   */
  emailPass(input: EmailPassInput, options?: CallOptions): Promise<EmailPassOutput> {
    return this.run('email_pass', input, options);
  }

  /**
   * Text a pass by SMS. Texts the pass link to a phone number (E.164, default: the holder's phone) through
   * the account's Twilio integration. `message` may use the pass's ${placeholders} and ${passUrl} (the link
   * is added when it has none); the default is "Your <template> pass: <link>". Sending is queued and retried;
   * delivery.sent, delivery.delivered and delivery.failed events follow. (sms_pass, scope passes:write)
   */
  smsPass(input: SmsPassInput, options?: CallOptions): Promise<SmsPassOutput> {
    return this.run('sms_pass', input, options);
  }

  /**
   * Send a pass to its holder by email or SMS. Sends a pass to a person by the channel given: email (with the
   * .pkpass attached and its link) or sms (the link, through Twilio). `to` is an email address or an E.164
   * phone number; without it the holder's email or phone is used. Use it when a customer asks for their pass
   * again. (send_pass, scope passes:write)
   */
  sendPass(input: SendPassInput, options?: CallOptions): Promise<SendPassOutput> {
    return this.run('send_pass', input, options);
  }

  /**
   * List pass templates. Lists the pass templates of the account with their placeholders. Call it first to
   * find the templateId and the values create_pass needs. (list_pass_templates, scope templates:read)
   */
  listPassTemplates(input: ListPassTemplatesInput = {}, options?: CallOptions): Promise<ListPassTemplatesOutput> {
    return this.run('list_pass_templates', input, options);
  }

  /**
   * Get a pass template. Returns one template: its pass.json body (description), pass type and placeholders.
   * (get_template, scope templates:read)
   */
  getTemplate(input: GetTemplateInput, options?: CallOptions): Promise<GetTemplateOutput> {
    return this.run('get_template', input, options);
  }

  /**
   * Create a pass template. Creates a template: a name, one of your pass types, and a pass.json body
   * (description) with ${placeholders} in any string. The body is checked against Apple rules where it has no
   * placeholders. (create_template, scope templates:write)
   */
  createTemplate(input: CreateTemplateInput, options?: CallOptions): Promise<CreateTemplateOutput> {
    return this.run('create_template', input, options);
  }

  /**
   * Preview a template. Renders a template body (saved or not) with sample values as the pass.json a phone
   * would get, and checks it against Apple's rules: each problem with its field, severity and message (those
   * where the body holds a placeholder wait for issue time), and with templateId the template's images.
   * Changes nothing; the designer calls it as you type. Example: {"passType": "pass.com.example.member",
   * "description": {...}, "values": {"name": "Ada"}}. (preview_template, scope templates:read)
   */
  previewTemplate(input: PreviewTemplateInput, options?: CallOptions): Promise<PreviewTemplateOutput> {
    return this.run('preview_template', input, options);
  }

  /**
   * Download a sample pass of a template. Builds a signed .pkpass of the template's current version with
   * sample values (`values`, else "sample" for each placeholder), serial number sample-<id>, to try on a
   * phone. Nothing is issued or stored; Wallet cannot register it for updates. (get_template_sample, scope
   * templates:read)
   */
  getTemplateSample(input: GetTemplateSampleInput, options?: CallOptions): Promise<GetTemplateSampleOutput> {
    return this.run('get_template_sample', input, options);
  }

  /**
   * Change a pass template. Changes the name, pass.json body or pass type of a template. Every pass of the
   * template is re-rendered and pushed to the phones that hold it, in the background: the answer names that
   * job (get_job follows it; over MCP with a progress token the call reports its progress and returns once it
   * is done). (update_template, scope templates:write)
   */
  updateTemplate(input: UpdateTemplateInput, options?: CallOptions): Promise<UpdateTemplateOutput> {
    return this.run('update_template', input, options);
  }

  /**
   * Delete a pass template. Deletes a template that has no passes left (delete or keep its passes first).
   * (delete_template, scope templates:write)
   */
  deleteTemplate(input: DeleteTemplateInput, options?: CallOptions): Promise<DeleteTemplateOutput> {
    return this.run('delete_template', input, options);
  }

  /**
   * Get the link of a template. Returns the distribution link of a template, where people can get a pass of
   * it. (get_template_url, scope templates:read)
   */
  getTemplateUrl(input: GetTemplateUrlInput, options?: CallOptions): Promise<GetTemplateUrlOutput> {
    return this.run('get_template_url', input, options);
  }

  /**
   * Get the restrictions of a template. Returns the distribution restrictions of a template (quantity,
   * redemption, password, end date, sharing). (get_template_restrictions, scope templates:read)
   */
  getTemplateRestrictions(input: GetTemplateRestrictionsInput, options?: CallOptions): Promise<GetTemplateRestrictionsOutput> {
    return this.run('get_template_restrictions', input, options);
  }

  /**
   * Set the restrictions of a template. Replaces the restrictions of a template. Leave a restriction out (or
   * null) to disable it. quantityRestriction caps the passes issued; dateRestriction ends issuing at that
   * time; passwordProtection makes the template’s form ask for that password; redemptionRestriction is how
   * many times each pass may be redeemed (redeem_pass); sharingRestriction makes Wallet hide the share button
   * of its passes (sharingProhibited); signedBarcodes gives each pass a signed barcode that scanners verify
   * before any lookup (either re-renders and pushes the passes). (set_template_restrictions, scope
   * templates:write)
   */
  setTemplateRestrictions(input: SetTemplateRestrictionsInput, options?: CallOptions): Promise<SetTemplateRestrictionsOutput> {
    return this.run('set_template_restrictions', input, options);
  }

  /**
   * A template's funnel. How the passes of a template fare from issue to use: issued (passes created), opened
   * (their page visited), downloaded (the .pkpass fetched), installed (added to Wallet on a device), removed
   * (taken out of Wallet) and redeemed (status set to redeemed); each counts distinct passes in the window,
   * and the series gives the same per day or month. Example: {"id": 3, "interval": "day"}.
   * (get_template_stats, scope templates:read)
   */
  getTemplateStats(input: GetTemplateStatsInput, options?: CallOptions): Promise<GetTemplateStatsOutput> {
    return this.run('get_template_stats', input, options);
  }

  /**
   * The account's funnel. How all the account's passes fare from issue to use: issued (passes created),
   * opened (their page visited), downloaded (the .pkpass fetched), installed (added to Wallet on a device),
   * removed (taken out of Wallet) and redeemed (status set to redeemed); each counts distinct passes in the
   * window, and the series gives the same per day or month. (get_account_stats, scope passes:read)
   */
  getAccountStats(input: GetAccountStatsInput = {}, options?: CallOptions): Promise<GetAccountStatsOutput> {
    return this.run('get_account_stats', input, options);
  }

  /**
   * Get a template's form. How the template's public form (its link) asks for values: the settings as stored
   * and the fields it shows. (get_template_form, scope templates:read)
   */
  getTemplateForm(input: GetTemplateFormInput, options?: CallOptions): Promise<GetTemplateFormOutput> {
    return this.run('get_template_form', input, options);
  }

  /**
   * Set a template's form. Declares how the template's public form asks for values: per placeholder a label,
   * an input type (text, email, tel, date, number, select with options), required or not, or hidden with a
   * default; whether to ask the holder’s email, email them the pass, and allow one pass per email. Example:
   * {"id": 3, "fields": {"tier": {"type": "select", "options": ["Silver", "Gold"]}}, "emailPass": true}.
   * (set_template_form, scope templates:write)
   */
  setTemplateForm(input: SetTemplateFormInput, options?: CallOptions): Promise<SetTemplateFormOutput> {
    return this.run('set_template_form', input, options);
  }

  /**
   * Get a template's messages. What passes of the template say when they are sent by email or SMS: the
   * template’s own messages, and the defaults used where it has none. (get_template_messages, scope
   * templates:read)
   */
  getTemplateMessages(input: GetTemplateMessagesInput, options?: CallOptions): Promise<GetTemplateMessagesOutput> {
    return this.run('get_template_messages', input, options);
  }

  /**
   * Set a template's messages. Sets what passes of the template say when sent: email subject, text and HTML,
   * and the SMS text, each with ${placeholders} of the template, ${templateName}, ${passUrl}, ${googleUrl}
   * (the Google Wallet link; empty without Google Wallet) and, in HTML, ${qrCode}. Leave one out for its
   * default. Example: {"id": 3, "email": {"subject": "Welcome, ${firstName}"}, "sms": "Hi ${firstName}, your
   * card: ${passUrl}"}. (set_template_messages, scope templates:write)
   */
  setTemplateMessages(input: SetTemplateMessagesInput, options?: CallOptions): Promise<SetTemplateMessagesOutput> {
    return this.run('set_template_messages', input, options);
  }

  /**
   * Get a template's languages. The translations of a template’s texts, by language: what Wallet shows on a
   * phone set to that language, and what the pass page shows to a browser asking for it.
   * (get_template_localizations, scope templates:read)
   */
  getTemplateLocalizations(input: GetTemplateLocalizationsInput, options?: CallOptions): Promise<GetTemplateLocalizationsOutput> {
    return this.run('get_template_localizations', input, options);
  }

  /**
   * Set a template's languages. Replaces the translations of a template’s texts: for each language (fr, de,
   * pt-BR, zh-Hans) a table from a text of the template’s pass.json (a label, a value, the description) to
   * its translation, which may use the template’s ${placeholders}. Every pass of the template gets them
   * (<lang>.lproj/pass.strings) and is pushed, in the background (the answer names the job); pass pages
   * follow the browser’s language among them. An empty object removes them all. Example: {"id": 3,
   * "localizations": {"fr": {"Membership card": "Carte de membre", "Points": "Points"}}}.
   * (set_template_localizations, scope templates:write)
   */
  setTemplateLocalizations(input: SetTemplateLocalizationsInput, options?: CallOptions): Promise<SetTemplateLocalizationsOutput> {
    return this.run('set_template_localizations', input, options);
  }

  /**
   * Import passes from a CSV. Issues (or updates) one pass per row of a CSV in the background and answers the
   * job (get_job reports progress and the rows that failed, with their row numbers and reasons). The header
   * names the template’s placeholders and optionally email, phone, userId, externalId and serialNumber; a row
   * whose serialNumber or externalId names an existing pass of the template updates it, so a re-run of the
   * same file is safe. dryRun checks every row and changes nothing; deliver sends each new pass by email or
   * sms. Example: {"templateId": 3, "csv": "firstName,email\nAda,ada@example.com\n", "dryRun": true}.
   * (import_passes, scope passes:write)
   */
  importPasses(input: ImportPassesInput, options?: CallOptions): Promise<ImportPassesOutput> {
    return this.run('import_passes', input, options);
  }

  /**
   * List the images of a pass. Lists the images of a pass (type, resolution, size), optionally of one type
   * and resolution. (list_pass_images, scope passes:read)
   */
  listPassImages(input: ListPassImagesInput, options?: CallOptions): Promise<ListPassImagesOutput> {
    return this.run('list_pass_images', input, options);
  }

  /**
   * Get one image of a pass. Returns the PNG bytes of one image (type and resolution) of a pass.
   * (get_pass_image, scope passes:read)
   */
  getPassImage(input: GetPassImageInput, options?: CallOptions): Promise<GetPassImageOutput> {
    return this.run('get_pass_image', input, options);
  }

  /**
   * Set an image of a pass. Sets one image (type and resolution) of a pass from PNG, JPEG or GIF bytes
   * (base64); it is stored as PNG. The pass is updated on the phones. (set_pass_image, scope passes:write)
   */
  setPassImage(input: SetPassImageInput, options?: CallOptions): Promise<SetPassImageOutput> {
    return this.run('set_pass_image', input, options);
  }

  /**
   * Delete images of a pass. Deletes the images of a pass: all of them, those of one type, or one type at one
   * resolution. The pass is updated on the phones. (delete_pass_images, scope passes:write)
   */
  deletePassImages(input: DeletePassImagesInput, options?: CallOptions): Promise<DeletePassImagesOutput> {
    return this.run('delete_pass_images', input, options);
  }

  /**
   * List the images of a template. Lists the images of a template (type, resolution, size), optionally of one
   * type and resolution. (list_template_images, scope templates:read)
   */
  listTemplateImages(input: ListTemplateImagesInput, options?: CallOptions): Promise<ListTemplateImagesOutput> {
    return this.run('list_template_images', input, options);
  }

  /**
   * Get one image of a template. Returns the PNG bytes of one image (type and resolution) of a template.
   * (get_template_image, scope templates:read)
   */
  getTemplateImage(input: GetTemplateImageInput, options?: CallOptions): Promise<GetTemplateImageOutput> {
    return this.run('get_template_image', input, options);
  }

  /**
   * Set an image of a template. Sets one image (type and resolution) of a template from PNG, JPEG or GIF
   * bytes (base64); it is stored as PNG. Every pass of the template is updated on the phones.
   * (set_template_image, scope templates:write)
   */
  setTemplateImage(input: SetTemplateImageInput, options?: CallOptions): Promise<SetTemplateImageOutput> {
    return this.run('set_template_image', input, options);
  }

  /**
   * Delete images of a template. Deletes the images of a template: all of them, those of one type, or one
   * type at one resolution. Every pass of the template is updated on the phones. (delete_template_images,
   * scope templates:write)
   */
  deleteTemplateImages(input: DeleteTemplateImagesInput, options?: CallOptions): Promise<DeleteTemplateImagesOutput> {
    return this.run('delete_template_images', input, options);
  }

  /**
   * Change the values of many passes. Changes placeholder values of every pass of a template that matches a
   * filter (e.g. every ticket of one event gets a new venue), in the background; each changed pass is pushed
   * to its phones. Returns a job id; get_job shows progress and, at the end, each pass that failed and why.
   * (update_passes_of_template, scope passes:write)
   */
  updatePassesOfTemplate(input: UpdatePassesOfTemplateInput, options?: CallOptions): Promise<UpdatePassesOfTemplateOutput> {
    return this.run('update_passes_of_template', input, options);
  }

  /**
   * Get a background job. Returns a background job (bulk update, template refresh, email, push): its status,
   * progress and report. (get_job, scope passes:read)
   */
  getJob(input: GetJobInput, options?: CallOptions): Promise<GetJobOutput> {
    return this.run('get_job', input, options);
  }

  /**
   * List pass types. Lists the pass types (Apple pass type certificates) of the account with their team,
   * organization and certificate expiry. (get_pass_types, scope passtypes:read)
   */
  getPassTypes(input: GetPassTypesInput = {}, options?: CallOptions): Promise<GetPassTypesOutput> {
    return this.run('get_pass_types', input, options);
  }

  /**
   * Get a pass type. Returns one pass type: team, organization, certificate expiry and whether pushes work
   * (healthy). (get_pass_type, scope passtypes:read)
   */
  getPassType(input: GetPassTypeInput, options?: CallOptions): Promise<GetPassTypeOutput> {
    return this.run('get_pass_type', input, options);
  }

  /**
   * Add a pass type certificate. Adds an Apple pass type certificate: a .p12 (base64) with its password, or a
   * PEM certificate and private key. The private key is encrypted at rest and never returned. The pass type
   * id is read from the certificate. (create_pass_type, scope passtypes:write)
   */
  createPassType(input: CreatePassTypeInput = {}, options?: CallOptions): Promise<CreatePassTypeOutput> {
    return this.run('create_pass_type', input, options);
  }

  /**
   * Replace the certificate of a pass type. Replaces the certificate of a pass type (a renewed .p12, or PEM
   * certificate and key) for the same pass type id. New passes and pushes use it at once; pushes held back by
   * a certificate error resume. (update_pass_type, scope passtypes:write)
   */
  updatePassType(input: UpdatePassTypeInput, options?: CallOptions): Promise<UpdatePassTypeOutput> {
    return this.run('update_pass_type', input, options);
  }

  /**
   * Remove a pass type. Removes a pass type and its certificate. Refused while templates use it.
   * (delete_pass_type, scope passtypes:write)
   */
  deletePassType(input: DeletePassTypeInput, options?: CallOptions): Promise<DeletePassTypeOutput> {
    return this.run('delete_pass_type', input, options);
  }

  /**
   * Use an APNs token key for pushes. Makes the account's pushes authenticate with an APNs auth key (.p8)
   * instead of each pass type certificate: its key id, your team id and the key (PEM). The key is encrypted
   * at rest and never returned. (set_apns_key, scope passtypes:write)
   */
  setApnsKey(input: SetApnsKeyInput, options?: CallOptions): Promise<SetApnsKeyOutput> {
    return this.run('set_apns_key', input, options);
  }

  /**
   * Stop using an APNs token key. Removes the account's APNs auth key: pushes authenticate with each pass
   * type certificate again. (delete_apns_key, scope passtypes:write)
   */
  deleteApnsKey(input: DeleteApnsKeyInput = {}, options?: CallOptions): Promise<DeleteApnsKeyOutput> {
    return this.run('delete_apns_key', input, options);
  }

  /**
   * List scanners. Lists the scanners (devices or browsers allowed to redeem passes) of the account.
   * (list_scanners, scope scanners:read)
   */
  listScanners(input: ListScannersInput = {}, options?: CallOptions): Promise<ListScannersOutput> {
    return this.run('list_scanners', input, options);
  }

  /** Get a scanner. Returns one scanner. (get_scanner, scope scanners:read) */
  getScanner(input: GetScannerInput, options?: CallOptions): Promise<GetScannerOutput> {
    return this.run('get_scanner', input, options);
  }

  /**
   * Create a scanner. Creates a scanner of type PassVerifier or Browser, with access to all templates
   * (fullAccess) or the allowedTemplates. (create_scanner, scope scanners:write)
   */
  createScanner(input: CreateScannerInput, options?: CallOptions): Promise<CreateScannerOutput> {
    return this.run('create_scanner', input, options);
  }

  /**
   * Change a scanner. Replaces the name, type and template access of a scanner. (update_scanner, scope
   * scanners:write)
   */
  updateScanner(input: UpdateScannerInput, options?: CallOptions): Promise<UpdateScannerOutput> {
    return this.run('update_scanner', input, options);
  }

  /** Delete a scanner. Deletes a scanner. (delete_scanner, scope scanners:write) */
  deleteScanner(input: DeleteScannerInput, options?: CallOptions): Promise<DeleteScannerOutput> {
    return this.run('delete_scanner', input, options);
  }

  /**
   * Give a scanner a sign-in key. Makes a key for a scanner to sign in with (scope scans:write only): the
   * phone or verifier opens signInUrl (the /scan page; the key travels in the fragment, never sent to a
   * server log) or is given the key. Its scans are the scanner's and reach only the templates the scanner may
   * redeem. Revoke it like any app key; deleting the scanner revokes its keys. The key is shown this once.
   * (create_scanner_key, scope scanners:write)
   */
  createScannerKey(input: CreateScannerKeyInput, options?: CallOptions): Promise<CreateScannerKeyOutput> {
    return this.run('create_scanner_key', input, options);
  }

  /**
   * Redeem a pass. Uses one redemption of a pass (a ticket at the door, a coupon at the till) and answers
   * whether it was accepted. The template’s redemptionRestriction is how many times a pass may be redeemed:
   * the redemption that reaches it sets the status to redeemed, and later ones answer already_redeemed;
   * without it a pass may be redeemed any number of times. A revoked pass, or one whose status is not valid,
   * answers not_valid. Atomic: two scanners redeeming the last use at once get one redeemed and one
   * already_redeemed. Each call is a scan.performed event. Example: {"passTypeIdentifier":
   * "pass.com.example.tickets", "serialNumber": "A-1"}. (redeem_pass, scope passes:write)
   */
  redeemPass(input: RedeemPassInput, options?: CallOptions): Promise<RedeemPassOutput> {
    return this.run('redeem_pass', input, options);
  }

  /**
   * Scan a barcode at the door. Takes what a scanner read from a pass's barcode and answers what the door
   * person needs: result (valid, redeemed, already_redeemed, revoked, expired, not_yet_valid, unknown), a
   * message to show, the pass (its name and key fields) and, when already redeemed, when and by which
   * scanner. Redeems the pass (one of the uses its template's redemptionRestriction allows) unless redeem is
   * false; atomic, so two scanners scanning the same pass at once get one redeemed and one already_redeemed.
   * Each scan is a scan.performed event. Example: {"barcode": "member-M-0001", "scanner": 2}. (scan_barcode,
   * scope scans:write)
   */
  scanBarcode(input: ScanBarcodeInput, options?: CallOptions): Promise<ScanBarcodeOutput> {
    return this.run('scan_barcode', input, options);
  }

  /** List app keys. Lists the app keys of the account (never their secrets). (list_app_keys, scope *) */
  listAppKeys(input: ListAppKeysInput = {}, options?: CallOptions): Promise<ListAppKeysOutput> {
    return this.run('list_app_keys', input, options);
  }

  /**
   * Create an app key. Creates an app key with scopes and optional restrictions to templates and pass types.
   * The key is shown once. (create_app_key, scope *)
   */
  createAppKey(input: CreateAppKeyInput, options?: CallOptions): Promise<CreateAppKeyOutput> {
    return this.run('create_app_key', input, options);
  }

  /**
   * Rotate an app key. Gives an app key a new secret (shown once); the old secret stops working at once.
   * (rotate_app_key, scope *)
   */
  rotateAppKey(input: RotateAppKeyInput, options?: CallOptions): Promise<RotateAppKeyOutput> {
    return this.run('rotate_app_key', input, options);
  }

  /**
   * Revoke an app key. Revokes an app key; requests made with it are refused from now on. (revoke_app_key,
   * scope *)
   */
  revokeAppKey(input: RevokeAppKeyInput, options?: CallOptions): Promise<RevokeAppKeyOutput> {
    return this.run('revoke_app_key', input, options);
  }

  /**
   * Connect Google Wallet. Connects the account to Google Wallet: the issuer id from Google's Pay & Wallet
   * console and the service account's JSON key file (as an object). The private key is encrypted at rest and
   * never returned. Example: {"issuerId": "3388000000012345678", "serviceAccountKey": {"type":
   * "service_account", "client_email": "…", "private_key": "-----BEGIN PRIVATE KEY-----…"}}.
   * (set_google_wallet, scope passtypes:write)
   */
  setGoogleWallet(input: SetGoogleWalletInput, options?: CallOptions): Promise<SetGoogleWalletOutput> {
    return this.run('set_google_wallet', input, options);
  }

  /**
   * Show the Google Wallet connection. Returns the account's Google Wallet issuer id and service account
   * email (never the key). (get_google_wallet, scope passtypes:read)
   */
  getGoogleWallet(input: GetGoogleWalletInput = {}, options?: CallOptions): Promise<GetGoogleWalletOutput> {
    return this.run('get_google_wallet', input, options);
  }

  /**
   * Disconnect Google Wallet. Removes the account's Google Wallet issuer and service account key.
   * (delete_google_wallet, scope passtypes:write)
   */
  deleteGoogleWallet(input: DeleteGoogleWalletInput = {}, options?: CallOptions): Promise<DeleteGoogleWalletOutput> {
    return this.run('delete_google_wallet', input, options);
  }

  /**
   * Show a template's Google Wallet class. Returns the Google Wallet class a template maps to (the JSON sent
   * to Google) and warnings for what cannot map (a field with no place, a barcode format Google lacks, a
   * non-https PUBLIC_URL that Google will refuse). (get_template_google, scope templates:read)
   */
  getTemplateGoogle(input: GetTemplateGoogleInput, options?: CallOptions): Promise<GetTemplateGoogleOutput> {
    return this.run('get_template_google', input, options);
  }

  /**
   * Get a pass's Save to Google Wallet link. Returns the "Save to Google Wallet" link of a pass (a JWT signed
   * with the account's service account, carrying the pass's object, or only its id once Google has it), the
   * object as it is now, warnings for what cannot map, and what Google has (inserted, the version synced,
   * saved to a wallet, its last refusal). Needs Google Wallet connected (set_google_wallet).
   * (get_pass_google, scope passes:read)
   */
  getPassGoogle(input: GetPassGoogleInput, options?: CallOptions): Promise<GetPassGoogleOutput> {
    return this.run('get_pass_google', input, options);
  }

  /**
   * Read the execution log. Lists what was done on the account, newest first: every run of an action that
   * changes something, from every edge (REST, MCP, CLI, background jobs, Wallet, pass pages), and every MCP
   * tool call. Each record names the action, the credential and on whose behalf it ran, the input (secrets
   * redacted), the outcome and error, the duration, and the passes and templates it touched. Use it to answer
   * "who changed this pass?" or "what did the agent do?". Filters: action, edge, user (an email or key name),
   * outcome (ok or error), since. (list_executions, scope audit:read)
   */
  listExecutions(input: ListExecutionsInput = {}, options?: CallOptions): Promise<ListExecutionsOutput> {
    return this.run('list_executions', input, options);
  }

  /**
   * Read the audit log. The execution log under its first name (list_executions has more filters): the runs
   * of actions that change something, and every MCP tool call, newest first. (list_audit_log, scope
   * audit:read)
   */
  listAuditLog(input: ListAuditLogInput = {}, options?: CallOptions): Promise<ListAuditLogOutput> {
    return this.run('list_audit_log', input, options);
  }

  /**
   * Export the audit trail. The account’s audit trail as JSON Lines, oldest first, each record with its
   * position in the hash chain, the hash of the record before it and its own: for review and sign-off, and to
   * check the chain outside Passslot. (export_audit_log, scope audit:read)
   */
  exportAuditLog(input: ExportAuditLogInput = {}, options?: CallOptions): Promise<ExportAuditLogOutput> {
    return this.run('export_audit_log', input, options);
  }

  /**
   * Verify the audit trail. Checks the account’s hash chain from its first record: every record’s hash
   * matches its content and links to the one before, and none is missing at the end. Answers how many records
   * hold, and the first broken one. (verify_audit_log, scope audit:read)
   */
  verifyAuditLog(input: VerifyAuditLogInput = {}, options?: CallOptions): Promise<VerifyAuditLogOutput> {
    return this.run('verify_audit_log', input, options);
  }

  /**
   * How actions fare. Each action run on the account over the last 24 hours (from every edge, reads
   * included): calls, errors, error rate, and the median and 95th percentile duration in milliseconds
   * (estimated from duration buckets), with the calls per edge. Use it to spot an integration that fails or
   * slows down. (list_action_stats, scope audit:read)
   */
  listActionStats(input: ListActionStatsInput = {}, options?: CallOptions): Promise<ListActionStatsOutput> {
    return this.run('list_action_stats', input, options);
  }

  /**
   * List events. Lists the events of the account oldest first (pass created, downloaded, added to or removed
   * from Wallet, updated, redeemed, ...), filtered by type and pass; the next page is in the Link header
   * (rel="next") and in nextCursor. (list_events, scope events:read)
   */
  listEvents(input: ListEventsInput = {}, options?: CallOptions): Promise<ListEventsOutput> {
    return this.run('list_events', input, options);
  }

  /** Get an event. Returns one event by its id. (get_event, scope events:read) */
  getEvent(input: GetEventInput, options?: CallOptions): Promise<GetEventOutput> {
    return this.run('get_event', input, options);
  }

  /**
   * Create a webhook. Registers an endpoint for the account's events. Passslot first POSTs
   * {"type":"webhook.verify","data":{"token"}} and the endpoint must answer with the token as its body
   * (PassSlot's handshake); then events are POSTed signed per Standard Webhooks. The signing secret is in the
   * answer, once. With "enabled": false no handshake is made until the webhook is enabled. (create_webhook,
   * scope webhooks:write)
   */
  createWebhook(input: CreateWebhookInput, options?: CallOptions): Promise<CreateWebhookOutput> {
    return this.run('create_webhook', input, options);
  }

  /**
   * List webhooks. Lists the webhooks of the account (never their secrets). (list_webhooks, scope
   * webhooks:read)
   */
  listWebhooks(input: ListWebhooksInput = {}, options?: CallOptions): Promise<ListWebhooksOutput> {
    return this.run('list_webhooks', input, options);
  }

  /**
   * Get a webhook. Returns one webhook: its URL, events, and whether it is enabled and answering.
   * (get_webhook, scope webhooks:read)
   */
  getWebhook(input: GetWebhookInput, options?: CallOptions): Promise<GetWebhookOutput> {
    return this.run('get_webhook', input, options);
  }

  /**
   * Update a webhook. Changes the URL, events, description, or enables or disables a webhook. A new URL, or
   * enabling, runs the verification handshake first; if it fails nothing changes. (update_webhook, scope
   * webhooks:write)
   */
  updateWebhook(input: UpdateWebhookInput, options?: CallOptions): Promise<UpdateWebhookOutput> {
    return this.run('update_webhook', input, options);
  }

  /**
   * Delete a webhook. Removes a webhook and its delivery log; nothing more is sent to it. (delete_webhook,
   * scope webhooks:write)
   */
  deleteWebhook(input: DeleteWebhookInput, options?: CallOptions): Promise<DeleteWebhookOutput> {
    return this.run('delete_webhook', input, options);
  }

  /**
   * Rotate the secret of a webhook. Gives a webhook a new signing secret (shown once). For 24 hours the old
   * secret keeps signing too: each delivery carries both signatures, so the receiver can switch without
   * losing a message. (rotate_webhook_secret, scope webhooks:write)
   */
  rotateWebhookSecret(input: RotateWebhookSecretInput, options?: CallOptions): Promise<RotateWebhookSecretOutput> {
    return this.run('rotate_webhook_secret', input, options);
  }

  /**
   * List the deliveries of a webhook. Lists what was sent to a webhook, newest first: each event, its status
   * (pending, delivered, failed, skipped) and every attempt with the HTTP status, latency and the start of
   * the answer. (list_webhook_deliveries, scope webhooks:read)
   */
  listWebhookDeliveries(input: ListWebhookDeliveriesInput, options?: CallOptions): Promise<ListWebhookDeliveriesOutput> {
    return this.run('list_webhook_deliveries', input, options);
  }

  /**
   * Retry a webhook delivery. Sends one delivery again now (a failed one, say), with a fresh retry schedule.
   * (retry_webhook_delivery, scope webhooks:write)
   */
  retryWebhookDelivery(input: RetryWebhookDeliveryInput, options?: CallOptions): Promise<RetryWebhookDeliveryOutput> {
    return this.run('retry_webhook_delivery', input, options);
  }

  /**
   * Replay events to a webhook. Sends every event the webhook subscribes to since a time again, under the
   * same event ids (receivers that deduplicate on webhook-id ignore what they already have). (replay_webhook,
   * scope webhooks:write)
   */
  replayWebhook(input: ReplayWebhookInput, options?: CallOptions): Promise<ReplayWebhookOutput> {
    return this.run('replay_webhook', input, options);
  }

  /**
   * Connect a CRM, Twilio or Stripe. Connects HubSpot or Salesforce: on the events picked, the pass owner's
   * contact (HubSpot, found by email) or record (Salesforce, upserted by an external id field) gets the
   * mapped fields, such as wallet pass status, installed, URL and last update. Connects Twilio to send passes
   * by SMS (sms_pass, send_pass), or Stripe to issue a pass for each paid checkout (the answer gives the
   * endpoint to register in Stripe). Credentials are stored encrypted and never shown again.
   * (create_integration, scope integrations:write)
   */
  createIntegration(input: CreateIntegrationInput, options?: CallOptions): Promise<CreateIntegrationOutput> {
    return this.run('create_integration', input, options);
  }

  /**
   * List CRM integrations. Lists the CRM integrations of the account (never their credentials).
   * (list_integrations, scope integrations:read)
   */
  listIntegrations(input: ListIntegrationsInput = {}, options?: CallOptions): Promise<ListIntegrationsOutput> {
    return this.run('list_integrations', input, options);
  }

  /**
   * Get a CRM integration. Returns one CRM integration: its events, mapping, settings and whether it is
   * answering. (get_integration, scope integrations:read)
   */
  getIntegration(input: GetIntegrationInput, options?: CallOptions): Promise<GetIntegrationOutput> {
    return this.run('get_integration', input, options);
  }

  /**
   * Update a CRM integration. Changes the credentials (replaced whole), mapping, events, settings or
   * description, or enables or disables it. (update_integration, scope integrations:write)
   */
  updateIntegration(input: UpdateIntegrationInput, options?: CallOptions): Promise<UpdateIntegrationOutput> {
    return this.run('update_integration', input, options);
  }

  /**
   * Delete a CRM integration. Disconnects a CRM and forgets its credentials and delivery log.
   * (delete_integration, scope integrations:write)
   */
  deleteIntegration(input: DeleteIntegrationInput, options?: CallOptions): Promise<DeleteIntegrationOutput> {
    return this.run('delete_integration', input, options);
  }

  /**
   * List the deliveries of a CRM integration. Lists what was sent to the CRM, newest first, each with its
   * status and attempts (HTTP status, latency, answer). (list_integration_deliveries, scope
   * integrations:read)
   */
  listIntegrationDeliveries(input: ListIntegrationDeliveriesInput, options?: CallOptions): Promise<ListIntegrationDeliveriesOutput> {
    return this.run('list_integration_deliveries', input, options);
  }

  /**
   * Retry a CRM delivery. Sends one delivery to the CRM again now, with a fresh retry schedule.
   * (retry_integration_delivery, scope integrations:write)
   */
  retryIntegrationDelivery(input: RetryIntegrationDeliveryInput, options?: CallOptions): Promise<RetryIntegrationDeliveryOutput> {
    return this.run('retry_integration_delivery', input, options);
  }

  /**
   * Replay events to a CRM. Sends every event the integration subscribes to since a time again (say after
   * fixing a mapping). (replay_integration, scope integrations:write)
   */
  replayIntegration(input: ReplayIntegrationInput, options?: CallOptions): Promise<ReplayIntegrationOutput> {
    return this.run('replay_integration', input, options);
  }

  /**
   * List OAuth grants. Lists the access people gave to agents and apps over OAuth on this account: client,
   * person, scopes, audience, last use and revocation. An admin credential sees every grant of the account, a
   * person their own. (list_oauth_grants, scope self)
   */
  listOauthGrants(input: ListOauthGrantsInput = {}, options?: CallOptions): Promise<ListOauthGrantsOutput> {
    return this.run('list_oauth_grants', input, options);
  }

  /**
   * Revoke an OAuth grant. Revokes a grant: its access and refresh tokens stop working on their next request.
   * An admin credential may revoke any grant of the account, a person their own. (revoke_oauth_grant, scope
   * self)
   */
  revokeOauthGrant(input: RevokeOauthGrantInput, options?: CallOptions): Promise<RevokeOauthGrantOutput> {
    return this.run('revoke_oauth_grant', input, options);
  }
}
