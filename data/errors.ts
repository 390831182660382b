/**
 * Errors a user can cause through their files (bad dataset, corrupt avatar, missing image). main.ts prints only
 * the message of a `DataError`, which always names the file and the problem, and says what to do when that is
 * not obvious.
 */
export class DataError extends Error {
  readonly file: string;

  constructor(file: string, problem: string, fix?: string) {
    super(`${file}: ${problem}${fix ? `. ${fix}` : ""}`);
    this.name = "DataError";
    this.file = file;
  }
}
