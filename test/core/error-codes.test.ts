import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BovedaError, errorCodes } from '../../src/core/index.js';

const docs = readFileSync('docs/errors.md', 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('error codes', () => {
  it('documents every registered code with its exit status in docs/errors.md', () => {
    for (const [code, { exit }] of Object.entries(errorCodes)) {
      const row = docs.split('\n').find((line) => line.startsWith(`| \`${code}\` |`));
      assert.ok(row, `docs/errors.md has no row for ${code}`);
      assert.match(row, new RegExp(`^\\| \`${code}\` \\| ${exit} \\|`), `docs/errors.md gives ${code} another exit status than ${exit}`);
    }
  });

  it('documents no code that is not registered', () => {
    for (const match of docs.matchAll(/^\| `([A-Z_]+)` \|/gm)) assert.ok(match[1]! in errorCodes, `docs/errors.md documents unknown code ${match[1]}`);
  });

  it('uses only registered codes in the sources', () => {
    for (const file of sourceFiles('src')) {
      for (const match of readFileSync(file, 'utf8').matchAll(/new BovedaError\(\s*'([A-Z_]+)'/g)) {
        assert.ok(match[1]! in errorCodes, `${file} uses unregistered code ${match[1]}`);
      }
    }
  });

  it('keeps the code, cause and details on the error', () => {
    const cause = new Error('disk on fire');
    const error = new BovedaError('STORAGE_IO', 'cannot write packs/ab/cd', { cause, details: { key: 'packs/ab/cd' } });
    assert.equal(error.code, 'STORAGE_IO');
    assert.equal(error.cause, cause);
    assert.equal(error.exitCode, 1);
    assert.deepEqual(error.details, { key: 'packs/ab/cd' });
  });
});
