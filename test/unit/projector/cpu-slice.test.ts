import { CpuSlice } from '../../../src/projector/cpu-slice';

/** The projector's cooperative yield (issue 12 §2): timers and I/O run between slices. */
describe('CpuSlice', () => {
  it('does not yield within the slice', () => {
    const slice = new CpuSlice(60_000);
    expect(slice.pause()).toBeUndefined();
  });

  it('yields one turn of the event loop once the slice is used up, then starts a new slice', async () => {
    const slice = new CpuSlice(0);
    const order: string[] = [];
    setImmediate(() => order.push('other work'));
    const pause = slice.pause();
    expect(pause).toBeInstanceOf(Promise);
    await pause;
    order.push('after the pause');
    // The work queued before the pause ran before the projector went on.
    expect(order).toEqual(['other work', 'after the pause']);
  });
});
