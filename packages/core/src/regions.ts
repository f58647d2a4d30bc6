/**
 * Regions and the ISO 3166-1 alpha-2 country -> region mapping.
 *
 * Seven regions, in a fixed order. Every one of the 249 officially assigned
 * ISO 3166-1 alpha-2 codes maps to exactly one region. Lookups are
 * case-insensitive; unknown codes fall back to `europe` (callers that accept
 * user input must validate with `isCountryCode` first, so an unknown code never
 * reaches the database through the API).
 */

export type RegionId = 'europe' | 'na' | 'latam' | 'apac' | 'mena' | 'ssa' | 'cis';

export const REGIONS = [
  { id: 'europe', name: 'Europe' },
  { id: 'na', name: 'North America' },
  { id: 'latam', name: 'Latin America' },
  { id: 'apac', name: 'Asia Pacific' },
  { id: 'mena', name: 'Middle East & North Africa' },
  { id: 'ssa', name: 'Sub-Saharan Africa' },
  { id: 'cis', name: 'CIS (Russia & neighbors)' },
] as const satisfies readonly { readonly id: RegionId; readonly name: string }[];

export const REGION_IDS: readonly RegionId[] = Object.freeze(REGIONS.map((r) => r.id));

const REGION_ID_SET: ReadonlySet<string> = new Set<string>(REGION_IDS);

export function isRegionId(x: unknown): x is RegionId {
  return typeof x === 'string' && REGION_ID_SET.has(x);
}

/** Fallback region for unknown codes (per the spec). */
const FALLBACK_REGION: RegionId = 'europe';

/**
 * Country codes grouped by region. Each list is whitespace-separated upper-case
 * alpha-2 codes. Non-obvious choices are commented inline.
 */
const REGION_COUNTRIES: Readonly<Record<RegionId, string>> = {
  // Europe (geographic). Includes the Baltics (EE LV LT), Cyprus (CY),
  // the Balkans, microstates, Crown Dependencies (GG JE IM), Gibraltar (GI),
  // Åland (AX), Faroe Islands (FO) and Svalbard & Jan Mayen (SJ).
  europe: `
    AD AL AT AX BA BE BG CH CY CZ DE DK EE ES FI FO FR GB GG GI
    GR HR HU IE IM IS IT JE LI LT LU LV MC ME MK MT NL NO PL PT
    RO RS SE SI SJ SK SM VA
  `,

  // North America incl. Central America and the Caribbean. Greenland (GL) is
  // geographically North America; Saint Pierre & Miquelon (PM) lies off
  // Newfoundland; Bermuda (BM) is grouped with the Caribbean territories.
  na: `
    US CA MX
    GL PM
    BZ CR GT HN NI PA SV
    AG AI AW BB BL BM BQ BS CU CW DM DO GD GP HT JM KN KY LC MF
    MQ MS PR SX TC TT VC VG VI
  `,

  // Latin America = South America. GF (French Guiana), FK (Falklands) and GS
  // (South Georgia & South Sandwich Is.) are South American geographically.
  // AQ (Antarctica): the Antarctic Peninsula is its closest point to any
  // continent and most access runs via Ushuaia / Punta Arenas, so it goes here.
  latam: `
    AR BO BR CL CO EC GY PE PY SR UY VE
    GF FK GS
    AQ
  `,

  // Asia Pacific: East, South-East and South Asia, and Oceania.
  // AF and PK count as South Asia. IO (British Indian Ocean Territory) lies in
  // the central Indian Ocean south of India/Maldives. HM (Heard & McDonald Is.)
  // is Australian. UM (US Minor Outlying Islands) is almost entirely Pacific
  // (Wake, Midway, Johnston, Palmyra, ...).
  apac: `
    CN HK MO TW JP KR KP MN
    BN KH ID LA MM MY PH SG TH TL VN
    AF BD BT IN LK MV NP PK
    IO
    AU NZ FJ PG SB VU NC PF WF WS TO TV KI NR FM MH PW GU MP AS
    CK NU TK PN NF CX CC HM UM
  `,

  // Middle East & North Africa: North Africa (incl. Sudan, Western Sahara),
  // Turkey, the Gulf, the Levant, Iran, Iraq.
  mena: `
    EG LY TN DZ MA SD EH
    TR
    SA AE QA KW BH OM YE
    IL PS JO LB SY
    IR IQ
  `,

  // Sub-Saharan Africa: the rest of Africa, incl. its Atlantic and Indian Ocean
  // islands. MR (Mauritania) is Sahelian and grouped with West Africa. SH
  // (Saint Helena, Ascension & Tristan da Cunha), CV and ST are Atlantic
  // islands off Africa. BV (Bouvet Island, South Atlantic) is nearest to
  // southern Africa. TF (French Southern Territories: Kerguelen, Crozet,
  // Scattered Islands) is administered from Réunion, so it follows RE.
  ssa: `
    AO BF BI BJ BW CD CF CG CI CM DJ ER ET GA GH GM GN GQ GW KE
    LR LS ML MR MW MZ NA NE NG RW SL SN SO SS SZ TD TG TZ UG ZA
    ZM ZW
    CV ST SH
    KM MG MU RE SC YT
    BV TF
  `,

  // CIS: Russia and neighbours, incl. the Caucasus (AM AZ GE) and Central Asia.
  // The Baltics are Europe.
  cis: `
    RU BY UA MD
    AM AZ GE
    KZ KG TJ TM UZ
  `,
};

