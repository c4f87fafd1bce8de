import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWardError } from '../../platform/errors.ts';
import {
  asciiDigits,
  canonicalText,
  changedSince,
  currentNormalization,
  nameDobValue,
  normalizeForIndex,
  sameIndexedValue,
  searchVersions,
  tryNormalize,
} from './normalize.ts';
import type { BlindIndexKind } from './registry.ts';

const pick = (xs: readonly string[]): string => xs[Math.floor(Math.random() * xs.length)] ?? '';

const refused = (kind: BlindIndexKind, v: string, version = currentNormalization) =>
  assert.throws(
    () => normalizeForIndex(kind, v, version),
    (e: unknown) => isWardError(e, 'invalid_phi_value') && (v === '' || !e.message.includes(v)),
    `${kind} v${version} accepted ${JSON.stringify(v)}`,
  );

// Every look-alike the rules fold, one by one: a character left out of a list would leave the
// "O’Brien" miss in place for whoever types it.
const apostrophes = [
  '\u2019', // ’ right single quotation mark (word processors, phone keyboards)
  '\u2018', // ‘ left single quotation mark
  '\u201B', // ‛ single high-reversed-9
  '\u02BC', // ʼ modifier letter apostrophe
  '\u02B9', // ʹ modifier letter prime
  '\u02BB', // ʻ modifier letter turned comma (ʻokina)
  '\u02BD', // ʽ modifier letter reversed comma
  '\u02C8', // ˈ modifier letter vertical line
  '\u02CA', // ˊ modifier letter acute
  '\u02CB', // ˋ modifier letter grave
  '\u0060', // ` grave accent
  '\u00B4', // ´ acute accent (NFKC would make it a space and a combining accent)
  '\u2032', // ′ prime
  '\u2035', // ‵ reversed prime
  '\u0374', // ʹ Greek numeral sign
  '\u1FBD', // ᾽ Greek koronis
  '\u1FBF', // ᾿ Greek psili
  '\u1FEF', // ` Greek varia
  '\u1FFD', // ´ Greek oxia
  '\u055A', // ՚ Armenian apostrophe
  '\u05F3', // ׳ Hebrew geresh
  '\uA78B', // Ꞌ Latin capital saltillo
  '\uA78C', // ꞌ Latin small saltillo
  '\uFF07', // ＇ full-width apostrophe
  '\uFF40', // ｀ full-width grave accent
];
const dashes = [
  '\u2010', // ‐ hyphen
  '\u2011', // ‑ non-breaking hyphen
  '\u2012', // ‒ figure dash
  '\u2013', // – en dash
  '\u2014', // — em dash
  '\u2015', // ― horizontal bar
  '\u2212', // − minus sign
  '\u02D7', // ˗ modifier letter minus
  '\u2043', // ⁃ hyphen bullet
  '\uFE58', // ﹘ small em dash
  '\uFE63', // ﹣ small hyphen-minus
  '\uFF0D', // － full-width hyphen-minus
  '\uFE31', // ︱ vertical em dash
  '\uFE32', // ︲ vertical en dash
  '\u2E3A', // ⸺ two-em dash
  '\u2E3B', // ⸻ three-em dash
  '\u2E17', // ⸗ double oblique hyphen
  '\u2E1A', // ⸚ hyphen with diaeresis
  '\u2E40', // ⹀ double hyphen
  '\u058A', // ֊ Armenian hyphen
  '\u05BE', // ־ Hebrew maqaf
  '\u1400', // ᐀ Canadian syllabics hyphen
  '\u1806', // ᠆ Mongolian todo soft hyphen
];
const invisibles = [
  '\u200B', // zero-width space
  '\u200C', // zero-width non-joiner
  '\u200D', // zero-width joiner
  '\u2060', // word joiner
  '\u00AD', // soft hyphen
  '\uFEFF', // BOM / zero-width no-break space
  '\u200E', // left-to-right mark
  '\u200F', // right-to-left mark
  '\u061C', // Arabic letter mark
  '\u202A', // left-to-right embedding
  '\u202B', // right-to-left embedding
  '\u202C', // pop directional formatting
  '\u202D', // left-to-right override
  '\u202E', // right-to-left override
  '\u2066', // left-to-right isolate
  '\u2067', // right-to-left isolate
  '\u2068', // first strong isolate
  '\u2069', // pop directional isolate
  '\u180E', // Mongolian vowel separator
  '\uFE0F', // variation selector-16
  '\u034F', // combining grapheme joiner
  '\u3164', // Hangul filler
  '\u{E0041}', // tag latin capital A
];

