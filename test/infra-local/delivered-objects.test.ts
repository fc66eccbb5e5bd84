import { describe, expect, it } from 'vitest';
import { DeliveredObjects } from '../../local-cloud/s3-notifications.ts';

const object = (key: string, eTag = 'e1') => ({ key, size: 1, eTag });

describe('DeliveredObjects: which listed objects become ObjectCreated events', () => {
  it('delivers each key and ETag once, and a new ETag under the same key again', () => {
    // Prepare
    const delivered = new DeliveredObjects();

    // Act
    const first = delivered.takeFresh([object('a'), object('b')], 1);
    const again = delivered.takeFresh([object('a'), object('b')], 2);
    const changed = delivered.takeFresh([object('a', 'e2'), object('b')], 3);

    // Assess
    expect(first.map((o) => o.key)).toEqual(['a', 'b']);
    expect(again).toEqual([]);
    expect(changed).toEqual([object('a', 'e2')]);
  });

  it('forgets a key a later listing no longer shows, so the same bytes put again are delivered', () => {
    // Prepare: "a" delivered at t=10, then deleted by someone; "b" still there.
    const delivered = new DeliveredObjects();
    delivered.takeFresh([object('a'), object('b')], 10);

    // Act
    delivered.forgetMissing([object('b')], 20);
    const reput = delivered.takeFresh([object('a'), object('b')], 30);

    // Assess
    expect(reput).toEqual([object('a')]);
    expect(delivered.size).toBe(2);
  });

  it('keeps a key delivered after the listing began, which that listing could not show yet', () => {
    // Prepare: an upload delivered at t=25 while a listing that began at t=20 was running.
    const delivered = new DeliveredObjects();
    delivered.takeFresh([object('new')], 25);

    // Act
    delivered.forgetMissing([], 20);

    // Assess: not forgotten, so the next listing does not deliver it twice.
    expect(delivered.takeFresh([object('new')], 30)).toEqual([]);
  });

  it('forgets only the ETag whose delivery failed, not a newer one', () => {
    // Prepare
    const delivered = new DeliveredObjects();
    delivered.takeFresh([object('a', 'e1')], 1);
    delivered.takeFresh([object('a', 'e2')], 2);

    // Act: the older delivery reports its failure late.
    delivered.forget('a', 'e1');

    // Assess
    expect(delivered.takeFresh([object('a', 'e2')], 3)).toEqual([]);
  });
});
