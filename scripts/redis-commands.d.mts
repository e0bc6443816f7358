/** The Redis commands ioredis knows that the code (.js, .ts) under `dirs` calls as methods, sorted. */
export function calledRedisCommands(dirs: readonly string[]): string[];