describe('blind-index normalization, version 2', () => {
  test('apostrophe look-alikes are the ASCII apostrophe, in names and emails', () => {
    const name = normalizeForIndex('name_dob', nameDobValue("O'Brien", '1980-02-03'));
    assert.equal(name, "o'brien\u001f1980-02-03");
    for (const a of apostrophes) {
      const code = `U+${a.codePointAt(0)!.toString(16).toUpperCase()}`;
      assert.equal(
        normalizeForIndex('name_dob', nameDobValue(`O${a}Brien`, '1980-02-03')),
        name,
        code,
      );
      assert.equal(normalizeForIndex('name', `d${a}Angelo`), "d'angelo", code);
      assert.equal(normalizeForIndex('email', `o${a}brien@example.org`), "o'brien@example.org");
    }
  });

  test('hyphen, dash and minus look-alikes are the ASCII hyphen-minus', () => {
    for (const d of dashes) {
      const code = `U+${d.codePointAt(0)!.toString(16).toUpperCase()}`;
      assert.equal(normalizeForIndex('name', `Quill${d}Synthetic`), 'quill-synthetic', code);
      assert.equal(normalizeForIndex('email', `jean${d}luc@example.org`), 'jean-luc@example.org');
      assert.equal(normalizeForIndex('ssn', `900${d}12${d}3456`), '900123456', code);
      assert.equal(normalizeForIndex('phone', `555${d}010${d}0123`), '+15550100123', code);
    }
  });

  test('invisible characters are removed anywhere', () => {
    for (const z of invisibles) {
      const code = `U+${z.codePointAt(0)!.toString(16).toUpperCase()}`;
      assert.equal(
        normalizeForIndex('email', `${z}ali${z}ce@exa${z}mple.org${z}`),
        'alice@example.org',
        code,
      );
      assert.equal(normalizeForIndex('name', `${z}O${z}'Brien${z}`), "o'brien", code);
      assert.equal(normalizeForIndex('ssn', `${z}900-12${z}-3456${z}`), '900123456', code);
      assert.equal(normalizeForIndex('phone', `${z}+44 20${z} 7946 0958`), '+442079460958', code);
    }
    // An invisible character cannot keep a letter from composing with its accent.
    assert.equal(normalizeForIndex('email', 'jose\u200B\u0301@example.org'), 'josé@example.org');
  });

  test('full-width and other compatibility forms are their plain characters (NFKC)', () => {
    assert.equal(
      normalizeForIndex('email', 'ＡＶＥＲＹ．ＱＵＩＬＬ＠ＥＸＡＭＰＬＥ．ＴＥＳＴ'),
      'avery.quill@example.test',
    );
    assert.equal(normalizeForIndex('email', 'ａｖｅｒｙ@example.test'), 'avery@example.test');
    assert.equal(normalizeForIndex('email', 'avery﹫example.test'), 'avery@example.test');
    assert.equal(normalizeForIndex('email', 'ﬁona@example.test'), 'fiona@example.test');
    assert.equal(normalizeForIndex('name', 'ＭＵＬＬＥＲ'), 'muller');
    assert.equal(normalizeForIndex('phone', '＋４４　２０　７９４６　０９５８'), '+442079460958');
    assert.equal(normalizeForIndex('phone', '（５５５）０１０－０１２３'), '+15550100123');
    assert.equal(normalizeForIndex('ssn', '９００－１２－３４５６'), '900123456');
  });

  test('decision: decimal digits of every script are accepted as their ASCII digits', () => {
    // A digit is a digit whichever keyboard typed it; Unicode gives each script's digits as one
    // run from 0 to 9, so the value is exact, not a look-alike guess.
    assert.equal(asciiDigits('٠١٢٣٤٥٦٧٨٩'), '0123456789'); // Arabic-Indic
    assert.equal(asciiDigits('۰۱۲۳۴۵۶۷۸۹'), '0123456789'); // Extended Arabic-Indic (Persian)
    assert.equal(asciiDigits('०१२३४५६७८९'), '0123456789'); // Devanagari
    assert.equal(asciiDigits('০১২৩৪৫৬৭৮৯'), '0123456789'); // Bengali
    assert.equal(asciiDigits('๐๑๒๓๔๕๖๗๘๙'), '0123456789'); // Thai
    assert.equal(asciiDigits('０１２３４５６７８９'), '0123456789'); // full-width
    assert.equal(asciiDigits('𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗𝟘𝟙𝟚𝟛𝟜𝟝𝟞𝟟𝟠𝟡'), '01234567890123456789'); // mathematical runs
    assert.equal(normalizeForIndex('ssn', '٩٠٠-١٢-٣٤٥٦'), '900123456');
    assert.equal(normalizeForIndex('ssn', '९००-१२-३४५६'), '900123456');
    assert.equal(normalizeForIndex('phone', '+٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨'), '+442079460958');
    assert.equal(normalizeForIndex('phone', '555-010-٠١٢٣'), '+15550100123');
  });

  test('decision: numerals that are not decimal digits are refused in SSNs and phones', () => {
    // Version 1 skipped them in phone numbers ("555-010-0123²" was 555-010-0123); NFKC would
    // read ² as 2 and ½ as "1⁄2". Neither is how anyone writes an identifier, and guessing could
    // make two different numbers one: refused, so the caller re-types it.
    for (const v of ['900-12-345⁶', '①②③-45-6789', '900-12-345½', 'Ⅸ00-12-3456']) refused('ssn', v);
    for (const v of ['555-010-0123²', '(555) ①⓪-0123', '+44 20 7946 095⑧', '555-010-012Ⅲ'])
      refused('phone', v);
    assert.equal(tryNormalize('phone', '555-010-0123²', 1), '+15550100123', 'what version 1 did');
  });

  test('a digit in another script is no longer dropped from a phone number', () => {
    // Version 1 kept only ASCII digits, so a full-width digit vanished and two numbers merged.
    assert.equal(normalizeForIndex('phone', '+1 555 010 0123 ８', 1), '+15550100123');
    assert.equal(normalizeForIndex('phone', '+1 555 010 0123 ８'), '+155501001238');
    refused('phone', '555 010 0123 ８');
  });

  test('values version 2 still refuses are refused without echoing them', () => {
    for (const [kind, v] of [
      ['ssn', '12345'],
      ['ssn', '900.12.3456'],
      ['email', 'not-an-email'],
      ['email', 'two@at@signs'],
      ['email', '\u200B@\u200B'],
      ['phone', '12345'],
      ['name', ' \u200B\u00AD '],
      ['mrn', ''],
      ['name_dob', nameDobValue('Smith', '03/02/1980')],
      ['name_dob', nameDobValue('Smith\u001f1980-02-03', '1999-01-01')],
    ] as [BlindIndexKind, string][])
      refused(kind, v);
  });

  test('MRNs are kept exactly as issued (the schema allows ASCII only)', () => {
    assert.equal(normalizeForIndex('mrn', 'MRN-0042'), 'MRN-0042');
    assert.notEqual(normalizeForIndex('mrn', 'mrn-0042'), normalizeForIndex('mrn', 'MRN-0042'));
  });

  test('canonical text is idempotent', () => {
    const samples = [
      'O’Brien-Smith',
      'ＡＢＣ＠ｄｅｆ',
      'a\u200Bb\u00ADc',
      '´´``',
      '\u1FFD\u1FBD',
      'e\u0301',
    ];
    for (const s of samples) assert.equal(canonicalText(canonicalText(s)), canonicalText(s), s);
  });
});

