// The pass engine: template + values + identity → signed .pkpass, and the doctor. Pure: no file, network or database
// access; callers pass bytes in and get bytes out.
export { APPLE_ROOT_CA_PEM, APPLE_WWDR_G4_PEM } from './apple-certs.js';
export {
  type Certificate,
  certificatePassTypeId,
  parseCertificate,
  pemBlocks,
  toPem,
} from './certificate.js';
export {
  createDevPki,
  createTlsCertificate,
  DEV_CA_NAME,
  type DevPki,
  type DevPkiOptions,
  type TlsCertificate,
  type TlsCertificateOptions,
} from './devpki.js';
export { type DoctorOptions, type DoctorReport, diagnosePass } from './doctor.js';
export {
  IdentityError,
  type IdentityOptions,
  identityWarnings,
  loadIdentityFromP12,
  loadIdentityFromPem,
  type PassIdentity,
} from './identity.js';
export {
  checkImage,
  checkImageSet,
  IMAGE_KINDS,
  type ImageFormat,
  type ImageKind,
  imageFileName,
  parseImageName,
  readImageHeader,
  type Scale,
} from './images.js';
export {
  type BuildInput,
  type BuiltPass,
  buildPass,
  bundlePasses,
  createPassFactory,
  type FactoryOptions,
  type Localization,
  MAX_BUNDLE_PASSES,
  type PassAssets,
  type PassFactory,
  PKPASS_MIME,
  PKPASSES_MIME,
} from './pkpass.js';
export { hasErrors, PassProblemsError, type Problem, type Severity } from './problems.js';
export {
  isIsoDateWithZone,
  PASS_STYLES,
  type PassStyle,
  type RuleOptions,
  validatePassJson,
} from './rules.js';
export { decodeStringsText, encodeStrings, LPROJ_DIR, parseStrings, StringsSyntaxError } from './strings.js';
export {
  compileTemplate,
  type JsonObject,
  type JsonValue,
  MissingValuesError,
  type PlaceholderValue,
  placeholdersOf,
  type Template,
  type Values,
  ValueTypeError,
} from './template.js';
export { readZip, ZipError } from './zip.js';
