export * from './fragments';
export * from './parse';
export * from './ssh-identity';