describe('blind-index normalization, version 1 (frozen)', () => {
  // The rules every index written before migration 0023 was computed with. Search recomputes
  // them to find rows not yet reindexed, so they must never change.
  test('version 1 vectors', () => {
    const v1 = (kind: BlindIndexKind, v: string) => normalizeForIndex(kind, v, 1);
    assert.equal(v1('ssn', '123-45-6789'), '123456789');
    assert.equal(v1('ssn', '123 45 6789'), '123456789');
    assert.equal(v1('email', ' Bob@Example.org'), 'bob@example.org');
    assert.equal(v1('email', 'ａｖｅｒｙ@example.test'), 'ａｖｅｒｙ@example.test');
    assert.equal(v1('email', 'ali\u200Bce@example.org'), 'ali\u200Bce@example.org');
    assert.equal(v1('phone', '(555) 123-4567'), '+15551234567');
    assert.equal(v1('phone', '+44 20 7946 0958'), '+442079460958');
    assert.equal(v1('name', '  José   ÁLVAREZ '), 'jose alvarez');
    assert.equal(v1('name', 'O’Brien'), 'obrien');
    assert.equal(v1('name', 'Oʼbrien'), 'oʼbrien');
    assert.equal(v1('name', 'O´Brien'), 'o brien');
    assert.equal(v1('name', 'Quill‐Synthetic'), 'quillsynthetic');
    assert.equal(v1('mrn', 'MRN-0042'), 'MRN-0042');
    assert.equal(v1('name_dob', nameDobValue('Müller', '1980-02-03')), 'muller\u001f1980-02-03');
    refused('ssn', '１２３-45-6789', 1);
    refused('ssn', '123‐45‐6789', 1);
    refused('email', 'ａｖｅｒｙ＠example.test', 1);
  });
});

