export * from '@inno-train/embedded-s3';
export * from './wait-for';
export * from './ssh-keys';
export * from './ssh-host';
export * from './chaos';
export * from './socket-meter';
export * from './free-port';
export * from './redis-namespace';
