import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BovedaError } from '../../src/core/errors.js';
import type { ErrorCode } from '../../src/core/error-codes.js';
import { mapFsError, type StoreOperation } from '../../src/storage/local/map-fs-error.js';

function errno(code: string, message = `${code}: fake failure`): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code, errno: -1, syscall: 'open' });
}

const cases: Array<[errno: string, op: StoreOperation, expected: ErrorCode]> = [
  ['ENOSPC', 'put', 'STORAGE_NO_SPACE'],
  ['EDQUOT', 'put', 'STORAGE_NO_SPACE'],
  ['ENOSPC', 'delete', 'STORAGE_NO_SPACE'],
  ['EROFS', 'put', 'STORAGE_READ_ONLY'],
  ['EROFS', 'delete', 'STORAGE_READ_ONLY'],
  ['EROFS', 'sweepPartials', 'STORAGE_READ_ONLY'],
  ['EACCES', 'put', 'STORAGE_READ_ONLY'],
  ['EPERM', 'put', 'STORAGE_READ_ONLY'],
  ['EACCES', 'delete', 'STORAGE_READ_ONLY'],
  ['EACCES', 'get', 'STORAGE_IO'],
  ['EPERM', 'list', 'STORAGE_IO'],
  ['EEXIST', 'put', 'STORAGE_EXISTS'],
  ['ENOENT', 'get', 'STORAGE_NOT_FOUND'],
  ['ENOENT', 'getRange', 'STORAGE_NOT_FOUND'],
  ['ENOENT', 'stat', 'STORAGE_NOT_FOUND'],
  ['ENOTDIR', 'get', 'STORAGE_NOT_FOUND'],
  ['EISDIR', 'get', 'STORAGE_NOT_FOUND'],
  ['ENOENT', 'put', 'STORAGE_IO'],
  ['EIO', 'get', 'STORAGE_IO'],
  ['EIO', 'put', 'STORAGE_IO'],
  ['EMFILE', 'list', 'STORAGE_IO'],
];

describe('mapFsError', () => {
  for (const [code, op, expected] of cases) {
    it(`maps ${code} during ${op} to ${expected}`, () => {
      const cause = errno(code);
      const mapped = mapFsError(cause, op, '/srv/vault', 'packs/aa/1');
      assert.ok(mapped instanceof BovedaError);
      assert.equal(mapped.code, expected);
      assert.equal(mapped.cause, cause, 'wraps the Node error as cause');
      assert.ok(mapped.message.includes('/srv/vault'), `names the location: ${mapped.message}`);
      assert.ok(mapped.message.includes('packs/aa/1'), `names the key: ${mapped.message}`);
      assert.equal(mapped.details['errno'], code);
    });
  }

  it('maps an AbortError to ABORTED', () => {
    const abort = Object.assign(new Error('The operation was aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
    assert.equal(mapFsError(abort, 'get', '/srv/vault', 'config').code, 'ABORTED');
  });

  it('passes BovedaErrors through unchanged', () => {
    const original = new BovedaError('STORAGE_EXISTS', 'object "config" already exists in /srv/vault');
    assert.equal(mapFsError(original, 'put', '/srv/vault', 'config'), original);
  });

  it('maps non-errno failures to STORAGE_IO with their message', () => {
    const mapped = mapFsError('something odd', 'get', '/srv/vault', 'config');
    assert.equal(mapped.code, 'STORAGE_IO');
    assert.ok(mapped.message.includes('something odd'));
  });
});
