/** Ajar's version, in a module of its own so that the CLI can say it without loading the server. */
export const VERSION = '0.1.0';
