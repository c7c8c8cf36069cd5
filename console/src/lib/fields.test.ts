import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changedFields, fieldOfError, integerOf, localDateTimeToIso, placeError, readIntegers, userIdList } from './fields.js';

const validation = (details?: string) => ({ code: 'VALIDATION_ERROR', message: '요청 형식이 올바르지 않습니다.', ...(details === undefined ? {} : { details }) });

describe('form text to request values', () => {
  it('reads integers, and says so next to a field that is not one', () => {
    assert.equal(integerOf('1000'), 1000);
    assert.equal(integerOf(' 1,000 '), 1000);
    assert.equal(integerOf('-5'), -5);
    assert.equal(integerOf('12.5'), undefined);
    assert.equal(integerOf('abc'), undefined);
    assert.equal(integerOf(''), undefined);
    assert.equal(integerOf('9'.repeat(16)), undefined);
    const read = readIntegers({ price: '1,500', stock: 'many', minOrderAmount: ' ' }, ['minOrderAmount']);
    assert.deepEqual(read.values, { price: 1500 });
    assert.deepEqual(Object.keys(read.errors), ['stock']);
    assert.equal(read.errors.stock?.message, '정수를 입력해 주세요.');
    assert.deepEqual(Object.keys(readIntegers({ stock: '' }).errors), ['stock']);
  });

  it('splits user ids by line or comma', () => {
    assert.deepEqual(userIdList('alice, bob\ncarol\n\n'), ['alice', 'bob', 'carol']);
    assert.equal(userIdList(' \n '), undefined);
  });

  it('sends only the fields that changed', () => {
    assert.deepEqual(changedFields({ name: 'a', price: 1, stock: 2 }, { name: 'a', price: 3, stock: 2 }), { price: 3 });
    assert.deepEqual(changedFields({ name: 'a', price: 1, stock: 2 }, { name: 'a', price: 1, stock: 2 }), {});
  });

  it('turns local wall time into an instant and leaves nonsense to the service', () => {
    const iso = localDateTimeToIso('2026-12-01T10:30');
    assert.ok(iso?.endsWith('Z'));
    assert.equal(new Date(iso).getTime(), new Date(2026, 11, 1, 10, 30).getTime());
    assert.equal(localDateTimeToIso(''), undefined);
    assert.equal(localDateTimeToIso('not a date'), 'not a date');
  });
});

describe('validation answers next to their field', () => {
  const fields = ['name', 'price', 'stock'];

  it('finds the field in the service\'s details', () => {
    assert.equal(fieldOfError(validation('body/price must be >= 0'), fields), 'price');
    assert.equal(fieldOfError(validation("body must have required property 'name'"), fields), 'name');
    assert.equal(fieldOfError(validation('body/stock must be integer'), fields), 'stock');
  });

  it('keeps at the form what names no field of it', () => {
    assert.equal(fieldOfError(validation('body/other must be string'), fields), undefined);
    assert.equal(fieldOfError(validation('body must NOT have additional properties'), fields), undefined);
    assert.equal(fieldOfError(validation(), fields), undefined);
    assert.equal(fieldOfError({ code: 'PRODUCT_NOT_FOUND', message: '상품을 찾을 수 없습니다.', details: 'body/price' }, fields), undefined);
    const placed = placeError({ code: 'FORBIDDEN', message: '권한이 없습니다.' }, fields);
    assert.equal(placed.form?.message, '권한이 없습니다.');
    assert.deepEqual(placed.fields, {});
    assert.deepEqual(Object.keys(placeError(validation('body/price must be >= 0'), fields).fields), ['price']);
  });
});
