import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERRORS, httpError, invalidField, type ErrorCode } from '../collector/errors';

test('every declared error has an E_ code, an HTTP error status and a message', () => {
  for (const [code, def] of Object.entries(ERRORS)) {
    assert.match(code, /^E_[A-Z_]+$/);
    assert.ok(def.status >= 400 && def.status < 600, code);
    const err = httpError(code as ErrorCode, 'a', 'b');
    assert.equal(err.code, code);
    assert.equal(err.statusCode, def.status);
    assert.doesNotMatch(err.message, /%s/, code);
  }
});

test('an invalid field error carries the dotted path and the message index', () => {
  assert.deepEqual(invalidField(['messages', 3, 'runId'], 'Invalid UUID').body(), {
    error: { code: 'E_INVALID', message: 'messages.3.runId: Invalid UUID', path: 'messages.3.runId', index: 3 },
  });
  assert.deepEqual(invalidField(['name'], 'bad').body(), { error: { code: 'E_INVALID', message: 'name: bad', path: 'name' } });
});
