// The pure SLA core: no I/O, no clock, no zod. See each module for the invariants.
export * from './time';
export * from './events';
export * from './calendar';
export * from './policy';
export * from './incident';
export * from './evaluate';
export * from './timers';
export * from './milestone-state';
export * from './inspections';
export * from './costs';