function buildCountryRegions(): Readonly<Record<string, RegionId>> {
  // Null prototype so that e.g. COUNTRY_REGIONS['constructor'] is undefined.
  const map: Record<string, RegionId> = Object.create(null) as Record<string, RegionId>;
  for (const region of REGION_IDS) {
    for (const code of REGION_COUNTRIES[region].split(/\s+/)) {
      if (code === '') continue;
      if (!/^[A-Z]{2}$/.test(code)) {
        throw new Error(`regions: malformed country code ${JSON.stringify(code)}`);
      }
      const existing = map[code];
      if (existing !== undefined) {
        throw new Error(`regions: country ${code} assigned to both ${existing} and ${region}`);
      }
      map[code] = region;
    }
  }
  return Object.freeze(map);
}

/** All 249 assigned ISO 3166-1 alpha-2 codes (upper case) -> region. Frozen. */
export const COUNTRY_REGIONS: Readonly<Record<string, RegionId>> = buildCountryRegions();

const TWO_LETTERS = /^[A-Za-z]{2}$/;

/**
 * Upper-case form of `code` if it is exactly two ASCII letters, else null.
 * (The ASCII check comes first so that e.g. 'ß'.toUpperCase() === 'SS' cannot
 * sneak through.)
 */
function upperTwoLetters(code: string): string | null {
  return typeof code === 'string' && TWO_LETTERS.test(code) ? code.toUpperCase() : null;
}

/** True iff `code` is exactly two letters forming an assigned alpha-2 code (case-insensitive; no trimming). */
export function isCountryCode(code: string): boolean {
  const upper = upperTwoLetters(code);
  return upper !== null && Object.hasOwn(COUNTRY_REGIONS, upper);
}

/** Upper-case code if valid (see `isCountryCode`), else null. */
export function normalizeCountry(code: string): string | null {
  const upper = upperTwoLetters(code);
  return upper !== null && Object.hasOwn(COUNTRY_REGIONS, upper) ? upper : null;
}

/** Region for a country code (case-insensitive). Unknown codes fall back to `europe`. */
export function countryToRegion(code: string): RegionId {
  const upper = normalizeCountry(code);
  return upper === null ? FALLBACK_REGION : (COUNTRY_REGIONS[upper] ?? FALLBACK_REGION);
}
