import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  COUNTRY_REGIONS,
  REGIONS,
  REGION_IDS,
  countryToRegion,
  isCountryCode,
  isRegionId,
  normalizeCountry,
  type RegionId,
} from '../src/regions.js';

// Independent list of all 249 officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166_1_ALPHA2 = `
  AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
  BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
  CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
  DE DJ DK DM DO DZ
  EC EE EG EH ER ES ET
  FI FJ FK FM FO FR
  GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
  HK HM HN HR HT HU
  ID IE IL IM IN IO IQ IR IS IT
  JE JM JO JP
  KE KG KH KI KM KN KP KR KW KY KZ
  LA LB LC LI LK LR LS LT LU LV LY
  MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
  NA NC NE NF NG NI NL NO NP NR NU NZ
  OM
  PA PE PF PG PH PK PL PM PN PR PS PT PW PY
  QA
  RE RO RS RU RW
  SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
  TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
  UA UG UM US UY UZ
  VA VC VE VG VI VN VU
  WF WS
  YE YT
  ZA ZM ZW
`
  .trim()
  .split(/\s+/);

const EXPECTED_IDS: readonly RegionId[] = ['europe', 'na', 'latam', 'apac', 'mena', 'ssa', 'cis'];

const SPOT_CHECKS: Record<RegionId, string> = {
  europe: 'DE FR GB PL EE LV LT CY IS NO CH',
  cis: 'RU BY UA KZ AM AZ GE KG MD TJ TM UZ',
  na: 'US CA MX CR PA CU JM PR HT DO GT',
  latam: 'BR AR CL CO PE VE UY PY BO EC GY SR GF',
  apac: 'CN JP SG AU IN NZ KR ID PK BD AF',
  mena: 'AE SA IL TR EG LY TN DZ MA SD EH IR IQ JO LB SY PS QA KW BH OM YE',
  ssa: 'ZA NG KE ET GH SS SO DJ ER MR ML NE TD SN CD AO TZ UG RW MG MU',
};

test('independent ISO list: 249 unique, well-formed codes', () => {
  assert.equal(ISO_3166_1_ALPHA2.length, 249);
  assert.equal(new Set(ISO_3166_1_ALPHA2).size, 249);
  for (const c of ISO_3166_1_ALPHA2) assert.match(c, /^[A-Z]{2}$/);
});

test('REGIONS / REGION_IDS order and names', () => {
  assert.deepEqual(
    REGIONS.map((r) => r.id),
    EXPECTED_IDS,
  );
  assert.deepEqual([...REGION_IDS], EXPECTED_IDS);
  assert.deepEqual(
    REGIONS.map((r) => r.name),
    [
      'Europe',
      'North America',
      'Latin America',
      'Asia Pacific',
      'Middle East & North Africa',
      'Sub-Saharan Africa',
      'CIS (Russia & neighbors)',
    ],
  );
});

test('isRegionId', () => {
  for (const id of EXPECTED_IDS) assert.equal(isRegionId(id), true);
  for (const x of ['EUROPE', 'Europe', '', 'eu', 'africa', 1, null, undefined, {}, ['na']]) {
    assert.equal(isRegionId(x), false, String(x));
  }
});

test('COUNTRY_REGIONS has exactly the 249 assigned codes', () => {
  const keys = Object.keys(COUNTRY_REGIONS);
  const expected = new Set(ISO_3166_1_ALPHA2);
  const actual = new Set(keys);
  const missing = ISO_3166_1_ALPHA2.filter((c) => !actual.has(c));
  const extra = keys.filter((k) => !expected.has(k));
  assert.deepEqual(missing, []);
  assert.deepEqual(extra, []);
  assert.equal(keys.length, 249);
  assert.deepEqual([...keys].sort(), [...ISO_3166_1_ALPHA2].sort());
});

test('COUNTRY_REGIONS is frozen and every value is a region id', () => {
  assert.equal(Object.isFrozen(COUNTRY_REGIONS), true);
  for (const [code, region] of Object.entries(COUNTRY_REGIONS)) {
    assert.ok(EXPECTED_IDS.includes(region), `${code} -> ${region}`);
    assert.equal(countryToRegion(code), region);
  }
});

test('region counts sum to 249 and every region is non-empty', () => {
  const counts = new Map<RegionId, number>(EXPECTED_IDS.map((id) => [id, 0]));
  for (const region of Object.values(COUNTRY_REGIONS)) {
    counts.set(region, (counts.get(region) ?? 0) + 1);
  }
  let sum = 0;
  for (const id of EXPECTED_IDS) {
    const n = counts.get(id) ?? 0;
    assert.ok(n >= 1, `region ${id} has no countries`);
    sum += n;
  }
  assert.equal(sum, 249);
  assert.equal(counts.size, EXPECTED_IDS.length);
});

test('spot checks per region', () => {
  for (const [region, codes] of Object.entries(SPOT_CHECKS)) {
    for (const code of codes.split(' ')) {
      assert.equal(COUNTRY_REGIONS[code], region, `COUNTRY_REGIONS[${code}]`);
      assert.equal(countryToRegion(code), region, `countryToRegion(${code})`);
    }
  }
});

test('case-insensitivity', () => {
  assert.equal(countryToRegion('de'), 'europe');
  assert.equal(countryToRegion('Ru'), 'cis');
  assert.equal(countryToRegion('uS'), 'na');
  assert.equal(countryToRegion('br'), 'latam');
  assert.equal(countryToRegion('jp'), 'apac');
  assert.equal(countryToRegion('ae'), 'mena');
  assert.equal(countryToRegion('za'), 'ssa');
  for (const code of ISO_3166_1_ALPHA2) {
    const lower = code.toLowerCase();
    assert.equal(countryToRegion(lower), countryToRegion(code));
    assert.equal(isCountryCode(lower), true);
    assert.equal(normalizeCountry(lower), code);
  }
});

test('unknown codes fall back to europe', () => {
  for (const x of ['XX', 'xx', '', 'X', 'USA', ' US', 'US ', 'UK', 'EU', 'XK', '12', '__proto__', 'constructor']) {
    assert.equal(countryToRegion(x), 'europe', JSON.stringify(x));
  }
});

test('isCountryCode / normalizeCountry', () => {
  assert.equal(isCountryCode('DE'), true);
  assert.equal(isCountryCode('de'), true);
  assert.equal(normalizeCountry('gb'), 'GB');
  assert.equal(normalizeCountry('Ss'), 'SS');
  // Not assigned / malformed / untrimmed input.
  for (const x of ['XX', 'UK', 'EU', 'XK', '', 'D', 'DEU', ' DE', 'DE ', 'D1', '12', 'ß', 'ǆ', 'toString', '__proto__']) {
    assert.equal(isCountryCode(x), false, JSON.stringify(x));
    assert.equal(normalizeCountry(x), null, JSON.stringify(x));
  }
  // Prototype members are not countries.
  assert.equal(COUNTRY_REGIONS['constructor'], undefined);
  assert.equal(COUNTRY_REGIONS['toString'], undefined);
});
