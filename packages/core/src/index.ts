export * from './errors';
export * from './redact';
export * from './logger';
export * from './time';
export * from './shell';
export * from './shutdown';
export * from './crash-points';
export * from './utf8';
