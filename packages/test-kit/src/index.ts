export * from './s3-server';
export * from './wait-for';
export * from './ssh-keys';
export * from './ssh-host';
export * from './socket-meter';
