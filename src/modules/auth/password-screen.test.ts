import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isWardError } from '../../platform/errors.ts';
import { screenPassword } from './password-screen.ts';

const rejected = (p: string, ctx = {}) =>
  assert.throws(
    () => screenPassword(p, ctx),
    (e: unknown) => isWardError(e, 'validation_failed'),
    p,
  );

test('common, repeated and contextual passwords are rejected', () => {
  rejected('1qaz2wsx3edc4rfv');
  rejected('123456789987654321');
  rejected('passwordpassword');
  rejected('qwertyqwertyqwerty!');
  rejected('aaaaaaaaaaaaaaaaa');
  rejected('abcabcabcabcabcabc');
  rejected('drsmith.drsmith2024', { email: 'drsmith@clinic.test' });
  rejected('Acme Clinic 2024!!', { organizationName: 'Acme Clinic' });
});

test('long, unremarkable passphrases pass', () => {
  for (const p of [
    'correct horse battery staple',
    'violet-kettle-harbor-97',
    'Nine lives of a quiet harbor cat',
  ]) {
    assert.doesNotThrow(() =>
      screenPassword(p, { email: 'drsmith@clinic.test', organizationName: 'Acme Clinic' }),
    );
  }
});
