/** How long a process waits for its last words to be written before it exits all the same. */
const LAST_WORDS_BOUND_MS = 2000;

/**
 * Writes `text` to stderr and exits with `code` once it is written, or after LAST_WORDS_BOUND_MS
 * when nobody reads it. Into a pipe that is full, stderr is asynchronous: a `process.exit` right
 * after the write dropped what was still queued, and the reader (a log collector, a parent process)
 * got the exit code without the reason.
 */
export function exitAfterWriting(text: string, code: number): void {
  process.exitCode = code;
  const exit = () => process.exit(code);
  setTimeout(exit, LAST_WORDS_BOUND_MS);
  process.stderr.write(text, exit);
}