describe('normalization versions', () => {
  test('search tries the current form, then each older set of rules still stored', () => {
    assert.deepEqual(searchVersions('email', 1), [2, 1]);
    assert.deepEqual(searchVersions('name_dob', 1), [2, 1]);
    assert.deepEqual(searchVersions('phone', 1), [2, 1]);
    assert.deepEqual(searchVersions('email', 2), [2]);
    assert.deepEqual(searchVersions('ssn', 1), [2], 'SSN rules did not change');
    assert.deepEqual(searchVersions('mrn', 1), [2]);
  });

  test('only the kinds whose rules changed need a reindex', () => {
    assert.ok(changedSince('email', 1));
    assert.ok(changedSince('phone', 1));
    assert.ok(changedSince('name_dob', 1));
    assert.ok(!changedSince('ssn', 1));
    assert.ok(!changedSince('mrn', 1));
    assert.ok(!changedSince('email', currentNormalization));
  });

  // What lets SSN and MRN indexes skip the reindex: on every value version 1 accepted,
  // version 2 gives the same normalized value. Random strings over the characters that matter.
  test('SSN and MRN: version 2 equals version 1 wherever version 1 accepts', () => {
    const alphabet = [
      '-',
      ' ',
      '\t',
      '\u00A0',
      '\u2003',
      '\u3000',
      '\uFEFF',
      '\u2028',
      '\u1680',
      '\u2010',
      '٣',
      '１',
      'a',
    ];
    let seen = 0;
    for (let i = 0; i < 20_000; i++) {
      const len = 9 + Math.floor(Math.random() * 5);
      let v = '';
      for (let j = 0; j < len; j++) {
        v += Math.random() < 0.75 ? String(Math.floor(Math.random() * 10)) : pick(alphabet);
      }
      const old = tryNormalize('ssn', v, 1);
      if (old === undefined) continue;
      seen++;
      assert.equal(normalizeForIndex('ssn', v), old, JSON.stringify(v));
    }
    assert.ok(seen > 1000, `only ${seen} accepted samples`);
    for (const mrn of ['A', 'MRN-0042', 'x.y_z-9', 'S1234abcd-0000001'])
      assert.equal(normalizeForIndex('mrn', mrn), normalizeForIndex('mrn', mrn, 1));
  });

  // The known-answer vectors stay valid: plain ASCII without a backtick normalizes the same
  // under both versions for every kind, so such rows keep their stored indexes.
  test('printable ASCII without a backtick normalizes the same in both versions', () => {
    const ascii = [...Array(95).keys()]
      .map((i) => String.fromCharCode(32 + i))
      .filter((c) => c !== '`');
    const kinds: BlindIndexKind[] = ['ssn', 'email', 'phone', 'name', 'mrn'];
    for (let i = 0; i < 20_000; i++) {
      let v = '';
      const len = 1 + Math.floor(Math.random() * 16);
      for (let j = 0; j < len; j++) {
        v += Math.random() < 0.5 ? String(Math.floor(Math.random() * 10)) : pick(ascii);
      }
      for (const kind of kinds)
        assert.equal(
          tryNormalize(kind, v, 2),
          tryNormalize(kind, v, 1),
          `${kind} ${JSON.stringify(v)}`,
        );
      const nameDob = nameDobValue(v, '1980-02-03');
      assert.equal(tryNormalize('name_dob', nameDob, 2), tryNormalize('name_dob', nameDob, 1));
    }
  });

  test('a stored value is compared in the newest form that accepts it', () => {
    assert.ok(
      sameIndexedValue(
        'name_dob',
        nameDobValue('O’Brien', '1980-02-03'),
        nameDobValue("O'Brien", '1980-02-03'),
      ),
    );
    assert.ok(
      !sameIndexedValue(
        'name_dob',
        nameDobValue('OBrien', '1980-02-03'),
        nameDobValue('O’Brien', '1980-02-03'),
      ),
      'equal only under version 1',
    );
    assert.ok(sameIndexedValue('email', 'ＡＶＥＲＹ@example.test', 'avery@EXAMPLE.test'));
    // Refused by version 2, accepted by version 1: compared as version 1 compared it.
    assert.ok(sameIndexedValue('phone', '555-010-0123²', '(555) 010-0123'));
    assert.ok(!sameIndexedValue('phone', '555-010-0123²', '(555) 010-0124'));
    assert.ok(!sameIndexedValue('ssn', '12345', '12345'), 'refused by every version');
  });
});
